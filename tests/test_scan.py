import pytest
import torch

from minrnn import build_backbone, linear_scan
from minrnn.selective_scan import CHECKPOINT_EVERY, fused_kernel, reference_selective_scan, selective_scan


def loop_scan(a, b, h0):
    h, states = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


@pytest.mark.parametrize("length", [1, 2, 7, 63, 64, 65, 1000, 4099])
@pytest.mark.parametrize("channels", [(5,), (4, 3)])
def test_scan_equals_plain_loop(length, channels):
    gen = torch.Generator().manual_seed(length)
    a = torch.rand(2, length, *channels, generator=gen, dtype=torch.float64)
    b = torch.randn(2, length, *channels, generator=gen, dtype=torch.float64)
    h0 = torch.randn(2, *channels, generator=gen, dtype=torch.float64)
    expected = loop_scan(a, b, h0)
    torch.testing.assert_close(linear_scan(a, b, h0), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(linear_scan(a, b), loop_scan(a, b, torch.zeros_like(h0)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("length", [1, 9, 70])
def test_scan_gradients(length):
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, length, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, length, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (a, b, h0))


def test_scan_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"same shape.*\(1, 4, 2\).*\(1, 5, 2\)"):
        linear_scan(torch.rand(1, 4, 2), torch.rand(1, 5, 2))


def test_scan_float32_stable_with_fast_decay_at_long_length():
    """Gates that decay fast over 16k steps: float32 stays close to float64 (a log-space
    cumsum form would cancel catastrophically here)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 16384, 8, generator=gen, dtype=torch.float64) * 0.5
    b = torch.rand(2, 16384, 8, generator=gen, dtype=torch.float64)
    expected = linear_scan(a, b)
    torch.testing.assert_close(linear_scan(a.float(), b.float()).double(), expected, rtol=1e-5, atol=1e-6)


def test_mingru_matches_the_papers_log_space_formulation():
    """The paper's minGRU: log h_t = A_t + logcumsumexp(log b_t - A_t) with torch.logcumsumexp."""
    torch.manual_seed(0)
    backbone = build_backbone("mingru", d_model=8, n_layers=1).double()
    mixer = backbone.blocks[0].mixer
    x = torch.randn(2, 300, 8, dtype=torch.float64)
    k, pre_h = mixer.to_gate_and_hidden(x).chunk(2, dim=-1)
    log_coeffs = -torch.nn.functional.softplus(k)  # log(1 - z)
    log_z = -torch.nn.functional.softplus(-k)
    log_tilde_h = torch.where(pre_h >= 0, torch.log(torch.relu(pre_h) + 0.5),
                              -torch.nn.functional.softplus(-pre_h))
    a_star = torch.cumsum(log_coeffs, dim=1)
    h_paper = torch.exp(a_star + torch.logcumsumexp(log_z + log_tilde_h - a_star, dim=1))
    y, _ = mixer(x)
    torch.testing.assert_close(y, h_paper, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_fused_gate_and_scan_gradients_match_finite_differences(name):
    """minGRU and minLSTM run gates and scan as one Function with hand-written gate derivatives."""
    torch.manual_seed(0)
    mixer = build_backbone(name, d_model=6, n_layers=1).double().blocks[0].mixer
    x = (torch.randn(2, 37, 6, dtype=torch.float64) * 2).requires_grad_()
    h0 = torch.rand(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: mixer(x, (h0,))[0], (x, h0))


def selective_scan_inputs(length, batch=2, d_inner=5, d_state=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    f64 = {"generator": gen, "dtype": torch.float64}
    return [torch.nn.functional.softplus(torch.randn(batch, length, d_inner, **f64) - 1).requires_grad_(),
            torch.randn(batch, length, d_inner, **f64).requires_grad_(),
            (-3 * torch.rand(d_inner, d_state, **f64)).requires_grad_(),
            torch.randn(batch, length, d_state, **f64).requires_grad_(),
            torch.randn(batch, length, d_state, **f64).requires_grad_(),
            torch.randn(batch, d_state, d_inner, **f64).requires_grad_()]


def test_fused_selective_scan_builds_here():
    """The CPU kernel must compile where the suite runs, or every Mamba test below would check the
    reference against itself."""
    assert fused_kernel() is not None


@pytest.mark.parametrize("length", [1, CHECKPOINT_EVERY - 1, CHECKPOINT_EVERY, CHECKPOINT_EVERY + 1, 70])
def test_fused_selective_scan_equals_reference(length):
    """Outputs, last state and the gradients of all six inputs, across chunk boundaries, in float64."""
    inputs = selective_scan_inputs(length, seed=length)
    y_ref, h_ref = reference_selective_scan(*inputs)
    y, h = selective_scan(*inputs)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h, h_ref, rtol=1e-10, atol=1e-12)
    weight_y, weight_h = torch.randn_like(y), torch.randn_like(h)
    expected = torch.autograd.grad((y_ref * weight_y).sum() + (h_ref * weight_h).sum(), inputs)
    got = torch.autograd.grad((y * weight_y).sum() + (h * weight_h).sum(), inputs)
    for name, a, b in zip(("delta", "u", "A", "B", "C", "h0"), got, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=lambda m: f"gradient of {name}: {m}")
    with torch.no_grad():  # the no-grad path keeps no checkpoints
        torch.testing.assert_close(selective_scan(*inputs)[0], y_ref, rtol=1e-10, atol=1e-12)


def test_fused_selective_scan_gradcheck():
    inputs = selective_scan_inputs(CHECKPOINT_EVERY + 3, d_inner=3, d_state=2)
    assert torch.autograd.gradcheck(selective_scan, inputs)
