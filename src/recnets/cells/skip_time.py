"""Skip connections through time: h(t) reads h(t-1) and h(t-d), with a ring buffer of the last d states.

Book: 10.9.1 (adding skip connections through time: direct connections from variables in the distant
past, delay d, so that gradients shrink exponentially in τ/d rather than τ).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.cell import Cell

__all__ = ["SkipTimeCell", "DelayLine"]


class DelayLine(NamedTuple):
    """The state of a skip-in-time cell: ``history (B, d, H)`` with ``history[:, k] = h(t-1-k)``.

    Each step shifts the line by one place, so the state is batch-first, is masked, detached and reordered
    like any other, and carries the delayed states across truncated-BPTT windows and decoding steps.

    Book: 10.9.1.
    """

    history: Tensor

    @property
    def h(self) -> Tensor:
        """The most recent state h(t-1) (B, H)."""
        return self.history[:, 0]


class SkipTimeCell(Cell):
    """h(t) = tanh(b + W h(t-1) + W_skip h(t-d) + U x(t)).

    States before the first step (h(t-k) with t-k < 0) are zeros, or whatever the given initial
    ``DelayLine`` holds. With ``delay = 1`` both recurrent products read h(t-1).

    Args:
        input_size: D.
        hidden_size: H.
        delay: d >= 1, the skip's reach into the past.

    Parameters:
        U (H, D), W (H, H), W_skip (H, H), b (H).

    Shapes:
        step: px_t (B, H), ``DelayLine(history (B, d, H))`` -> y_t = h(t) (B, H).

    Book: 10.9.1.
    Deviations: the book names the idea, not an update; this is the Elman transition of eq. 10.8 with one
    extra recurrent matrix from the delayed state (as in NARX networks, Lin et al. 1996).
    """

    U: Tensor
    W: Tensor
    W_skip: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, delay: int = 4, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ValueError(f"delay: expected an integer d >= 1, got {delay!r}")
        self.input_size, self.hidden_size, self.delay = input_size, hidden_size, delay
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(hidden_size, input_size, **factory)
        self.W = uniform_parameter(hidden_size, hidden_size, **factory)
        self.W_skip = uniform_parameter(hidden_size, hidden_size, **factory)
        self.b = uniform_parameter(hidden_size, **factory)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> DelayLine:
        factory = self._default_factory(device, dtype)
        return DelayLine(torch.zeros(batch_size, self.delay, self.hidden_size, **factory))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., H): b + U x

    def step(self, px_t: Tensor, state: DelayLine, context: Any = None) -> tuple[Tensor, DelayLine]:
        history = state.history  # (B, d, H): h(t-1), ..., h(t-d)
        a = torch.addmm(px_t, history[:, 0], self.W.t())  # (B, H): b + U x + W h(t-1)
        h = torch.tanh(torch.addmm(a, history[:, -1], self.W_skip.t()))  # (B, H): + W_skip h(t-d)
        return h, DelayLine(torch.cat([h.unsqueeze(1), history[:, :-1]], 1))  # (B, d, H)
