"""The diagonal linear recurrence h_t = a_t * h_{t-1} + b_t, computed in parallel over time.

minGRU, minLSTM and Mamba all reduce to it (0 < a_t < 1). The paper writes the scan in log
space (Heinsen 2023: log h_t = A_t + logcumsumexp(log b_t - A_t), A_t = cumsum log a_t). On a
CPU that form is slow (torch.logcumsumexp costs about 17x a cumsum) and in float32 it loses
precision at long lengths: A_t and the logcumsumexp grow to the same large magnitude and their
sum cancels. The fast rewrite of logcumsumexp with cumsum in chunks underflows inside a chunk
whenever the gates decay quickly. It also needs b_t > 0, which Mamba's inputs are not.

So the gates are parameterised as in the paper but the scan runs in linear space, where it
cannot overflow: every partial product of the a_t lies in (0, 1]. It is a blocked scan: split
time into chunks of about sqrt(L) steps; find every chunk's final state from zero, all chunks
at once (sqrt(L) vectorised steps); carry the true state across the chunk boundaries
(L / chunk steps on small tensors); run all chunks again from their true incoming states.
That is O(L) work in about 3 sqrt(L) vectorised steps, against L steps for a plain time loop,
and it is exact: the same products and sums as the loop, grouped differently. The backward pass is the same scan run
backwards in time (g_t = dL/dh_t + a_{t+1} g_{t+1}), so only a, h and h0 are kept for it.
"""
import math

import torch


def blocked_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Inclusive scan along dim 1 of (batch, length, *channels) tensors, from state h0.

    With reverse, time runs backwards: h_t = a_t * h_{t+1} + b_t, h0 entering after the end.
    """
    batch, length, *channels = a.shape
    chunk = 1 << max(3, math.ceil(math.log2(math.sqrt(length))))
    if length <= chunk:  # one chunk (the few tokens of an acting step): a plain loop from h0
        h, state = torch.empty_like(a), h0
        for i in range(length - 1, -1, -1) if reverse else range(length):
            state = torch.addcmul(b[:, i], a[:, i], state, out=h[:, i])
        return h
    n_chunks = math.ceil(length / chunk)
    pad = n_chunks * chunk - length
    if pad:  # padding with a = 1, b = 0 leaves the state unchanged
        a = torch.cat([a, a.new_ones(batch, pad, *channels)], dim=1)
        b = torch.cat([b, b.new_zeros(batch, pad, *channels)], dim=1)
    a = a.view(batch, n_chunks, chunk, *channels)
    b = b.view(batch, n_chunks, chunk, *channels)
    positions = range(chunk - 1, -1, -1) if reverse else range(chunk)
    chunks = range(n_chunks - 1, -1, -1) if reverse else range(n_chunks)
    end = b[:, :, positions[0]]  # each chunk's final state when it starts from zero, all at once
    for i in positions[1:]:
        end = torch.addcmul(b[:, :, i], a[:, :, i], end)
    decay = torch.prod(a, dim=2)  # what a chunk leaves of its incoming state
    state = torch.empty_like(end)  # the state entering each chunk
    state[:, chunks[0]] = h0
    for prev, k in zip(chunks, chunks[1:]):
        torch.addcmul(end[:, prev], decay[:, prev], state[:, prev], out=state[:, k])
    h = torch.empty_like(a)
    for i in positions:  # every chunk again, now from its true incoming state
        state = torch.addcmul(b[:, :, i], a[:, :, i], state, out=h[:, :, i])
    return h.view(batch, n_chunks * chunk, *channels)[:, :length]


def scan_grads(a: torch.Tensor, h: torch.Tensor, h0: torch.Tensor, grad_h: torch.Tensor):
    """Gradients (a, b, h0) of the scan from the gradient of its outputs h."""
    # g_t = grad_h_t + a_{t+1} g_{t+1}: the same scan, backwards in time
    a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1)
    g = blocked_scan(a_next, grad_h, torch.zeros_like(h0), reverse=True)
    grad_a = torch.empty_like(a)
    torch.mul(g[:, 1:], h[:, :-1], out=grad_a[:, 1:])
    torch.mul(g[:, 0], h0, out=grad_a[:, 0])
    return grad_a, g, a[:, 0] * g[:, 0]


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0):
        h = blocked_scan(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        return scan_grads(*ctx.saved_tensors, grad_h)


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """All states h_1..h_L of h_t = a_t * h_{t-1} + b_t.

    a, b: (batch, length, *channels); h0: (batch, *channels), zeros when None.
    Returns h: (batch, length, *channels).
    """
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if h0 is None:
        h0 = a.new_zeros(a.shape[:1] + a.shape[2:])
    return _LinearScan.apply(a, b, h0) if torch.is_grad_enabled() else blocked_scan(a, b, h0)
