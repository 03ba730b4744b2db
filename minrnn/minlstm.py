"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

f_t = sigmoid(Linear_f x_t), i_t = sigmoid(Linear_i x_t), h~_t = g(Linear_h x_t),
normalised f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t), h_t = f'_t h_{t-1} + i'_t h~_t.
In the paper's log space, with d = softplus(-k_f) - softplus(-k_i): log f' = -softplus(d),
log i' = -softplus(-d), that is f' = sigmoid(-d) and i' = sigmoid(d).
"""
import torch
from torch import nn
from torch.nn import functional as F

from minrnn.initialise import gpt2_initialise
from minrnn.recurrence import MinimalRNN, g, g_and_grad, split_linear


class MinLSTM(MinimalRNN):
    def __init__(self, d_model: int, expand: float = 1.0):
        super().__init__(d_model, int(d_model * expand))
        self.to_gates_and_hidden = nn.Linear(d_model, 3 * self.d_hidden)

    def initialise(self, n_layers: int) -> None:
        """GPT-2's N(0, 0.02) for the gates: the paper and lucidrains' minGRU leave PyTorch's defaults, and
        N(0, 0.02) was measured against them (docs/agents.md, "Initialisation")."""
        gpt2_initialise(self)

    def preactivations(self, x):
        return split_linear(self.to_gates_and_hidden, x, 3)

    def coefficients(self, k_f, k_i, pre_h):
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return torch.sigmoid(-d), torch.sigmoid(d) * g(pre_h)

    def coefficient_grads(self, grad_a, grad_b, k_f, k_i, pre_h):
        d = F.softplus(-k_f) - F.softplus(-k_i)
        f, i = torch.sigmoid(-d), torch.sigmoid(d)
        g_h, dg_h = g_and_grad(pre_h)
        grad_d = f * i * (grad_b * g_h - grad_a)  # da/dd = -f i, d(i g)/dd = f i g
        # d softplus(-k)/dk = -sigmoid(-k)
        return -grad_d * torch.sigmoid(-k_f), grad_d * torch.sigmoid(-k_i), grad_b * i * dg_h
