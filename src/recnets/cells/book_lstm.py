"""The LSTM exactly as the book prints it (eqs. 10.40-10.44), with optional diagonal peepholes.

Book: 10.10.1, eqs. 10.40-10.44.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.cells.lstm import LSTMState
from recnets.core.bptt_kernels import BPTTKernel, float_step_masks, register_bptt, time_major_projection
from recnets.core.bptt_lstm import lstm_sequence
from recnets.core.cell import Cell

__all__ = ["BookLSTMCell"]

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


class BookLSTMCell(Cell):
    """The book's LSTM: sigmoid input unit, one bias per gate, optional peepholes.

    f(t) = σ(b_f + U_f x(t) + W_f h(t-1) [+ p_f ⊙ s(t-1)])               (10.40)
    g(t) = σ(b_g + U_g x(t) + W_g h(t-1) [+ p_g ⊙ s(t-1)])               (10.42, external input gate)
    s(t) = f(t) ⊙ s(t-1) + g(t) ⊙ σ(b + U x(t) + W h(t-1))                (10.41)
    q(t) = σ(b_o + U_o x(t) + W_o h(t-1) [+ p_o ⊙ s(t)])                 (10.44, output gate)
    h(t) = tanh(s(t)) ⊙ q(t)                                             (10.43)

    Args:
        input_size: D.
        hidden_size: H.
        peepholes: add the state unit as an extra input to the three gates, each with its own diagonal
            weight (the book's "optionally" in 10.10.1).
        input_activation: ``"sigmoid"`` as printed in eq. 10.41, or ``"tanh"`` as in common practice.

    Parameters:
        U (4H, D), W (4H, H), b (4H): blocks in the order (forget f, external input g, input unit, output q);
        read them by the book's names ``U_f, W_f, b_f, U_g, ..., U_o`` (views). With peepholes, p (3, H):
        rows p_f, p_g, p_o.

    Shapes:
        step: px_t (B, 4H), state ``LSTMState(h, c)`` with c the book's s(t), each (B, H) -> y_t = h(t).

    Book: 10.10.1, eqs. 10.40-10.44.
    Deviations: the book does not say which state the output gate's peephole reads; like Gers et al.
    (2002) we use the new s(t) there and s(t-1) for the forget and input gates.
    """

    U: Tensor
    W: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, peepholes: bool = False,
                 input_activation: str = "sigmoid", device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if input_activation not in ACTIVATIONS:
            raise ValueError(f"input_activation: expected one of {tuple(ACTIVATIONS)}, got {input_activation!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.peepholes, self.input_activation = peepholes, input_activation
        self._activation = ACTIVATIONS[input_activation]
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(4 * hidden_size, input_size, **factory)
        self.W = uniform_parameter(4 * hidden_size, hidden_size, **factory)
        self.b = uniform_parameter(4 * hidden_size, **factory)
        with torch.no_grad():
            self.b[:hidden_size].fill_(1.0)  # forget gate open at the start
        if peepholes:
            self.p = uniform_parameter(3, hidden_size, **factory)
        else:
            self.register_parameter("p", None)

    def _block(self, weight: Tensor, index: int) -> Tensor:
        size = self.hidden_size
        return weight[index * size:(index + 1) * size]

    U_f = property(lambda self: self._block(self.U, 0))
    W_f = property(lambda self: self._block(self.W, 0))
    b_f = property(lambda self: self._block(self.b, 0))
    U_g = property(lambda self: self._block(self.U, 1))
    W_g = property(lambda self: self._block(self.W, 1))
    b_g = property(lambda self: self._block(self.b, 1))
    U_input = property(lambda self: self._block(self.U, 2))
    W_input = property(lambda self: self._block(self.W, 2))
    b_input = property(lambda self: self._block(self.b, 2))
    U_o = property(lambda self: self._block(self.U, 3))
    W_o = property(lambda self: self._block(self.W, 3))
    b_o = property(lambda self: self._block(self.b, 3))

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        zeros = torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype))
        return LSTMState(zeros, zeros.clone())

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., 4H)

    def step(self, px_t: Tensor, state: LSTMState, context: Any = None) -> tuple[Tensor, LSTMState]:
        pre = torch.addmm(px_t, state.h, self.W.t())  # (B, 4H)
        forget, gate, unit, out = pre.chunk(4, dim=1)
        if self.p is not None:
            forget = forget + self.p[0] * state.c
            gate = gate + self.p[1] * state.c
        s = torch.sigmoid(forget) * state.c + torch.sigmoid(gate) * self._activation(unit)  # (B, H)
        if self.p is not None:
            out = out + self.p[2] * s
        h = torch.tanh(s) * torch.sigmoid(out)  # (B, H)
        return h, LSTMState(h, s)


def _bptt_run(cell: BookLSTMCell, xs: Tensor, state: LSTMState, lengths: Tensor | None) -> tuple[Tensor, LSTMState]:
    """The whole recurrence as one autograd Function (``recnets.core.bptt_lstm``), projection hoisted."""
    px = time_major_projection(cell, xs)  # (T, B, 4H)
    masks = float_step_masks(lengths, xs.shape[1], xs.dtype)  # (T, B, 1) or None
    ys, h, s = lstm_sequence(px, cell.W, cell.p, state.h, state.c, masks,
                             sigmoid_candidate=cell.input_activation == "sigmoid")
    return ys.transpose(0, 1), LSTMState(h, s)


register_bptt(BookLSTMCell, lambda cell: BPTTKernel(_bptt_run))
