"""A batch of trees as flat tensors, scheduled by height: what ``fold`` walks.

Book: 10.6 (a recursive network's computation runs leaves first; every node waits for its children).

Each tree is flattened once (:func:`flatten_tree`, numpy arrays over its nodes in post-order) and a batch is
built by concatenating flattened trees and sorting their nodes by *height* (0 for a leaf, 1 + the tallest
child otherwise), so that every node's children sit in earlier rows and each height is one contiguous slice
of rows: one batched cell call per height, whatever the number of trees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from recnets.core.tree import Tree, post_order

__all__ = ["FlatTree", "TreeBatch", "Routes", "flatten_tree", "batch_trees"]


@dataclass(frozen=True)
class FlatTree:
    """One tree's nodes in post-order (children before parent, the root last) as numpy arrays.

    Attributes:
        tokens: (n,) int64 token id of each node.
        children: (n, c) int64 post-order index of each child, -1 past a node's last child (c = the widest
            node's number of children, 0 for a single leaf).
        heights: (n,) int64 height of each node.
        targets: (n,) int64 per-node class target, -1 where the node has none.
    """

    tokens: np.ndarray
    children: np.ndarray
    heights: np.ndarray
    targets: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def leaf_positions(self) -> np.ndarray:
        """Post-order indices of the leaves, left to right."""
        if self.children.shape[1] == 0:
            return np.arange(self.num_nodes)
        return np.flatnonzero(self.children[:, 0] < 0)


def flatten_tree(tree: Tree, token_of: Callable[[Tree], int],
                 target_of: Callable[[Tree], int] | None = None) -> FlatTree:
    """``tree`` as a :class:`FlatTree`; ``token_of(node)`` gives each node's input token id and
    ``target_of(node)`` its class target (-1 for none; all -1 without it)."""
    if not isinstance(tree, Tree):
        raise TypeError(f"tree: expected a recnets Tree, got {type(tree).__name__}")
    nodes = list(post_order(tree))
    position = {id(node): index for index, node in enumerate(nodes)}
    width = max(len(node.children) for node in nodes)
    children = np.full((len(nodes), width), -1, dtype=np.int64)
    heights = np.zeros(len(nodes), dtype=np.int64)
    for index, node in enumerate(nodes):
        for slot, child in enumerate(node.children):
            children[index, slot] = position[id(child)]
        if node.children:
            heights[index] = 1 + heights[children[index, :len(node.children)]].max()
    tokens = np.fromiter((token_of(node) for node in nodes), dtype=np.int64, count=len(nodes))
    targets = (np.fromiter((target_of(node) for node in nodes), dtype=np.int64, count=len(nodes))
               if target_of is not None else np.full(len(nodes), -1, dtype=np.int64))
    return FlatTree(tokens, children, heights, targets)


@dataclass(frozen=True)
class Routes:
    """Where each level's new states go: every node feeds exactly one slot of its parent, so a level's states
    are permuted once and split by the parents' levels, and each level assembles its children from the pieces
    it received. ``fold`` then never gathers from, or writes into, a buffer of all N nodes (whose gradient
    would cost a full N-row pass per level).

    Attributes:
        order: per level s, (R_s,) int64 positions within level s of its nodes that have a parent, sorted by
            the parent's level, then by the slot; None when no node of level s has a parent.
        parent_levels: per level s, the parents' levels, ascending (one piece each).
        piece_sizes: per level s, the number of nodes going to each of those levels.
        slots: per level h, (K_h · C,) int64 index into the concatenation of the pieces level h received (in
            the order of their source levels) followed by one zero row, giving each child slot its state.
    """

    order: tuple[Tensor | None, ...]
    parent_levels: tuple[tuple[int, ...], ...]
    piece_sizes: tuple[tuple[int, ...], ...]
    slots: tuple[Tensor, ...]

    def to(self, device: torch.device | str, non_blocking: bool = True) -> "Routes":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Routes(tuple(move(t) for t in self.order), self.parent_levels, self.piece_sizes,
                      tuple(move(t) for t in self.slots))


def _routes(children: np.ndarray, real: np.ndarray, level_sizes: tuple[int, ...]) -> Routes:
    """The :class:`Routes` of a batch whose rows are sorted by level: ``children (N, C)`` rows, ``real`` mask."""
    starts = np.concatenate([[0], np.cumsum(level_sizes)])
    level_of = np.repeat(np.arange(len(level_sizes)), level_sizes)
    width = children.shape[1]
    parent, slot = np.nonzero(real)  # one edge per real child
    child = children[parent, slot]
    child_level, parent_level = level_of[child], level_of[parent]
    target = (parent - starts[parent_level]) * width + slot  # the slot's position in its level's (K_h · C)
    by_source = np.lexsort((target, parent_level, child_level))  # sorted by (source level, parent level, slot)
    order, parent_levels, piece_sizes = [], [], []
    for level in range(len(level_sizes)):
        edges = by_source[child_level[by_source] == level]
        if len(edges) == 0:
            order.append(None)
            parent_levels.append(())
            piece_sizes.append(())
            continue
        order.append(torch.from_numpy(child[edges] - starts[level]))
        levels, counts = np.unique(parent_level[edges], return_counts=True)
        parent_levels.append(tuple(int(v) for v in levels))
        piece_sizes.append(tuple(int(v) for v in counts))
    slots = []
    by_parent = np.lexsort((target, child_level, parent_level))  # a level's pieces arrive by source level
    for level in range(len(level_sizes)):
        edges = by_parent[parent_level[by_parent] == level]
        index = np.full(level_sizes[level] * width, len(edges), dtype=np.int64)  # the zero row after the pieces
        index[target[edges]] = np.arange(len(edges))
        slots.append(torch.from_numpy(index))
    return Routes(tuple(order), tuple(parent_levels), tuple(piece_sizes), tuple(slots))


@dataclass(frozen=True)
class TreeBatch:
    """B trees with N nodes in all, rows sorted by height (leaves first), then by tree, then post-order.

    Attributes:
        tokens: (N,) int64 token id of each row's node.
        children: (N, C) int64 row of each child; N (one past the last row: a zero state) where absent.
        child_mask: (N, C) bool, True where ``children`` names a real child.
        level_sizes: nodes at each height: level h is rows ``sum(level_sizes[:h]) : sum(level_sizes[:h+1])``.
        roots: (B,) int64 row of each tree's root.
        node_targets: (N,) int64 per-node class target, -1 where none.
        rows: (N,) int64 row of each node in input order: node j (post-order) of tree i is
            ``rows[offsets[i] + j]``.
        offsets: (B + 1,) int64 where each tree's nodes start in ``rows``.
        routes: how ``fold`` passes each level's states to the parents (:class:`Routes`).

    Lengths-like bookkeeping (``level_sizes``, ``offsets``) stays on the CPU; :meth:`to` moves the rest.
    """

    tokens: Tensor
    children: Tensor
    child_mask: Tensor
    level_sizes: tuple[int, ...]
    roots: Tensor
    node_targets: Tensor
    rows: Tensor
    offsets: Tensor
    routes: Routes

    def __len__(self) -> int:
        return int(self.roots.shape[0])

    @property
    def num_nodes(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def max_children(self) -> int:
        return int(self.children.shape[1])

    def level_slices(self) -> list[slice]:
        """The row slice of each height, leaves first."""
        bounds = np.concatenate([[0], np.cumsum(self.level_sizes)]).tolist()
        return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]

    def tree_rows(self, index: int) -> Tensor:
        """Rows of tree ``index``'s nodes in its post-order (the root last)."""
        return self.rows[int(self.offsets[index]):int(self.offsets[index + 1])]

    def to(self, device: torch.device | str, non_blocking: bool = True) -> "TreeBatch":
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return TreeBatch(move(self.tokens), move(self.children), move(self.child_mask), self.level_sizes,
                         move(self.roots), move(self.node_targets), move(self.rows), self.offsets,
                         self.routes.to(device, non_blocking))


def batch_trees(trees: Sequence[FlatTree], *, max_children: int | None = None) -> TreeBatch:
    """One :class:`TreeBatch` of ``trees`` (flattened trees, in order).

    Args:
        trees: B flattened trees (:func:`flatten_tree`).
        max_children: the most children a node may have (an N-ary cell's N); None accepts any. Children
            tensors are padded to this width when given.

    Raises:
        ValueError: an empty batch, or a node with more children than ``max_children`` (naming the tree).
    """
    if len(trees) == 0:
        raise ValueError("trees: expected at least one tree, got an empty batch")
    widest = max(tree.children.shape[1] for tree in trees)
    if max_children is not None:
        if widest > max_children:
            bad = next(i for i, tree in enumerate(trees) if tree.children.shape[1] > max_children)
            raise ValueError(f"trees: expected at most {max_children} children per node (the cell's N), got a "
                             f"node with {trees[bad].children.shape[1]} in tree {bad} (binarize the trees)")
        widest = max_children
    sizes = np.array([tree.num_nodes for tree in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])
    children = np.full((total, widest), -1, dtype=np.int64)
    for tree, start in zip(trees, offsets[:-1]):
        local = tree.children
        children[start:start + tree.num_nodes, :local.shape[1]] = np.where(local >= 0, local + start, -1)
    heights = np.concatenate([tree.heights for tree in trees])
    order = np.argsort(heights, kind="stable")  # by height; ties keep tree, then post-order
    rows = np.empty(total, dtype=np.int64)
    rows[order] = np.arange(total)
    sorted_children = children[order]
    real = sorted_children >= 0
    sorted_children = np.where(real, rows[np.maximum(sorted_children, 0)], total)
    level_sizes = tuple(int(n) for n in np.bincount(heights))
    return TreeBatch(
        tokens=torch.from_numpy(np.concatenate([tree.tokens for tree in trees])[order]),
        children=torch.from_numpy(sorted_children), child_mask=torch.from_numpy(real),
        level_sizes=level_sizes, roots=torch.from_numpy(rows[offsets[1:] - 1]),
        node_targets=torch.from_numpy(np.concatenate([tree.targets for tree in trees])[order]),
        rows=torch.from_numpy(rows), offsets=torch.from_numpy(offsets),
        routes=_routes(sorted_children, real, level_sizes))
