"""A linear recurrent cell for closed-form oracles: h(t) = b + W h(t-1) + U x(t), no nonlinearity.

Book: 10.7, eq. 10.36 (the linear recurrence whose powers of W the book analyses).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from recnets.core.cell import Cell
from recnets.core.state import Hidden


class LinearCell(Cell):
    """h(t) = b + W h(t-1) + U x(t): U (H, D), W (H, H), b (H), float64."""

    def __init__(self, input_size: int, hidden_size: int, W: Tensor | None = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        f64 = {"dtype": torch.float64}
        self.U = nn.Parameter(torch.randn(hidden_size, input_size, **f64) / input_size ** 0.5)
        self.W = nn.Parameter(W.clone() if W is not None else torch.randn(hidden_size, hidden_size, **f64) / hidden_size ** 0.5)
        self.b = nn.Parameter(torch.randn(hidden_size, **f64) * 0.1)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., H)

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        h = px_t + state.h @ self.W.t()  # (B, H): b + U x + W h
        return h, Hidden(h)


def symmetric(eigenvalues: list[float], seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """W = Q Λ Qᵀ with a random orthogonal Q: returns (W, Q, Λ as a vector), float64."""
    generator = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), dtype=torch.float64, generator=generator))
    lam = torch.tensor(eigenvalues, dtype=torch.float64)
    return Q @ torch.diag(lam) @ Q.t(), Q, lam
