import pytest
import torch

from minrnn import BACKBONES, build_backbone

CONFIGS = {
    "mingru": ("mingru", {}),
    "minlstm": ("minlstm", {"expand": 2.0}),
    "mamba": ("mamba", {"d_state": 4}),
    "attention": ("attention", {"n_heads": 2}),
    "attention-window": ("attention", {"n_heads": 2, "window": 9}),
    "gru": ("gru", {}),
    "lstm": ("lstm", {}),
}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make(config, d_model=16, n_layers=2, dtype=torch.float64, device="cpu", seed=0):
    torch.manual_seed(seed)
    name, options = CONFIGS[config]
    return build_backbone(name, d_model=d_model, n_layers=n_layers, **options).to(device, dtype).eval()


def run_steps(model, x, state=None):
    state = model.init_state(x.shape[0]) if state is None else state
    outputs = []
    for t in range(x.shape[1]):
        y_t, state = model.step(x[:, t], state)
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state


def relative_error(actual, expected):
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def test_every_backbone_is_covered():
    assert {name for name, _ in CONFIGS.values()} == set(BACKBONES)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("length", [1, 7, 64, 1000])
@pytest.mark.parametrize("config", CONFIGS)
def test_step_loop_equals_parallel_forward(config, length, device):
    model = make(config, device=device)
    x = torch.randn(2, length, 16, dtype=torch.float64, device=device)
    y_parallel, state_parallel = model(x)
    y_steps, state_steps = run_steps(model, x)
    assert relative_error(y_steps, y_parallel) < 1e-8
    for layer_parallel, layer_steps in zip(state_parallel, state_steps):
        for a, b in zip(layer_parallel, layer_steps):
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_without_autograd_equals_forward_with_it(config):
    """The scans skip their autograd Functions when no gradient is recorded (acting): same numbers."""
    model = make(config)
    x = torch.randn(2, 100, 16, dtype=torch.float64, requires_grad=True)
    y_grad, state_grad = model(x)
    with torch.inference_mode():
        y_inference, state_inference = model(x.detach())
    torch.testing.assert_close(y_inference, y_grad.detach(), rtol=1e-12, atol=1e-12)
    for layer_grad, layer_inference in zip(state_grad, state_inference):
        for a, b in zip(layer_grad, layer_inference):
            torch.testing.assert_close(b, a.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS)
def test_acting_follows_every_change_to_the_parameters(config):
    """Acting (no gradients) after the optimizer steps training takes, the fused AdamW's among them (its
    steps leave version counters alone: a cache keyed on them went stale, and Mamba's evaluations during
    training used its first evaluation's conv weight), load_state_dict, a dtype change and writes
    through .data: the same numbers as the training path each time."""
    model, other = make(config), make(config, seed=1)
    x = torch.randn(2, 5, 16, dtype=torch.float64)

    def assert_no_grad_path_matches_training_path():
        x_in_model_dtype = x.to(next(model.parameters()).dtype)
        with torch.inference_mode():
            y_acting = model(x_in_model_dtype)[0]
        y_training = model(x_in_model_dtype)[0].detach()
        torch.testing.assert_close(y_acting, y_training, rtol=1e-6, atol=1e-6)

    assert_no_grad_path_matches_training_path()  # fills any cache
    for optimizer in (torch.optim.AdamW(model.parameters(), lr=0.1, fused=True),  # as suite.training's
                      torch.optim.SGD(model.parameters(), lr=0.5)):
        model(x)[0].square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        assert_no_grad_path_matches_training_path()
    model.load_state_dict(other.state_dict())
    assert_no_grad_path_matches_training_path()
    for parameter in model.parameters():
        parameter.data.mul_(0.5)
    assert_no_grad_path_matches_training_path()
    model.float()
    assert_no_grad_path_matches_training_path()


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("split", [1, 5, 37])
def test_split_run_equals_whole_run(config, split):
    model = make(config)
    x = torch.randn(2, 50, 16, dtype=torch.float64)
    y_whole, _ = model(x)
    y_first, state = model(x[:, :split])
    y_rest, _ = model(x[:, split:], state)
    assert relative_error(torch.cat([y_first, y_rest], dim=1), y_whole) < 1e-8
    # chunks mixed with steps: a step from the parallel state continues the same sequence
    y_step, _ = model.step(x[:, split], state)
    assert relative_error(y_step, y_whole[:, split]) < 1e-8


@pytest.mark.parametrize("config", CONFIGS)
def test_outputs_are_causal(config):
    model = make(config)
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 25:] += torch.randn_like(changed[:, 25:])
    y, _ = model(x)
    y_changed, _ = model(changed)
    torch.testing.assert_close(y_changed[:, :25], y[:, :25], rtol=0, atol=0)
    assert (y_changed[:, 25] - y[:, 25]).abs().max() > 1e-3


@pytest.mark.parametrize("config", CONFIGS)
def test_reset_row_equals_fresh_state(config):
    model = make(config)
    x = torch.randn(3, 30, 16, dtype=torch.float64)
    _, state = run_steps(model, x[:, :12])
    state = model.reset_state(state, torch.tensor([False, True, False]))
    y_after_reset, _ = run_steps(model, x[:, 12:], state)
    y_fresh_row, _ = run_steps(model, x[1:2, 12:])
    assert relative_error(y_after_reset[1:2], y_fresh_row) < 1e-8
    y_whole, _ = model(x)  # the rows not reset go on as if nothing happened
    assert relative_error(y_after_reset[[0, 2]], y_whole[[0, 2], 12:]) < 1e-8
    assert (y_after_reset[1] - y_whole[1, 12:]).abs().max() > 1e-3


@pytest.mark.parametrize("config", CONFIGS)
def test_float32_long_sequence_outputs_and_gradients_finite(config):
    model = make(config, n_layers=1, dtype=torch.float32).train()
    x = torch.randn(1, 16384, 16, requires_grad=True)
    y, _ = model(x)
    y.square().mean().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    if config in ("mingru", "minlstm", "mamba"):  # and float32 agrees with float64
        y64, _ = model.double()(x.detach().double())
        assert relative_error(y.detach().double(), y64) < 1e-4


@pytest.mark.parametrize("config", CONFIGS)
def test_dropout_only_in_training(config):
    name, options = CONFIGS[config]
    torch.manual_seed(0)
    model = build_backbone(name, d_model=16, n_layers=2, dropout=0.5, **options).double()
    x = torch.randn(2, 10, 16, dtype=torch.float64)
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    y, _ = model(x)
    assert torch.equal(y, model(x)[0])
    assert relative_error(run_steps(model, x)[0], y) < 1e-8


def test_attention_window_limits_what_a_position_sees():
    model = make("attention-window")  # window 9: position t sees t-8..t
    x = torch.randn(1, 30, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 10] += torch.randn(16, dtype=torch.float64)
    y, _ = model(x)
    y_changed, _ = model(changed)
    assert ((y_changed[:, 10:27] - y[:, 10:27])).abs().amax(-1).min() > 1e-6
    # two layers of window 9 reach 16 positions on; from then on the change is forgotten
    torch.testing.assert_close(y_changed[:, 27:], y[:, 27:], rtol=0, atol=0)


def test_attention_window_cache_stays_bounded():
    model = make("attention-window")
    _, state = run_steps(model, torch.randn(2, 40, 16, dtype=torch.float64))
    assert all(layer[0].shape[2] == 8 for layer in state)


def test_bad_backbone_and_option_names():
    with pytest.raises(ValueError, match="unknown backbone 'transformer'.*mingru.*attention"):
        build_backbone("transformer", d_model=8, n_layers=1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['window'\].*'mingru'.*expand"):
        build_backbone("mingru", d_model=8, n_layers=1, window=4)
