"""Causal self-attention as in Decision Transformer, stepped with a KV cache.

With `window` W, position t sees positions t-W+1..t (a banded causal mask) and the cache
keeps the last W-1 keys, so training on windows and stepping with a sliding cache agree
exactly. With window 0 the cache grows with the episode. The cache's `valid` mask marks the
keys that belong to the current episode: zeroing a row of it starts that row afresh.
"""
import torch
from torch import nn
from torch.nn import functional as F

from minrnn.initialise import gpt2_initialise


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int = 1, window: int = 0, attn_dropout: float = 0.0):
        super().__init__()
        if n_heads < 1 or d_model % n_heads:
            raise ValueError(f"n_heads: value {n_heads} does not divide d_model {d_model}; allowed: a divisor of {d_model}")
        if window < 0:
            raise ValueError(f"window: value {window} is invalid; allowed: >= 0 (0: unlimited)")
        self.n_heads, self.window, self.attn_dropout = n_heads, window, attn_dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, state=None):
        batch, length, d_model = x.shape
        q, k, v = (t.view(batch, length, self.n_heads, -1).transpose(1, 2)
                   for t in self.qkv(x).chunk(3, dim=-1))
        dropout = self.attn_dropout if self.training else 0.0
        if state is None and not self.window:  # the fast path: a plain causal mask
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
            valid = torch.ones(batch, length, dtype=torch.bool, device=x.device)
        else:
            past_k, past_v, past_valid = state if state is not None else self.init_state(batch, x.device, x.dtype)
            n_past = past_k.shape[2]
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
            valid = torch.cat([past_valid, past_valid.new_ones(batch, length)], dim=1)
            query_pos = torch.arange(n_past, n_past + length, device=x.device)[:, None]
            key_pos = torch.arange(n_past + length, device=x.device)[None, :]
            allowed = key_pos <= query_pos
            if self.window:
                allowed = allowed & (query_pos - key_pos < self.window)
            mask = allowed[None, None] & valid[:, None, None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        if self.window:
            keep = max(k.shape[2] - (self.window - 1), 0)
            k, v, valid = k[:, :, keep:], v[:, :, keep:], valid[:, keep:]
        return self.out(y.transpose(1, 2).reshape(batch, length, d_model)), (k, v, valid)

    def initialise(self, n_layers: int) -> None:
        """Decision Transformer's (GPT-2's) N(0, 0.02) weights and zero biases."""
        gpt2_initialise(self)

    def init_state(self, batch_size, device=None, dtype=None):
        head_dim = self.qkv.in_features // self.n_heads
        empty = torch.zeros(batch_size, self.n_heads, 0, head_dim, device=device, dtype=dtype)
        return empty, empty.clone(), torch.zeros(batch_size, 0, dtype=torch.bool, device=device)

    def step(self, x, state):
        """One token: its query attends to the cached keys and its own; the past is not recomputed."""
        y, state = self(x.unsqueeze(1), state)
        return y[:, 0], state
