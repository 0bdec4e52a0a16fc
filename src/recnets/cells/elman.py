"""The Elman (vanilla) recurrent cell of eq. 10.8.

Book: 10.2, eq. 10.8: a(t) = b + W h(t-1) + U x(t);  h(t) = tanh(a(t)).
"""
from __future__ import annotations

from typing import Any, Final

import torch
from torch import Tensor, _VF

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.cell import Cell
from recnets.core.fused import call_quietly, register_fused
from recnets.core.state import Hidden

__all__ = ["ElmanCell"]

NONLINEARITIES = ("tanh", "relu")


class ElmanCell(Cell):
    """h(t) = φ(b + W h(t-1) + U x(t)), φ = tanh (eq. 10.8) or relu.

    Args:
        input_size: D.
        hidden_size: H.
        nonlinearity: ``"tanh"`` (the book's) or ``"relu"`` (for the identity-initialised ReLU RNN).

    Parameters:
        U (H, D) input-to-hidden, W (H, H) hidden-to-hidden, b (H) bias.

    Shapes:
        step: px_t (B, H), state ``Hidden(h (B, H))`` -> y_t = h(t) (B, H).

    Book: 10.2, eq. 10.8 (the output layer o = c + V h lives in the networks of ``recnets.nets``).
    Deviations: torch.nn.RNN has two biases (b_ih + b_hh); the book's single ``b`` equals their sum. The
    fused kernel receives ``b`` and a zero second bias.
    """

    U: Tensor
    W: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, nonlinearity: str = "tanh",
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.nonlinearity: Final[str] = nonlinearity
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(hidden_size, input_size, **factory)
        self.W = uniform_parameter(hidden_size, hidden_size, **factory)
        self.b = uniform_parameter(hidden_size, **factory)
        self._phi = torch.tanh if nonlinearity == "tanh" else torch.relu

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return torch.nn.functional.linear(xs, self.U, self.b)  # (..., H): b + U x

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        h = self._phi(torch.addmm(px_t, state.h, self.W.t()))  # (B, H): φ(b + U x + W h)
        return h, Hidden(h)


def _elman_kernel(cell: ElmanCell, xs: Tensor, state: Hidden) -> tuple[Tensor, Hidden]:
    """torch's fused rnn_tanh / rnn_relu on the cell's own U, W, b (xs batch-first, dense)."""
    kernel = _VF.rnn_tanh if cell.nonlinearity == "tanh" else _VF.rnn_relu
    weights = [cell.U, cell.W, cell.b, torch.zeros_like(cell.b)]
    ys, h_n = call_quietly(kernel, xs, state.h.unsqueeze(0).contiguous(), weights, True, 1, 0.0,
                           torch.is_grad_enabled(), False, True)
    return ys, Hidden(h_n[0])


register_fused(ElmanCell, _elman_kernel)
