"""The TreeCell protocol: one composition h = f(x, h_children; θ), applied at every node of a tree.

Book: 10.6 (a recursive network shares one composition function across all nodes, Fig. 10.14).
"""
from __future__ import annotations

import abc
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TreeCell"]


class TreeCell(nn.Module, abc.ABC):
    """Abstract composition of a node's input with its children's states; ``fold`` is the loop.

    A tree cell implements:

    - ``initial_state(batch_size, *, device, dtype) -> State``: zeros, the state of an absent child.
    - ``project(xs) -> px``: the input part for all nodes at once, ``xs (N, D) -> px (N, P)``.
    - ``combine(px, child_states, child_mask, context=None) -> (y, state)``: K nodes at once, ``px (K, P)``,
      ``child_states`` a state whose leaves are ``(K, C, ...)`` (absent children are zero states),
      ``child_mask (K, C)`` bool. A leaf is a node whose children are all absent; ``fold`` calls the leaves
      with C = 0 (no children at all), where the children's terms vanish and cost nothing.

    Attributes:
        input_size: D, the width of a node's input x.
        hidden_size: H, the width of h.
        max_children: N of an N-ary cell (children are positional: the first child, the second ...), or None
            for a cell that accepts any number (Child-Sum: children are summed).

    Book: 10.6.
    """

    input_size: int
    hidden_size: int
    max_children: int | None = None

    @abc.abstractmethod
    def initial_state(self, batch_size: int, *, device: torch.device | None = None,
                      dtype: torch.dtype | None = None) -> Any:
        """Zero states for ``batch_size`` nodes: what an absent child contributes."""

    def project(self, xs: Tensor) -> Tensor:
        """Input part for every node: ``xs (N, D) -> px (N, P)``. Identity by default."""
        return xs

    @abc.abstractmethod
    def combine(self, px: Tensor, child_states: Any, child_mask: Tensor, context: Any = None) -> tuple[Tensor, Any]:
        """K nodes' outputs ``y (K, H)`` and states from their projected inputs and children's states."""

    def _padded_children(self, child_states: Any, child_mask: Tensor) -> tuple[Any, Tensor]:
        """Children padded with zero states (and False in the mask) to ``max_children`` positions.

        Raises:
            ValueError: more children than ``max_children``.
        """
        from recnets.core.state import tree_map

        width = child_mask.shape[1]
        if self.max_children is None or width == self.max_children:
            return child_states, child_mask
        if width > self.max_children:
            raise ValueError(f"child_states: expected at most {self.max_children} children per node (an "
                             f"{self.max_children}-ary cell; binarize the trees), got {width}")
        extra = self.max_children - width

        def pad(leaf: Tensor) -> Tensor:
            return torch.cat([leaf, leaf.new_zeros((leaf.shape[0], extra, *leaf.shape[2:]))], 1)

        return tree_map(pad, child_states), torch.cat([child_mask, child_mask.new_zeros(child_mask.shape[0], extra)], 1)
