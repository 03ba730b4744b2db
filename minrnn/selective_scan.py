"""Mamba's selective scan: y_t = C_t . h_t, h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t.

Two implementations of one function:
- `reference_selective_scan`, plain PyTorch over the diagonal recurrence of `linear_scan`: it
  makes (batch, length, d_state, d_inner) tensors for exp(delta A), delta B u and h, and passes
  over them many times. It runs on any device and is the tests' reference.
- a fused CPU kernel (selective_scan.cpp, compiled by torch.utils.cpp_extension on first use and
  cached in ~/.cache/torch_extensions): one time loop per batch row over a state that stays in
  cache, a hand-written backward that runs the loop in reverse, h kept only at every `chunk`-th
  step and recomputed inside a chunk. Memory O(L D + (L / chunk) D N) instead of O(L D N).

`selective_scan` takes the kernel on the CPU and the reference elsewhere, or where the kernel
does not build (no C++ compiler or ninja: a warning says so once).
"""
import warnings
from functools import cache
from pathlib import Path

import torch

from minrnn.scan import linear_scan

CHECKPOINT_EVERY = 16  # steps between the states the fused forward keeps for its backward


def reference_selective_scan(delta, u, A, B, C, h0):
    """(y, h_last). delta, u: (batch, L, d_inner); A: (d_inner, d_state); B, C: (batch, L, d_state);
    h0: (batch, d_state, d_inner)."""
    a = torch.exp(delta.unsqueeze(-2) * A.t())
    h = linear_scan(a, (delta * u).unsqueeze(-2) * B.unsqueeze(-1), h0)
    return torch.matmul(C.unsqueeze(-2), h).squeeze(-2), h[:, -1]


@cache
def fused_kernel():
    """The compiled CPU kernel, or None where it cannot be built here."""
    try:
        from torch.utils import cpp_extension

        return cpp_extension.load(name="minrnn_selective_scan",
                                  sources=[str(Path(__file__).with_name("selective_scan.cpp"))],
                                  extra_cflags=["-O3", "-ffast-math", "-march=native"])
    except Exception as error:  # no compiler, no ninja, a failed build
        warnings.warn(f"the fused selective-scan kernel did not build ({type(error).__name__}: "
                      f"{str(error).strip().splitlines()[-1] if str(error).strip() else ''}); "
                      f"Mamba uses the slower reference scan", stacklevel=2)
        return None


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, delta, u, At, B, C, h0):
        y, h_last, checkpoints = fused_kernel().forward(delta, u, At, B, C, h0, CHECKPOINT_EVERY)
        ctx.save_for_backward(delta, u, At, B, C, checkpoints)
        return y, h_last

    @staticmethod
    def backward(ctx, grad_y, grad_h):
        delta, u, At, B, C, checkpoints = ctx.saved_tensors
        grad_y = torch.zeros_like(delta) if grad_y is None else grad_y.contiguous()
        grad_h = torch.zeros_like(checkpoints[:, 0]) if grad_h is None else grad_h.contiguous()
        return tuple(fused_kernel().backward(delta, u, At, B, C, checkpoints, grad_y, grad_h, CHECKPOINT_EVERY))


def selective_scan(delta, u, A, B, C, h0):
    """(y, h_last), as `reference_selective_scan`; the fused kernel on the CPU."""
    if delta.device.type != "cpu" or fused_kernel() is None:
        return reference_selective_scan(delta, u, A, B, C, h0)
    inputs = [x.contiguous() for x in (delta, u, A.t(), B, C, h0)]
    if torch.is_grad_enabled() and any(x.requires_grad for x in inputs):
        return _FusedScan.apply(*inputs)
    y, h_last, _ = fused_kernel().forward(*inputs, 0)
    return y, h_last
