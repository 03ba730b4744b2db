"""What minGRU and minLSTM share: h_t = a_t * h_{t-1} + b_t with input-only gates."""
import torch
from torch import nn

from minrnn.scan import linear_scan


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's activation for the candidate state: x + 0.5 for x >= 0, sigmoid(x) below.

    It is positive, so h stays positive (the paper's log-space scan needs log h).
    """
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


class MinimalRNN(nn.Module):
    """A minimal RNN mixer; subclasses give `coefficients(x) -> (a, b)` for each timestep."""

    def __init__(self, d_model: int, d_hidden: int):
        super().__init__()
        self.d_hidden = d_hidden
        self.to_out = nn.Linear(d_hidden, d_model) if d_hidden != d_model else nn.Identity()

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x, state=None):
        a, b = self.coefficients(x)
        h = linear_scan(a, b, None if state is None else state[0])
        return self.to_out(h), (h[:, -1],)

    def init_state(self, batch_size, device=None, dtype=None):
        return (torch.zeros(batch_size, self.d_hidden, device=device, dtype=dtype),)

    def step(self, x, state):
        a, b = self.coefficients(x)
        h = a * state[0] + b
        return self.to_out(h), (h,)
