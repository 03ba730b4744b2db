"""Mamba (Gu and Dao 2023): the S6 selective-scan block in plain PyTorch.

Per channel c and state index n: delta_t = softplus(Linear(x_t)), B_t, C_t = Linear(x_t),
A = -exp(A_log), h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t, y_t = C_t . h_t + D x_t.
The block: in-projection to two branches of width expand * d_model; a causal depthwise conv
and SiLU on one, then the scan; SiLU of the other gates the result; out-projection.
The step state is the last d_conv - 1 conv inputs, (batch, d_conv - 1, d_inner), and h,
(batch, d_inner, d_state).
Without gradients (acting, evaluation), the conv and exp(delta A) take faster forms with the same
values up to rounding; training keeps nn.Conv1d and exp, with which the sweep's Mamba runs trained.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from minrnn.scan import linear_scan


class Mamba(nn.Module):
    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_min: float = 1e-3, dt_max: float = 0.1):
        super().__init__()
        self.d_inner, self.d_state, self.d_conv = expand * d_model, d_state, d_conv
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        # initial step sizes log-uniform in [dt_min, dt_max], as in the reference implementation
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1.0)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _causal_conv(self, u_padded, length):
        """The depthwise conv over time-major inputs (batch, d_conv - 1 + length, d_inner).

        Training runs nn.Conv1d. Without gradients it is d_conv shifted multiply-adds with the
        same weights and the same numbers, about twice as fast on the few tokens of an acting step."""
        if torch.is_grad_enabled():
            return self.conv(u_padded.transpose(1, 2).contiguous()).transpose(1, 2)
        weight, y = self.conv.weight[:, 0].t().contiguous(), self.conv.bias
        for k in range(self.d_conv):
            y = torch.addcmul(y, u_padded[:, k:k + length], weight[k])
        return y

    def _scan_inputs(self, u):
        """(a, b, C) of the recurrence h = a * h + b for conv outputs u (..., d_inner)."""
        dt, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        if torch.is_grad_enabled():
            a = torch.exp(delta.unsqueeze(-1) * A)
        else:  # exp(x) = 2^(x log2 e): the same to rounding, and 4x faster in float32 on this CPU
            a = torch.exp2(delta.unsqueeze(-1) * (A * math.log2(math.e)))
        b = (delta * u).unsqueeze(-1) * B.unsqueeze(-2)
        return a, b, C

    def _output(self, h, C, u, z):
        y = (h * C.unsqueeze(-2)).sum(-1) + self.D * u  # faster than a batched matmul of (d_state, 1) columns
        return self.out_proj(y * F.silu(z))

    def forward(self, x, state=None):
        u, z = self.in_proj(x).chunk(2, dim=-1)
        conv_state, h0 = state if state is not None else (None, None)
        if conv_state is None:
            conv_state = u.new_zeros(u.shape[0], self.d_conv - 1, self.d_inner)
        u_padded = torch.cat([conv_state, u], dim=1)
        u = F.silu(self._causal_conv(u_padded, x.shape[1]))
        a, b, C = self._scan_inputs(u)
        h = linear_scan(a, b, h0)
        return self._output(h, C, u, z), (u_padded[:, u_padded.shape[1] - (self.d_conv - 1):], h[:, -1])

    def init_state(self, batch_size, device=None, dtype=None):
        return (torch.zeros(batch_size, self.d_conv - 1, self.d_inner, device=device, dtype=dtype),
                torch.zeros(batch_size, self.d_inner, self.d_state, device=device, dtype=dtype))

    def step(self, x, state):
        conv_state, h = state
        u, z = self.in_proj(x).chunk(2, dim=-1)
        window = torch.cat([conv_state, u.unsqueeze(1)], dim=1)  # (batch, d_conv, d_inner)
        u = F.silu(self._causal_conv(window, 1)[:, 0])
        a, b, C = self._scan_inputs(u)
        h = a * h + b
        return self._output(h, C, u, z), (window[:, 1:], h)
