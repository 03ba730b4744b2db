"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

f_t = sigmoid(Linear_f x_t), i_t = sigmoid(Linear_i x_t), h~_t = g(Linear_h x_t),
normalised f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t), h_t = f'_t h_{t-1} + i'_t h~_t.
In the paper's log space, with d = softplus(-k_f) - softplus(-k_i): log f' = -softplus(d),
log i' = -softplus(-d), that is f' = sigmoid(-d) and i' = sigmoid(d).
"""
import torch
from torch import nn
from torch.nn import functional as F

from minrnn.recurrence import MinimalRNN, g


class MinLSTM(MinimalRNN):
    def __init__(self, d_model: int, expand: float = 1.0):
        super().__init__(d_model, int(d_model * expand))
        self.to_gates_and_hidden = nn.Linear(d_model, 3 * self.d_hidden)

    def coefficients(self, x):
        k_f, k_i, pre_h = self.to_gates_and_hidden(x).chunk(3, dim=-1)
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return torch.sigmoid(-d), torch.sigmoid(d) * g(pre_h)
