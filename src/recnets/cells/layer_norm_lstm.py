"""The LSTM with layer normalisation (Ba, Kiros & Hinton 2016), with its BPTT kernel.

Book: 10.10.1 (the LSTM, eqs. 10.40-10.44).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.cells.lstm import LSTMState
from recnets.core.bptt_kernels import BPTTKernel, float_step_masks, register_bptt
from recnets.core.bptt_layer_norm_lstm import layer_norm_lstm_sequence
from recnets.core.cell import Cell

__all__ = ["LayerNormLSTMCell"]


class LayerNormLSTMCell(Cell):
    """The LSTM with each of its two matrix products, and its cell state, layer-normalised.

    With LN(v; α, β) = α ⊙ (v - μ(v)) / σ(v) + β, μ and σ taken over the units of v and
    σ(v) = sqrt(mean((v - μ)²) + eps):

    (f, g, i, q) = LN(W h(t-1); α_h, 0) + LN(U x(t); α_x, 0) + b          (each LN over all 4H units)
    c(t) = σ(f) ⊙ c(t-1) + σ(g) ⊙ tanh(i)
    h(t) = σ(q) ⊙ tanh(LN(c(t); α_c, β_c))                              (LN over the H units)

    ``project`` computes LN(U x(t); α_x, 0) + b for all steps at once.

    Args:
        input_size: D.
        hidden_size: H.
        forget_bias: starting value of the forget block of b (1: remember by default, as ``LSTMCell``).
        eps: added to the variance in every normalisation (torch's layer_norm default, 1e-5).

    Parameters:
        U (4H, D), W (4H, H), b (4H): blocks in the order (forget f, input gate g, candidate i, output q), as
        :class:`~recnets.cells.book_lstm.BookLSTMCell`. alpha_x, alpha_h (4H): gains of the two products'
        normalisations (start at 1). alpha_c, beta_c (H): gain and bias of the cell state's normalisation
        (start at 1 and 0).

    Shapes:
        step: px_t (B, 4H), state ``LSTMState(h, c)`` each (B, H) -> y_t = h(t) (B, H).

    Book: 10.10.1, eqs. 10.40-10.44 (with a tanh candidate); Ba, Kiros & Hinton (2016), "Layer
    normalization", the layer-normalised LSTM of their supplementary material.
    Deviations: this is the paper's LSTM form, which normalises each of the two products W h(t-1) and U x(t)
    separately over all 4H units, not the per-gate normalisation of the summed inputs (the form of the
    paper's sec. 3.1 for a plain RNN, and of TensorFlow's LayerNormBasicLSTMCell). The paper's three bias
    vectors β_h + β_x + b of the gates act only through their sum, so there is one, b. The paper's σ has no
    ε; we add ``eps`` to the variance, as torch's layer_norm does (without it W h(0) = 0 divides by zero).
    A tanh candidate (not the book's σ) and one bias per gate, as in the paper; the forget block of b starts
    at ``forget_bias``.
    """

    U: Tensor
    W: Tensor
    b: Tensor
    alpha_x: Tensor
    alpha_h: Tensor
    alpha_c: Tensor
    beta_c: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, forget_bias: float = 1.0, eps: float = 1e-5,
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)) or not math.isfinite(forget_bias):
            raise ValueError(f"forget_bias: expected a finite number, got {forget_bias!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps: expected a positive finite number, got {eps!r}")
        self.input_size, self.hidden_size, self.eps = input_size, hidden_size, float(eps)
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(4 * hidden_size, input_size, **factory)
        self.W = uniform_parameter(4 * hidden_size, hidden_size, **factory)
        self.b = nn.Parameter(torch.zeros(4 * hidden_size, device=device, dtype=dtype))
        with torch.no_grad():
            self.b[:hidden_size].fill_(float(forget_bias))
        ones = {"device": device, "dtype": dtype}
        self.alpha_x = nn.Parameter(torch.ones(4 * hidden_size, **ones))
        self.alpha_h = nn.Parameter(torch.ones(4 * hidden_size, **ones))
        self.alpha_c = nn.Parameter(torch.ones(hidden_size, **ones))
        self.beta_c = nn.Parameter(torch.zeros(hidden_size, **ones))

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        zeros = torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype))
        return LSTMState(zeros, zeros.clone())

    def project(self, xs: Tensor) -> Tensor:
        product = nn.functional.linear(xs, self.U)  # (..., 4H): U x(t)
        return nn.functional.layer_norm(product, (4 * self.hidden_size,), self.alpha_x, self.b, self.eps)

    def step(self, px_t: Tensor, state: LSTMState, context: Any = None) -> tuple[Tensor, LSTMState]:
        recurrent = nn.functional.layer_norm(state.h @ self.W.t(), (4 * self.hidden_size,), self.alpha_h, None,
                                             self.eps)  # (B, 4H)
        forget, gate, unit, out = (px_t + recurrent).chunk(4, dim=1)
        c = torch.sigmoid(forget) * state.c + torch.sigmoid(gate) * torch.tanh(unit)  # (B, H)
        normal_c = nn.functional.layer_norm(c, (self.hidden_size,), self.alpha_c, self.beta_c, self.eps)
        h = torch.sigmoid(out) * torch.tanh(normal_c)  # (B, H)
        return h, LSTMState(h, c)


def _bptt_run(cell: LayerNormLSTMCell, xs: Tensor, state: LSTMState,
              lengths: Tensor | None) -> tuple[Tensor, LSTMState]:
    """The whole recurrence as one autograd Function (``recnets.core.bptt_layer_norm_lstm``), the input product
    hoisted and its normalisation done in the kernel, step by step."""
    ux = nn.functional.linear(xs.transpose(0, 1), cell.U).contiguous()  # (T, B, 4H): U x(t)
    masks = float_step_masks(lengths, xs.shape[1], xs.dtype)  # (T, B, 1) or None
    ys, h, c = layer_norm_lstm_sequence(ux, cell.W, cell.alpha_x, cell.b, cell.alpha_h, cell.alpha_c, cell.beta_c,
                                        state.h, state.c, masks, eps=cell.eps)
    return ys.transpose(0, 1), LSTMState(h, c)


register_bptt(LayerNormLSTMCell, lambda cell: BPTTKernel(_bptt_run))
