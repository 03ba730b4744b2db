"""What minGRU and minLSTM share: h_t = a_t * h_{t-1} + b_t with input-only gates.

A mixer maps x to its pre-activations (one Linear, each gate's rows applied as its own matmul so
that every pre-activation is a contiguous tensor: elementwise ops on a chunk of a wider tensor
run several times slower on the CPU), and from them to the coefficients (a, b). The parallel
path runs gates and scan as one autograd Function with the gates' derivatives written out
(`coefficient_grads`): it keeps only the pre-activations, a and h for the backward pass, where
autograd would keep every intermediate of the gates.
"""
import torch
from torch import nn
from torch.nn import functional as F

from minrnn.scan import blocked_scan, scan_grads


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's activation for the candidate state: x + 0.5 for x >= 0, sigmoid(x) below.

    It is positive, so h stays positive (the paper's log-space scan needs log h). It equals
    max(x + 0.5, sigmoid(x)), since sigmoid lies below its tangent 0.5 + x / 4 for x >= 0 and
    above it for x < 0; torch.maximum is several times faster than torch.where on the CPU.
    """
    return torch.maximum(x + 0.5, torch.sigmoid(x))


def g_and_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """g(x) and its derivative: 1 for x > 0, sigmoid(x) (1 - sigmoid(x)) (at most 1/4) below."""
    s = torch.sigmoid(x)
    return torch.maximum(x + 0.5, s), torch.maximum(s * (1 - s), torch.sign(x).clamp_(min=0))


def split_linear(linear: nn.Linear, x: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
    """linear(x).chunk(parts, -1), each part computed as its own contiguous tensor."""
    return tuple(F.linear(x, weight, bias) for weight, bias in zip(linear.weight.chunk(parts), linear.bias.chunk(parts)))


class _GatedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mixer, h0, *pre):
        a, b = mixer.coefficients(*pre)
        h = blocked_scan(a, b, h0)
        ctx.mixer = mixer
        ctx.save_for_backward(a, h, h0, *pre)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0, *pre = ctx.saved_tensors
        grad_a, grad_b, grad_h0 = scan_grads(a, h, h0, grad_h)
        return None, grad_h0, *ctx.mixer.coefficient_grads(grad_a, grad_b, *pre)


class MinimalRNN(nn.Module):
    """A minimal RNN mixer. Subclasses give `preactivations(x) -> pre` (a tuple of tensors),
    `coefficients(*pre) -> (a, b)` and `coefficient_grads(grad_a, grad_b, *pre) -> grad_pre`."""

    def __init__(self, d_model: int, d_hidden: int):
        super().__init__()
        self.d_hidden = d_hidden
        self.to_out = nn.Linear(d_hidden, d_model) if d_hidden != d_model else nn.Identity()

    def preactivations(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def coefficients(self, *pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def coefficient_grads(self, grad_a: torch.Tensor, grad_b: torch.Tensor, *pre: torch.Tensor) -> tuple:
        raise NotImplementedError

    def forward(self, x, state=None):
        pre = self.preactivations(x)
        h0 = x.new_zeros(x.shape[0], self.d_hidden) if state is None else state[0]
        if torch.is_grad_enabled():
            h = _GatedScan.apply(self, h0, *pre)
        else:  # acting: the same scan without an autograd Function's overhead
            h = blocked_scan(*self.coefficients(*pre), h0)
        return self.to_out(h), (h[:, -1],)

    def init_state(self, batch_size, device=None, dtype=None):
        return (torch.zeros(batch_size, self.d_hidden, device=device, dtype=dtype),)

    def step(self, x, state):
        a, b = self.coefficients(*self.preactivations(x))
        h = a * state[0] + b
        return self.to_out(h), (h,)
