// Mamba's selective scan on the CPU, fused: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,
// y_t = C_t . h_t, one time loop per batch row over a (d_state, d_inner) state held in cache.
// The (batch, length, d_state, d_inner) tensors of the unfused form are never made. The forward
// keeps h at every chunk boundary; the backward recomputes one chunk's states from there and runs
// the loop in reverse. Layouts: delta, u, y (batch, length, d_inner); B, C (batch, length, d_state);
// At = A transposed (d_state, d_inner); h (batch, d_state, d_inner), channels innermost so the
// inner loops run over contiguous d_inner and vectorise.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <vector>

template <typename T>
static void forward_row(const T* __restrict__ delta, const T* __restrict__ u, const T* __restrict__ At,
                        const T* __restrict__ B, const T* __restrict__ C, T* __restrict__ h,
                        T* __restrict__ y, T* __restrict__ checkpoints, int64_t L, int64_t N, int64_t D, int64_t chunk) {
  for (int64_t t = 0; t < L; ++t) {
    if (checkpoints != nullptr && t % chunk == 0)
      std::copy(h, h + N * D, checkpoints + (t / chunk) * N * D);
    const T* dt = delta + t * D;
    const T* ut = u + t * D;
    T* yt = y + t * D;
    for (int64_t d = 0; d < D; ++d) yt[d] = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T bn = B[t * N + n], cn = C[t * N + n];
      const T* an = At + n * D;
      T* hn = h + n * D;
      for (int64_t d = 0; d < D; ++d) {
        hn[d] = std::exp(dt[d] * an[d]) * hn[d] + bn * dt[d] * ut[d];
        yt[d] += cn * hn[d];
      }
    }
  }
}

// y, last state and the chunk-boundary states; checkpoints only when `chunk` > 0
std::vector<torch::Tensor> scan_forward(torch::Tensor delta, torch::Tensor u, torch::Tensor At,
                                        torch::Tensor B, torch::Tensor C, torch::Tensor h0,
                                        int64_t chunk) {
  const int64_t batch = delta.size(0), L = delta.size(1), D = delta.size(2), N = At.size(0);
  auto y = torch::empty_like(delta);
  auto h = h0.clone();
  const int64_t n_chunks = chunk > 0 ? (L + chunk - 1) / chunk : 0;
  auto checkpoints = torch::empty({batch, n_chunks, N, D}, delta.options());
  AT_DISPATCH_FLOATING_TYPES(delta.scalar_type(), "selective_scan_forward", [&] {
    const auto *pd = delta.data_ptr<scalar_t>(), *pu = u.data_ptr<scalar_t>(), *pa = At.data_ptr<scalar_t>();
    const auto *pb = B.data_ptr<scalar_t>(), *pc = C.data_ptr<scalar_t>();
    auto *ph = h.data_ptr<scalar_t>(), *py = y.data_ptr<scalar_t>(), *pk = checkpoints.data_ptr<scalar_t>();
    at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b)
        forward_row(pd + b * L * D, pu + b * L * D, pa, pb + b * L * N, pc + b * L * N, ph + b * N * D,
                    py + b * L * D, chunk > 0 ? pk + b * n_chunks * N * D : nullptr, L, N, D, chunk);
    });
  });
  return {y, h, checkpoints};
}

template <typename T>
static void backward_row(const T* __restrict__ delta, const T* __restrict__ u, const T* __restrict__ At,
                         const T* __restrict__ B, const T* __restrict__ C, const T* __restrict__ checkpoints,
                         const T* __restrict__ grad_y, T* __restrict__ grad_delta, T* __restrict__ grad_u,
                         T* __restrict__ grad_At, T* __restrict__ grad_B, T* __restrict__ grad_C,
                         T* __restrict__ g, T* __restrict__ states, T* __restrict__ decays,
                         T* __restrict__ sums, int64_t L, int64_t N, int64_t D, int64_t chunk) {
  // g is dL/dh after the current step; states[i] is h after step start + i - 1 (states[0] the
  // checkpoint), decays[i] = exp(delta A) of step start + i
  const int64_t n_chunks = (L + chunk - 1) / chunk;
  T *sum_a = sums, *sum_b = sums + D, *du = sums + 2 * D;
  for (int64_t k = n_chunks - 1; k >= 0; --k) {
    const int64_t start = k * chunk, stop = std::min(L, start + chunk);
    std::copy(checkpoints + k * N * D, checkpoints + (k + 1) * N * D, states);
    for (int64_t t = start; t < stop; ++t) {  // recompute the chunk's states
      const T* __restrict__ prev = states + (t - start) * N * D;
      T* __restrict__ next = states + (t - start + 1) * N * D;
      T* __restrict__ a = decays + (t - start) * N * D;
      const T *dt = delta + t * D, *ut = u + t * D;
      for (int64_t n = 0; n < N; ++n) {
        const T bn = B[t * N + n];
        const T* an = At + n * D;
        for (int64_t d = 0; d < D; ++d) {
          a[n * D + d] = std::exp(dt[d] * an[d]);
          next[n * D + d] = a[n * D + d] * prev[n * D + d] + bn * dt[d] * ut[d];
        }
      }
    }
    for (int64_t t = stop - 1; t >= start; --t) {  // and run them backwards
      const T *prev = states + (t - start) * N * D, *cur = prev + N * D, *a = decays + (t - start) * N * D;
      const T *dt = delta + t * D, *ut = u + t * D, *gyt = grad_y + t * D;
      for (int64_t d = 0; d < D; ++d) {
        sum_a[d] = 0;
        sum_b[d] = 0;
        du[d] = dt[d] * ut[d];
      }
      for (int64_t n = 0; n < N; ++n) {
        const T bn = B[t * N + n], cn = C[t * N + n];
        const T *an = At + n * D, *hp = prev + n * D, *hc = cur + n * D, *an_t = a + n * D;
        T *gn = g + n * D, *gAn = grad_At + n * D;
        T grad_c = 0, grad_b = 0;
        for (int64_t d = 0; d < D; ++d) {
          grad_c += hc[d] * gyt[d];
          const T gh = gn[d] + cn * gyt[d];  // dL/dh_t
          const T dz = gh * hp[d] * an_t[d];  // dL/d(delta A)
          sum_a[d] += dz * an[d];
          gAn[d] += dz * dt[d];
          sum_b[d] += gh * bn;  // dL/d(delta u)
          grad_b += gh * du[d];
          gn[d] = gh * an_t[d];  // dL/dh_{t-1} through the recurrence
        }
        grad_C[t * N + n] = grad_c;
        grad_B[t * N + n] = grad_b;
      }
      for (int64_t d = 0; d < D; ++d) {
        grad_delta[t * D + d] = sum_a[d] + sum_b[d] * ut[d];
        grad_u[t * D + d] = sum_b[d] * dt[d];
      }
    }
  }
}

// gradients of delta, u, At, B, C, h0 from those of y and of the last state
std::vector<torch::Tensor> scan_backward(torch::Tensor delta, torch::Tensor u, torch::Tensor At,
                                         torch::Tensor B, torch::Tensor C, torch::Tensor checkpoints,
                                         torch::Tensor grad_y, torch::Tensor grad_h, int64_t chunk) {
  const int64_t batch = delta.size(0), L = delta.size(1), D = delta.size(2), N = At.size(0);
  const int64_t n_chunks = checkpoints.size(1);
  auto grad_delta = torch::empty_like(delta), grad_u = torch::empty_like(u);
  auto grad_B = torch::empty_like(B), grad_C = torch::empty_like(C);
  auto grad_At_rows = torch::zeros({batch, N, D}, delta.options());  // summed over rows at the end
  auto g = grad_h.clone();  // becomes the gradient of h0
  AT_DISPATCH_FLOATING_TYPES(delta.scalar_type(), "selective_scan_backward", [&] {
    const auto *pd = delta.data_ptr<scalar_t>(), *pu = u.data_ptr<scalar_t>(), *pa = At.data_ptr<scalar_t>();
    const auto *pb = B.data_ptr<scalar_t>(), *pc = C.data_ptr<scalar_t>(), *pk = checkpoints.data_ptr<scalar_t>();
    const auto *pgy = grad_y.data_ptr<scalar_t>();
    auto *pgd = grad_delta.data_ptr<scalar_t>(), *pgu = grad_u.data_ptr<scalar_t>();
    auto *pgb = grad_B.data_ptr<scalar_t>(), *pgc = grad_C.data_ptr<scalar_t>();
    auto *pga = grad_At_rows.data_ptr<scalar_t>(), *pg = g.data_ptr<scalar_t>();
    at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> states((chunk + 1) * N * D), decays(chunk * N * D), sums(3 * D);
      for (int64_t b = begin; b < end; ++b)
        backward_row(pd + b * L * D, pu + b * L * D, pa, pb + b * L * N, pc + b * L * N,
                     pk + b * n_chunks * N * D, pgy + b * L * D, pgd + b * L * D, pgu + b * L * D,
                     pga + b * N * D, pgb + b * L * N, pgc + b * L * N, pg + b * N * D, states.data(), decays.data(), sums.data(),
                     L, N, D, chunk);
    });
  });
  return {grad_delta, grad_u, grad_At_rows.sum(0), grad_B, grad_C, g};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &scan_forward, "selective scan forward (CPU)");
  m.def("backward", &scan_backward, "selective scan backward (CPU)");
}
