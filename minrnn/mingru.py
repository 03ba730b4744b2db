"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?").

z_t = sigmoid(Linear_z x_t), h~_t = g(Linear_h x_t), h_t = (1 - z_t) h_{t-1} + z_t h~_t.
The paper's log-space gates log(1 - z) = -softplus(k) and log z = -softplus(-k) are
exp'd back to sigmoid(-k) and sigmoid(k): the same numbers, computed without a log.
"""
import torch
from torch import nn

from minrnn.initialise import gpt2_initialise
from minrnn.recurrence import MinimalRNN, g, g_and_grad, split_linear


class MinGRU(MinimalRNN):
    def __init__(self, d_model: int, expand: float = 1.0):
        super().__init__(d_model, int(d_model * expand))
        self.to_gate_and_hidden = nn.Linear(d_model, 2 * self.d_hidden)

    def initialise(self, n_layers: int) -> None:
        """GPT-2's N(0, 0.02) for the gates: the paper and lucidrains' minGRU leave PyTorch's defaults, and
        N(0, 0.02) was measured against them (docs/agents.md, "Initialisation")."""
        gpt2_initialise(self)

    def preactivations(self, x):
        return split_linear(self.to_gate_and_hidden, x, 2)

    def coefficients(self, k, pre_h):
        return torch.sigmoid(-k), torch.sigmoid(k) * g(pre_h)

    def coefficient_grads(self, grad_a, grad_b, k, pre_h):
        a, z = torch.sigmoid(-k), torch.sigmoid(k)
        g_h, dg_h = g_and_grad(pre_h)
        grad_k = a * z * (grad_b * g_h - grad_a)  # da/dk = -a z, d(z g)/dk = a z g
        return grad_k, grad_b * z * dg_h
