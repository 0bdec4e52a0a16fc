"""Deep transition: an MLP of L layers between h(t-1) and h(t), optionally with a shortcut around it.

Book: 10.5, Fig. 10.13b (deep hidden-to-hidden transition) and Fig. 10.13c (skip connections shorten the
path); Pascanu, Gulcehre, Cho & Bengio 2014 (DT-RNN and DT(S)-RNN).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.cell import Cell
from recnets.core.state import Hidden

__all__ = ["DeepTransitionCell"]


class DeepTransitionCell(Cell):
    """h(t) = z_L, with z_1 = tanh(b_1 + W h(t-1) + U x(t)) and z_l = tanh(b_l + W_l z_{l-1}), l = 2..L.

    With ``shortcut`` the last layer also reads h(t-1) directly (Fig. 10.13c, DT(S)-RNN):
    z_L = tanh(b_L + W_L z_{L-1} + W_skip h(t-1)), so the shortest path from h(t-1) to h(t) is one layer
    long whatever L is. ``depth = 1`` is the Elman cell of eq. 10.8 (``shortcut`` then has nothing to skip
    and is refused).

    Args:
        input_size: D.
        hidden_size: H, the width of h(t) = z_L.
        depth: L >= 1, the number of tanh layers in the transition.
        intermediate_size: the width of z_1 .. z_{L-1} (default H).
        shortcut: add W_skip h(t-1) to the last layer.

    Parameters:
        U (H_1, D), W (H_1, H), b (H_1) for the first layer; ``W_layers[l-2]`` (H_l, H_{l-1}) and
        ``b_layers[l-2]`` (H_l) for layers l = 2..L; ``W_skip`` (H, H) with ``shortcut``.

    Shapes:
        step: px_t (B, H_1), ``Hidden(h (B, H))`` -> y_t = h(t) (B, H).

    Book: 10.5, Fig. 10.13b-c.
    Deviations: the book draws the shortcut only as a skip arrow; here it is a matrix from h(t-1) into the
    last layer's pre-activation, our reading of Pascanu et al.'s DT(S)-RNN (not checked against the
    paper's equation). Every layer here is tanh (the paper lets each φ_l be chosen).
    """

    U: Tensor
    W: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, depth: int = 2, intermediate_size: int | None = None,
                 shortcut: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, depth=depth)
        intermediate_size = hidden_size if intermediate_size is None else intermediate_size
        check_sizes(intermediate_size=intermediate_size)
        if not isinstance(shortcut, bool):
            raise TypeError(f"shortcut: expected a bool, got {type(shortcut).__name__}")
        if shortcut and depth == 1:
            raise ValueError("shortcut: expected depth >= 2 (a one-layer transition has no path to shorten), "
                             "got depth 1")
        self.input_size, self.hidden_size, self.depth = input_size, hidden_size, depth
        self.shortcut = shortcut
        widths = [intermediate_size] * (depth - 1) + [hidden_size]  # H_1 .. H_L
        factory = {"device": device, "dtype": dtype}
        self.U = uniform_parameter(widths[0], input_size, hidden_size=widths[0], **factory)
        self.W = uniform_parameter(widths[0], hidden_size, hidden_size=widths[0], **factory)
        self.b = uniform_parameter(widths[0], hidden_size=widths[0], **factory)
        self.W_layers = nn.ParameterList(uniform_parameter(out, inp, hidden_size=out, **factory)
                                         for inp, out in zip(widths[:-1], widths[1:]))
        self.b_layers = nn.ParameterList(uniform_parameter(out, hidden_size=out, **factory) for out in widths[1:])
        self.W_skip = (uniform_parameter(hidden_size, hidden_size, hidden_size=hidden_size, **factory)
                       if shortcut else None)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., H_1): b_1 + U x

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        a = torch.addmm(px_t, state.h, self.W.t())  # (B, H_1): b_1 + U x + W h(t-1)
        last = len(self.W_layers)
        for layer, (W_l, b_l) in enumerate(zip(self.W_layers, self.b_layers), start=1):
            z = torch.tanh(a)  # (B, H_{l-1})
            a = torch.addmm(b_l, z, W_l.t())  # (B, H_l)
            if layer == last and self.W_skip is not None:
                a = torch.addmm(a, state.h, self.W_skip.t())  # + W_skip h(t-1)
        h = torch.tanh(a)  # (B, H)
        return h, Hidden(h)
