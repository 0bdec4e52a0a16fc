"""The classic recursive network and the recursive neural tensor network: tanh compositions over children.

Book: 10.6, Fig. 10.14 (the same composition at every node of a tree).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.state import Hidden
from recnets.core.tree_cell import TreeCell

__all__ = ["RecursiveCell", "RNTNCell"]


class RecursiveCell(TreeCell):
    """h = tanh(b + U x + W [h_1; ...; h_N]) over a node's N positional children (Socher et al. 2011).

    Args:
        input_size: D; hidden_size: H; max_children: N (2: the binary recursive net of Fig. 10.14).

    Parameters:
        U (H, D) input-to-hidden, W (H, N·H) children-to-hidden (W = [W_1 ... W_N], one block per
        position), b (H).

    Shapes:
        combine: px (K, H), child states ``Hidden(h (K, C, H))`` with C ≤ N -> y = h (K, H).

    Book: 10.6, Fig. 10.14.
    Deviations: Socher et al. put word vectors at the leaves and compose only inner nodes; here every node
    has an input x (a leaf's h = tanh(b + U x), an inner node without a symbol gets x = 0 or its own
    embedding), so leaves and inner nodes share one rule.
    """

    def __init__(self, input_size: int, hidden_size: int, *, max_children: int = 2, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, max_children=max_children)
        self.input_size, self.hidden_size, self.max_children = input_size, hidden_size, max_children
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(hidden_size, input_size, **factory)
        self.W = uniform_parameter(hidden_size, max_children * hidden_size, **factory)
        self.b = uniform_parameter(hidden_size, **factory)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, device=device or self.W.device,
                                  dtype=dtype or self.W.dtype))

    def project(self, xs: Tensor) -> Tensor:
        return torch.nn.functional.linear(xs, self.U, self.b)  # (N, H)

    def combine(self, px: Tensor, child_states: Hidden, child_mask: Tensor, context: Any = None) -> tuple[Tensor, Hidden]:
        if child_mask.shape[1] == 0:  # leaves: W [h_1; ...; h_N] = 0
            h = torch.tanh(px)
            return h, Hidden(h)
        child_states, _ = self._padded_children(child_states, child_mask)
        h_children = child_states.h.flatten(1)  # (K, N·H)
        h = torch.tanh(px + h_children @ self.W.T)  # (K, H)
        return h, Hidden(h)


class RNTNCell(RecursiveCell):
    """h = tanh(b + U x + W c + c^T V^[1:H] c), c = [h_left; h_right] (Socher et al. 2013).

    Each output unit k has its own bilinear form c^T V^[k] c: the tensor lets the children multiply, not only
    add, which a single tanh layer cannot. The binary :class:`RecursiveCell` plus the tensor V.

    Parameters:
        U (H, D), W (H, 2H), V (H, 2H, 2H), b (H).

    Shapes:
        combine: px (K, H), child states ``Hidden(h (K, C, H))`` with C ≤ 2 -> y = h (K, H).

    Book: 10.6 (recursive nets with richer compositions, e.g. tensor operations).
    Deviations: every node has an input x (see :class:`RecursiveCell`); V is drawn U(-1/(2H), 1/(2H)) so the
    bilinear term starts small beside W c.
    """

    def __init__(self, input_size: int, hidden_size: int, *, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, max_children=2, device=device, dtype=dtype)
        self.V = uniform_parameter(hidden_size, 2 * hidden_size, 2 * hidden_size, hidden_size=4 * hidden_size ** 2,
                                   device=device, dtype=dtype)

    def combine(self, px: Tensor, child_states: Hidden, child_mask: Tensor, context: Any = None) -> tuple[Tensor, Hidden]:
        if child_mask.shape[1] == 0:  # leaves: c = 0, so W c and the bilinear term vanish
            h = torch.tanh(px)
            return h, Hidden(h)
        child_states, _ = self._padded_children(child_states, child_mask)
        c = child_states.h.flatten(1)  # (K, 2H)
        bilinear = torch.einsum("kc,hcd,kd->kh", c, self.V, c)  # (K, H)
        h = torch.tanh(px + c @ self.W.T + bilinear)
        return h, Hidden(h)
