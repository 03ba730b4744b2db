"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?").

z_t = sigmoid(Linear_z x_t), h~_t = g(Linear_h x_t), h_t = (1 - z_t) h_{t-1} + z_t h~_t.
The paper's log-space gates log(1 - z) = -softplus(k) and log z = -softplus(-k) are
exp'd back to sigmoid(-k) and sigmoid(k): the same numbers, computed without a log.
"""
import torch
from torch import nn

from minrnn.recurrence import MinimalRNN, g


class MinGRU(MinimalRNN):
    def __init__(self, d_model: int, expand: float = 1.0):
        super().__init__(d_model, int(d_model * expand))
        self.to_gate_and_hidden = nn.Linear(d_model, 2 * self.d_hidden)

    def coefficients(self, x):
        k, pre_h = self.to_gate_and_hidden(x).chunk(2, dim=-1)
        return torch.sigmoid(-k), torch.sigmoid(k) * g(pre_h)
