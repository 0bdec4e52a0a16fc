"""The tree engine: every node of a batch of trees, one batched cell call per height.

Book: 10.6 (a recursive network over a tree of τ leaves has depth as small as O(log τ), against τ for a chain;
the composition runs leaves first and shares its parameters across all nodes, Fig. 10.14).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from recnets.core.state import tree_map
from recnets.core.tree import Tree, post_order
from recnets.core.tree_batch import TreeBatch
from recnets.core.tree_cell import TreeCell

__all__ = ["Folded", "fold", "fold_recursively"]


class Folded(NamedTuple):
    """What ``fold`` returns: the emitted ``outputs`` (N, ...) and ``states`` (leaves (N, ...)) of every node,
    in the batch's row order; ``outputs[batch.roots]`` are the trees' root outputs (B, ...)."""

    outputs: Tensor
    states: Any


def _zeros_like_state(cell: TreeCell, rows: int, xs: Tensor) -> Any:
    """Zero states for ``rows`` nodes, shaped like the cell's state."""
    template = cell.initial_state(1, device=xs.device, dtype=xs.dtype)
    return tree_map(lambda leaf: leaf.new_zeros((rows, *leaf.shape[1:])), template)


def fold(cell: TreeCell, batch: TreeBatch, xs: Tensor, context: Any = None) -> Folded:
    """Run ``cell`` over every node of ``batch``: the leaves first, then each height in one call.

    Args:
        cell: a :class:`TreeCell`.
        batch: B trees with N nodes (:func:`~recnets.core.tree_batch.batch_trees`).
        xs: (N, D) each node's input, in the batch's row order (e.g. ``embedding(batch.tokens)``).
        context: read-only data passed to every ``combine`` call.

    Returns:
        :class:`Folded` with outputs (N, H) and states (N, ...).

    Raises:
        ValueError: ``xs`` not of shape (N, D), or a node with more children than an N-ary cell accepts.

    The cell is called ``len(batch.level_sizes)`` times (the tallest tree's height + 1), whatever B is.
    Each node feeds exactly one slot of its parent (``batch.routes``): a level's new states are permuted
    once and split by the parents' levels, and a level assembles its children's states from the pieces it
    received plus a zero row for absent children. No step touches all N rows, so the backward pass costs
    O(N) in all, not O(N) per level.

    Book: 10.6.
    """
    num_nodes = batch.num_nodes
    if xs.dim() != 2 or xs.shape[0] != num_nodes or xs.shape[1] != cell.input_size:
        raise ValueError(f"xs: expected node inputs of shape ({num_nodes}, {cell.input_size}), "
                         f"got {tuple(xs.shape)}")
    if cell.max_children is not None and batch.max_children > cell.max_children:
        raise ValueError(f"batch: expected at most {cell.max_children} children per node "
                         f"({type(cell).__name__} is {cell.max_children}-ary; binarize the trees), got "
                         f"{batch.max_children}")
    # One split, not a slice per level: a slice's backward writes a zero gradient of all N rows each time.
    px_levels = cell.project(xs).split(batch.level_sizes)  # (K_h, P) per level
    zero = _zeros_like_state(cell, 1, xs)  # an absent child
    child_mask = batch.child_mask.to(xs.device)
    routes, width = batch.routes, batch.max_children
    inbox: list[list[Any]] = [[] for _ in batch.level_sizes]  # states delivered to each level by lower ones
    outputs, states = [], []
    for level, rows in enumerate(batch.level_slices()):
        size = rows.stop - rows.start
        pieces, inbox[level] = inbox[level], []

        def children_of(*leaves: Tensor) -> Tensor:  # pieces then the zero row -> (K, C, ...)
            return torch.cat(leaves)[routes.slots[level]].view(size, width, *leaves[0].shape[1:])

        if pieces:
            child_states, mask = tree_map(children_of, *pieces, zero), child_mask[rows]
        else:  # the leaves (height 0): no children at all, so the cell does no work on absent ones
            child_states = tree_map(lambda leaf: leaf.new_zeros((size, 0, *leaf.shape[1:])), zero)
            mask = child_mask[rows][:, :0]
        y, state = cell.combine(px_levels[level], child_states, mask, context)
        outputs.append(y)
        states.append(state)
        if routes.order[level] is not None:  # each node to its parent's slot: one permutation, split by level
            moved = tree_map(lambda leaf: leaf[routes.order[level]], state)  # (R, ...) by parent level, slot
            start = 0
            for parent_level, count in zip(routes.parent_levels[level], routes.piece_sizes[level]):
                inbox[parent_level].append(tree_map(lambda leaf: leaf.narrow(0, start, count), moved))
                start += count
    return Folded(torch.cat(outputs), tree_map(lambda *leaves: torch.cat(leaves), *states))


def fold_recursively(cell: TreeCell, tree: Tree, xs: Tensor, context: Any = None) -> Folded:
    """The plain recursive evaluation: one ``combine`` call per node, children before their parent.

    The oracle that :func:`fold` is tested against and the one-tree-at-a-time baseline of the benchmark.

    Args:
        xs: (n, D) the inputs of ``tree``'s n nodes in post-order (children before parent, root last).

    Returns:
        :class:`Folded` with outputs (n, H) and states (n, ...) in post-order.

    Book: 10.6.
    """
    nodes = list(post_order(tree))
    if xs.dim() != 2 or xs.shape[0] != len(nodes):
        raise ValueError(f"xs: expected ({len(nodes)}, D) inputs, one per node, got {tuple(xs.shape)}")
    index = {id(node): i for i, node in enumerate(nodes)}
    zero = _zeros_like_state(cell, 1, xs)
    outputs: list[Tensor] = []
    states: list[Any] = []
    for i, node in enumerate(nodes):
        kids = [states[index[id(child)]] for child in node.children] or [zero]
        child_states = tree_map(lambda *leaves: torch.stack(leaves, 1), *kids)  # leaves (1, C, ...)
        mask = torch.tensor([[bool(node.children)] * len(kids)], device=xs.device)  # (1, C)
        y, state = cell.combine(cell.project(xs[i:i + 1]), child_states, mask, context)
        outputs.append(y)
        states.append(state)
    return Folded(torch.cat(outputs), tree_map(lambda *leaves: torch.cat(leaves), *states))
