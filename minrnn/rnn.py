"""The classic baselines, torch.nn.GRU and torch.nn.LSTM, as mixers of the same block.

Their state is kept batch-first, (batch, hidden) per tensor, like every other mixer's.
"""
import torch
from torch import nn

from minrnn.initialise import gpt2_initialise


class _TorchRNN(nn.Module):
    n_state_tensors = 1  # h for a GRU, (h, c) for an LSTM

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, state=None):
        if state is not None:
            state = tuple(s.unsqueeze(0).contiguous() for s in state)
            state = state if self.n_state_tensors > 1 else state[0]
        y, state = self.rnn(x, state)
        state = state if self.n_state_tensors > 1 else (state,)
        return y, tuple(s[0] for s in state)

    def initialise(self, n_layers: int) -> None:
        """As the other mixers around them; nn.GRU's and nn.LSTM's own weights keep PyTorch's initialisation."""
        gpt2_initialise(self)

    def init_state(self, batch_size, device=None, dtype=None):
        return tuple(torch.zeros(batch_size, self.rnn.hidden_size, device=device, dtype=dtype)
                     for _ in range(self.n_state_tensors))

    def step(self, x, state):
        y, state = self(x.unsqueeze(1), state)
        return y[:, 0], state


class GRU(_TorchRNN):
    def __init__(self, d_model: int):
        super().__init__(nn.GRU(d_model, d_model, batch_first=True))


class LSTM(_TorchRNN):
    n_state_tensors = 2

    def __init__(self, d_model: int):
        super().__init__(nn.LSTM(d_model, d_model, batch_first=True))
