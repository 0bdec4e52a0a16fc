"""Long short-term memory in torch's layout: the default LSTM, served by the fused kernels.

Book: 10.10.1, eqs. 10.40-10.44 (with the tanh candidate of common practice; see Deviations).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, _VF

from recnets.cells._init import check_sizes, torch_layout_parameters
from recnets.core.cell import Cell
from recnets.core.fused import call_quietly, register_fused

__all__ = ["LSTMCell", "LSTMState"]


class LSTMState(NamedTuple):
    """LSTM state: the output h(t) (B, H) and the cell (state unit, the book's s(t)) c(t) (B, H)."""

    h: Tensor
    c: Tensor


class LSTMCell(Cell):
    """The LSTM as torch.nn.LSTM computes it.

    i = σ(U_i x + b_Ui + W_i h + b_Wi), f = σ(... f ...), g = tanh(... g ...), o = σ(... o ...);
    c(t) = f c(t-1) + i g;  h(t) = o tanh(c(t)).

    Parameters:
        U (4H, D), W (4H, H), b_U (4H), b_W (4H): gates stacked in torch's order (input, forget, candidate,
        output), so that ``U`` is ``weight_ih_l0``, ``W`` is ``weight_hh_l0``, ``b_U`` is ``bias_ih_l0``
        and ``b_W`` is ``bias_hh_l0``.

    Shapes:
        step: px_t (B, 4H), state ``LSTMState(h, c)`` each (B, H) -> y_t = h(t) (B, H).

    Book: 10.10.1, eqs. 10.40-10.44.
    Deviations: the candidate ("input unit", eq. 10.41) uses tanh where the book prints σ; two biases
    per gate, as torch has. The forget-gate bias starts at ``forget_bias`` (on ``b_U``; ``b_W``'s forget part at 0),
    1 by default, so the cell remembers by default (Gers et al. 2000; Jozefowicz et al. 2015); a larger value keeps
    c(t) for about 1/(1 - σ(b)) steps at the start of training. ``chrono = T_max`` instead draws the chrono
    initialisation of Tallec & Ollivier 2018: b_f = log u with u ~ U[1, T_max - 1] per unit and b_i = -b_f, so that
    units start with memories spread over 1..T_max steps and input gates mostly closed (the "initial bias" against
    state drift of Hochreiter & Schmidhuber 1997). :class:`~recnets.cells.book_lstm.BookLSTMCell` is the book's
    form.
    """

    U: Tensor
    W: Tensor
    b_U: Tensor
    b_W: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, forget_bias: float = 1.0, chrono: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)) or not math.isfinite(forget_bias):
            raise ValueError(f"forget_bias: expected a finite number, got {forget_bias!r}")
        if chrono is not None and (isinstance(chrono, bool) or not isinstance(chrono, int) or chrono < 3):
            raise ValueError(f"chrono: expected an integer T_max >= 3 (the longest dependency), got {chrono!r}")
        if chrono is not None and forget_bias != 1.0:
            raise ValueError(f"forget_bias: expected the default 1.0 with chrono (which draws it), got {forget_bias!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        torch_layout_parameters(self, 4, input_size, hidden_size, device=device, dtype=dtype)
        with torch.no_grad():
            self.b_U[hidden_size:2 * hidden_size].fill_(float(forget_bias))
            if chrono is not None:
                b_f = torch.log(1.0 + (chrono - 2) * torch.rand(hidden_size)).to(self.b_U)  # log U[1, T_max - 1]
                self.b_U[hidden_size:2 * hidden_size] = b_f
                self.b_U[:hidden_size] = -b_f
                self.b_W[:hidden_size].zero_()
            self.b_W[hidden_size:2 * hidden_size].zero_()

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        zeros = torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype))
        return LSTMState(zeros, zeros.clone())

    def project(self, xs: Tensor) -> Tensor:
        return torch.nn.functional.linear(xs, self.U, self.b_U)  # (..., 4H)

    def step(self, px_t: Tensor, state: LSTMState, context: Any = None) -> tuple[Tensor, LSTMState]:
        gates = torch.addmm(px_t + self.b_W, state.h, self.W.t())  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        return h, LSTMState(h, c)


def _lstm_kernel(cell: LSTMCell, xs: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
    """torch's fused LSTM on the cell's own U, W, b_U, b_W (xs batch-first, dense)."""
    hx = (state.h.unsqueeze(0).contiguous(), state.c.unsqueeze(0).contiguous())
    ys, h_n, c_n = call_quietly(_VF.lstm, xs, hx, [cell.U, cell.W, cell.b_U, cell.b_W], True, 1, 0.0,
                                torch.is_grad_enabled(), False, True)
    return ys, LSTMState(h_n[0], c_n[0])


register_fused(LSTMCell, _lstm_kernel)
