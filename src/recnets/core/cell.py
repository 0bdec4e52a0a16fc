"""The Cell protocol: one transition h(t) = f(h(t-1), x(t); θ), no loop inside.

Book: 10.1, eq. 10.5 (the same f with the same θ at every step: parameter sharing).
"""
from __future__ import annotations

import abc
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Cell"]


class Cell(nn.Module, abc.ABC):
    """Abstract one-step recurrent transition; ``unroll`` is the loop.

    A cell implements three methods:

    - ``initial_state(batch_size, *, device, dtype) -> State``: a NamedTuple of batch-first tensors;
      never stored on the module.
    - ``project(xs) -> px``: the input-to-hidden work for all steps at once (one matrix product hoisted
      out of the time loop). ``xs (..., D) -> px (..., P)``; the default is the identity.
    - ``step(px_t, state, context=None) -> (y_t, state)``: one transition on a projected input
      ``px_t (B, P)``. ``context`` is read-only per-sequence data (never masked or reordered).

    Attributes:
        input_size: D, the width of x(t).
        hidden_size: H, the width of h(t).

    Book: 10.1, eq. 10.5.
    """

    input_size: int
    hidden_size: int

    @abc.abstractmethod
    def initial_state(self, batch_size: int, *, device: torch.device | None = None,
                      dtype: torch.dtype | None = None) -> Any:
        """The state before the first step, for ``batch_size`` sequences (zeros unless stated)."""

    def project(self, xs: Tensor) -> Tensor:
        """Input-to-hidden part for all steps: ``xs (..., D) -> px (..., P)``. Identity by default."""
        return xs

    @abc.abstractmethod
    def step(self, px_t: Tensor, state: Any, context: Any = None) -> tuple[Any, Any]:
        """One transition: ``px_t (B, P)``, ``state`` -> ``(y_t, new_state)``."""

    def forward(self, x_t: Tensor, state: Any = None, context: Any = None) -> tuple[Any, Any]:
        """``step(project(x_t), state, context)`` for callers that drive the loop: ``x_t (B, D)``."""
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        return self.step(self.project(x_t), state, context)

    def _default_factory(self, device: torch.device | None, dtype: torch.dtype | None) -> dict:
        reference = next(self.parameters(), None)
        if device is None:
            device = reference.device if reference is not None else torch.device("cpu")
        if dtype is None:
            dtype = reference.dtype if reference is not None else torch.get_default_dtype()
        return {"device": device, "dtype": dtype}
