"""The GRU exactly as the book prints it (eqs. 10.45-10.47): the reset gate acts before the product.

Book: 10.10.2, eqs. 10.45-10.47.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.cells.book_lstm import ACTIVATIONS
from recnets.core.bptt_gru import book_gru_sequence
from recnets.core.bptt_kernels import BPTTKernel, float_step_masks, register_bptt, time_major_projection
from recnets.core.cell import Cell
from recnets.core.state import Hidden

__all__ = ["BookGRUCell"]


class BookGRUCell(Cell):
    """The book's GRU: one bias per gate, reset gate applied to h(t-1) before W.

    u(t) = σ(b_u + U_u x(t) + W_u h(t-1))                                 (10.46)
    r(t) = σ(b_r + U_r x(t) + W_r h(t-1))                                 (10.47)
    h(t) = u(t) ⊙ h(t-1) + (1 - u(t)) ⊙ φ(b + U x(t) + W (r(t) ⊙ h(t-1)))  (10.45)

    Args:
        input_size: D.
        hidden_size: H.
        candidate_activation: φ; ``"sigmoid"`` as printed in eq. 10.45 or ``"tanh"`` (Cho et al., 2014).

    Parameters:
        U (3H, D), b (3H): blocks (update u, reset r, candidate); W_gates (2H, H): rows W_u then W_r;
        W (H, H): the candidate's recurrent weights. Views ``U_u, U_r, b_u, b_r, W_u, W_r, U_candidate,
        b_candidate`` give the book's names.

    Shapes:
        step: px_t (B, 3H), state ``Hidden(h (B, H))`` -> y_t = h(t) (B, H).

    Book: 10.10.2, eqs. 10.45-10.47 (the book indexes u, r and x by t-1 for h(t); same computation).
    """

    U: Tensor
    b: Tensor
    W_gates: Tensor
    W: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, candidate_activation: str = "sigmoid",
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if candidate_activation not in ACTIVATIONS:
            raise ValueError(f"candidate_activation: expected one of {tuple(ACTIVATIONS)}, "
                             f"got {candidate_activation!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.candidate_activation = candidate_activation
        self._activation = ACTIVATIONS[candidate_activation]
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(3 * hidden_size, input_size, **factory)
        self.b = uniform_parameter(3 * hidden_size, **factory)
        self.W_gates = uniform_parameter(2 * hidden_size, hidden_size, **factory)
        self.W = uniform_parameter(hidden_size, hidden_size, **factory)

    def _block(self, weight: Tensor, index: int) -> Tensor:
        size = self.hidden_size
        return weight[index * size:(index + 1) * size]

    U_u = property(lambda self: self._block(self.U, 0))
    U_r = property(lambda self: self._block(self.U, 1))
    U_candidate = property(lambda self: self._block(self.U, 2))
    b_u = property(lambda self: self._block(self.b, 0))
    b_r = property(lambda self: self._block(self.b, 1))
    b_candidate = property(lambda self: self._block(self.b, 2))
    W_u = property(lambda self: self._block(self.W_gates, 0))
    W_r = property(lambda self: self._block(self.W_gates, 1))

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., 3H)

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        h_prev = state.h
        px_u, px_r, px_candidate = px_t.chunk(3, dim=1)
        gates = torch.addmm(torch.cat([px_u, px_r], 1), h_prev, self.W_gates.t())  # (B, 2H)
        u, r = torch.sigmoid(gates).chunk(2, dim=1)
        candidate = self._activation(torch.addmm(px_candidate, r * h_prev, self.W.t()))  # (B, H)
        h = candidate + u * (h_prev - candidate)  # u h(t-1) + (1 - u) candidate
        return h, Hidden(h)


def _bptt_run(cell: BookGRUCell, xs: Tensor, state: Hidden, lengths: Tensor | None) -> tuple[Tensor, Hidden]:
    """The whole recurrence as one autograd Function (``recnets.core.bptt_gru``), projection hoisted."""
    masks = float_step_masks(lengths, xs.shape[1], xs.dtype)  # (T, B, 1) or None
    ys, h = book_gru_sequence(time_major_projection(cell, xs), cell.W_gates, cell.W, state.h, masks,
                              sigmoid_candidate=cell.candidate_activation == "sigmoid")  # (T, B, H)
    return ys.transpose(0, 1), Hidden(h)


register_bptt(BookGRUCell, lambda cell: BPTTKernel(_bptt_run))
