"""The backbone: a stack of pre-norm residual blocks around a swappable sequence mixer.

Every mixer has the same three methods, after state-spaces/mamba's interface:
  forward(x, state=None) -> (y, state)  the whole (batch, length, d_model) sequence at once
  init_state(batch_size, device, dtype)  a fresh state, every tensor batch-first
  step(x_t, state) -> (y_t, state)       one (batch, d_model) timestep
  initialise(n_layers)                   the reference initialisation of the code it follows
Options are each mixer's own constructor keywords (attention's n_heads and window, Mamba's d_state, ...):
`mixer_options` lists them, and the mixer checks their values when built.
"""
import inspect

import torch
from torch import nn

from minrnn.attention import CausalSelfAttention
from minrnn.mamba import Mamba
from minrnn.mingru import MinGRU
from minrnn.minlstm import MinLSTM
from minrnn.rnn import GRU, LSTM

BACKBONES = {
    "mingru": MinGRU,
    "minlstm": MinLSTM,
    "mamba": Mamba,
    "attention": CausalSelfAttention,
    "gru": GRU,
    "lstm": LSTM,
}


class Block(nn.Module):
    """x + mixer(norm(x)), then x + mlp(norm(x)): only the mixer differs between backbones."""

    def __init__(self, mixer: nn.Module, d_model: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.mixer = mixer
        self.mixer_norm, self.mlp_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, state, step: bool = False):
        y, state = (self.mixer.step if step else self.mixer)(self.mixer_norm(x), state)
        x = x + self.dropout(y)
        return x + self.dropout(self.mlp(self.mlp_norm(x))), state


class Backbone(nn.Module):
    def __init__(self, name: str, d_model: int, n_layers: int, mlp_ratio: int = 4,
                 dropout: float = 0.0, **mixer_options):
        super().__init__()
        self.name = name
        self.blocks = nn.ModuleList(
            Block(BACKBONES[name](d_model, **mixer_options), d_model, mlp_ratio, dropout)
            for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x, state=None):
        """x: (batch, length, d_model). Continues from `state` when given (None: a fresh start)."""
        new_state = []
        for i, block in enumerate(self.blocks):
            x, layer_state = block(x, None if state is None else state[i])
            new_state.append(layer_state)
        return self.norm(x), new_state

    def init_state(self, batch_size: int, device=None, dtype=None):
        param = next(self.parameters())
        device, dtype = device or param.device, dtype or param.dtype
        return [block.mixer.init_state(batch_size, device=device, dtype=dtype) for block in self.blocks]

    def step(self, x_t, state):
        """x_t: (batch, d_model), one timestep; returns (y_t, state after it)."""
        new_state = []
        for block, layer_state in zip(self.blocks, state):
            x_t, layer_state = block(x_t, layer_state, step=True)
            new_state.append(layer_state)
        return self.norm(x_t), new_state

    @staticmethod
    def reset_state(state, done: torch.Tensor):
        """Zero the rows where `done` (batch,) is true: those rows continue as a fresh state."""
        def zero_rows(t):
            return t.masked_fill(done.view(-1, *[1] * (t.dim() - 1)).to(t.device), 0)
        return [tuple(zero_rows(t) for t in layer_state) for layer_state in state]


def mixer_options(name: str) -> set[str]:
    """The options the mixer of backbone `name` takes, e.g. {"n_heads", "window", "attn_dropout"} for attention."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES)}")
    return set(inspect.signature(BACKBONES[name]).parameters) - {"d_model"}


def build_backbone(name: str, d_model: int, n_layers: int, **options) -> Backbone:
    """A backbone by name, with block options (mlp_ratio, dropout) and the mixer's own options, whose
    values the mixer checks (a ValueError naming the option)."""
    allowed = {"mlp_ratio", "dropout"} | mixer_options(name)
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for backbone {name!r}; "
                         f"allowed: {sorted(allowed)}")
    return Backbone(name, d_model, n_layers, **options)
