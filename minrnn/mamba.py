"""Mamba (Gu and Dao 2023): the S6 selective-scan block.

Per channel c and state index n: delta_t = softplus(Linear(x_t)), B_t, C_t = Linear(x_t),
A = -exp(A_log), h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t, y_t = C_t . h_t + D x_t.
The block: in-projection to two branches of width expand * d_model; a causal depthwise conv
and SiLU on one, then the scan; SiLU of the other gates the result; out-projection.
The step state is the last d_conv - 1 conv inputs, (batch, d_conv - 1, d_inner), and h,
(batch, d_state, d_inner), channels innermost. The scan is `selective_scan`: a fused kernel on
the CPU, plain PyTorch elsewhere. The causal conv runs as shifted
multiply-adds with nn.Conv1d's weights.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from minrnn.selective_scan import selective_scan


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

        d_conv shifted multiply-adds with nn.Conv1d's weights: the same numbers, faster on the CPU
        than its kernel both for the few tokens of an acting step and for training (its backward).
        Without gradients the weight is copied to rows first (a fifth faster at 60 tokens), at every
        call: a copy kept between calls went stale under the fused AdamW, whose steps leave the
        parameters' version counters alone."""
        weight = self.conv.weight[:, 0].t()
        if not torch.is_grad_enabled():
            weight = weight.contiguous()
        y = self.conv.bias
        for k in range(self.d_conv):
            y = torch.addcmul(y, u_padded[:, k:k + length], weight[k])
        return y

    def forward(self, x, state=None):
        batch, length, _ = x.shape
        u, z = self.in_proj(x).chunk(2, dim=-1)
        if state is None:
            state = self.init_state(batch, device=x.device, dtype=x.dtype)
        conv_state, h0 = state
        u_padded = torch.cat([conv_state, u], dim=1)
        u = F.silu(self._causal_conv(u_padded, length))
        dt, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        y, h_last = selective_scan(delta, u, -torch.exp(self.A_log), B, C, h0)
        y = torch.addcmul(y, self.D, u)
        return self.out_proj(y * F.silu(z)), (u_padded[:, length:], h_last)

    def init_state(self, batch_size, device=None, dtype=None):
        return (torch.zeros(batch_size, self.d_conv - 1, self.d_inner, device=device, dtype=dtype),
                torch.zeros(batch_size, self.d_state, self.d_inner, device=device, dtype=dtype))

    def step(self, x, state):
        y, state = self(x.unsqueeze(1), state)
        return y[:, 0], state
