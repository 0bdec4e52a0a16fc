"""Tree-LSTMs (Tai, Socher & Manning 2015): LSTM memory cells composed over a node's children.

Book: 10.6 (recursive nets), 10.10.1 (the LSTM's gated self-loop, here one forget gate per child).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.cells.lstm import LSTMState
from recnets.core.tree_cell import TreeCell

__all__ = ["ChildSumTreeLSTMCell", "NaryTreeLSTMCell"]


class _TreeLSTM(TreeCell):
    """Shared parameters: the input part W x + b of the four gates [i, o, u, f] for all nodes at once."""

    def __init__(self, input_size: int, hidden_size: int, *, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.W = uniform_parameter(4 * hidden_size, input_size, **factory)  # rows: i, o, u, f
        self.b = uniform_parameter(4 * hidden_size, **factory)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        zeros = torch.zeros(batch_size, self.hidden_size, device=device or self.W.device, dtype=dtype or self.W.dtype)
        return LSTMState(zeros, zeros.clone())

    def project(self, xs: Tensor) -> Tensor:
        return torch.nn.functional.linear(xs, self.W, self.b)  # (N, 4H)

    @staticmethod
    def _memory(iou: Tensor, kept: Tensor | None) -> tuple[Tensor, LSTMState]:
        """c = i ⊙ u + Σ_k f_k ⊙ c_k, h = o ⊙ tanh(c) from the pre-activations ``iou`` (K, 3H) and the kept
        memory ``kept`` = Σ_k f_k ⊙ c_k (K, H) (None for leaves, which have none)."""
        i, o, u = iou.chunk(3, 1)  # (K, H) each
        c = torch.sigmoid(i) * torch.tanh(u)  # (K, H)
        if kept is not None:
            c = c + kept
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)


class ChildSumTreeLSTMCell(_TreeLSTM):
    """The Child-Sum Tree-LSTM (Tai et al. 2015, eqs. 2-8), for any number of unordered children.

    h̃ = Σ_k h_k;  i = σ(W_i x + U_i h̃ + b_i);  f_k = σ(W_f x + U_f h_k + b_f);  o = σ(W_o x + U_o h̃ + b_o);
    u = tanh(W_u x + U_u h̃ + b_u);  c = i ⊙ u + Σ_k f_k ⊙ c_k;  h = o ⊙ tanh(c).

    Parameters:
        W (4H, D) and b (4H) for [i, o, u, f]; U_iou (3H, H); U_f (H, H).

    Shapes:
        combine: px (K, 4H), child states ``LSTMState(h, c)`` of (K, C, H) each -> y = h (K, H).

    Book: 10.6, 10.10.1.
    """

    max_children = None

    def __init__(self, input_size: int, hidden_size: int, *, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, device=device, dtype=dtype)
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U_iou = uniform_parameter(3 * hidden_size, hidden_size, **factory)
        self.U_f = uniform_parameter(hidden_size, hidden_size, **factory)

    def combine(self, px: Tensor, child_states: LSTMState, child_mask: Tensor,
                context: Any = None) -> tuple[Tensor, LSTMState]:
        px_iou, px_f = px.split([3 * self.hidden_size, self.hidden_size], 1)  # (K, 3H), (K, H)
        if child_mask.shape[1] == 0:  # leaves: no U term, no kept memory
            return self._memory(px_iou, None)
        h_sum = child_states.h.sum(1)  # (K, H): absent children are zero states
        f = torch.sigmoid(px_f.unsqueeze(1) + child_states.h @ self.U_f.T)  # (K, C, H)
        return self._memory(px_iou + h_sum @ self.U_iou.T, (f * child_states.c).sum(1))


class NaryTreeLSTMCell(_TreeLSTM):
    """The N-ary Tree-LSTM (Tai et al. 2015, eqs. 9-14): ordered children, one weight block per position.

    i = σ(W_i x + Σ_l U_i^(l) h_l + b_i);  f_k = σ(W_f x + Σ_l U_f^(kl) h_l + b_f);  o, u likewise;
    c = i ⊙ u + Σ_l f_l ⊙ c_l;  h = o ⊙ tanh(c).

    Parameters:
        W (4H, D) and b (4H) for [i, o, u, f]; U_iou (3H, N·H); U_f (N·H, N·H) (block (k, l) = U_f^(kl)).

    Shapes:
        combine: px (K, 4H), child states ``LSTMState(h, c)`` of (K, C, H) each with C ≤ N -> y = h (K, H).

    Book: 10.6, 10.10.1.
    """

    def __init__(self, input_size: int, hidden_size: int, *, max_children: int = 2, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, device=device, dtype=dtype)
        check_sizes(max_children=max_children)
        self.max_children = max_children
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U_iou = uniform_parameter(3 * hidden_size, max_children * hidden_size, **factory)
        self.U_f = uniform_parameter(max_children * hidden_size, max_children * hidden_size, **factory)

    def combine(self, px: Tensor, child_states: LSTMState, child_mask: Tensor,
                context: Any = None) -> tuple[Tensor, LSTMState]:
        px_iou, px_f = px.split([3 * self.hidden_size, self.hidden_size], 1)  # (K, 3H), (K, H)
        if child_mask.shape[1] == 0:  # leaves: no U term, no kept memory
            return self._memory(px_iou, None)
        child_states, _ = self._padded_children(child_states, child_mask)
        h_all = child_states.h.flatten(1)  # (K, N·H)
        f_pre = (h_all @ self.U_f.T).view(h_all.shape[0], self.max_children, self.hidden_size)  # (K, N, H)
        f = torch.sigmoid(px_f.unsqueeze(1) + f_pre)
        return self._memory(px_iou + h_all @ self.U_iou.T, (f * child_states.c).sum(1))
