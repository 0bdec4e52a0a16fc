"""A flat sequence read as a balanced binary tree: the shortcut of Book 10.6 from a path of τ steps to ⌈log2 τ⌉.

Book: 10.6 ("the depth (measured as the number of compositions of nonlinear operations) can be drastically
reduced from τ to O(log τ)", when a recursive network reads a sequence through a balanced tree).

The tree over positions 0..T-1 splits every span of n positions into a left part of ⌈n/2⌉ and a right part of
⌊n/2⌋ until single positions remain: its leaves are the T positions in order, its T - 1 inner nodes have
exactly two children, and its height is ⌈log2 T⌉ (a span of n splits into at most ⌈n/2⌉, and
⌈⌈n/2⌉/2⌉ = ⌈n/4⌉). For T a power of two it is the perfect tree that pairs neighbours level by level.

Every sequence of length T has the same tree, so it is flattened once and batched once per (B, T)
(:func:`sequence_tree`, cached); a model scatters each sequence's inputs ``xs (B, T, D)`` onto the leaves'
rows (:meth:`SequenceTree.node_inputs`; inner nodes get x = 0) and folds a tree cell over the batch. The
tasks themselves are the chain tasks unchanged (e.g. :class:`~recnets.tasks.memory_tasks.LatchingTask`):
the same batches feed a chain RNN and the tree model.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from recnets.core.tree import Tree
from recnets.core.tree_batch import FlatTree, TreeBatch, batch_trees, flatten_tree

__all__ = ["balanced_tree", "balanced_height", "balanced_flat_tree", "SequenceTree", "sequence_tree"]


def _check_length(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def balanced_height(T: int) -> int:
    """⌈log2 T⌉: the height of :func:`balanced_tree` ``(T)``, the longest path from a leaf to the root."""
    _check_length("T", T)
    return (T - 1).bit_length()  # exact for every T (no float log)


def balanced_tree(T: int) -> Tree:
    """The balanced binary tree over positions 0..T-1: leaves labelled ``"0" .. "T-1"`` left to right, inner
    nodes unlabelled, every span of n split into ⌈n/2⌉ (left) and ⌊n/2⌋ (right).

    Book: 10.6.
    """
    _check_length("T", T)
    # Bottom-up over the spans of each level (no recursion): level k holds the spans that the top-down
    # splitting reaches after k splits; build the deepest level first.
    levels: list[list[tuple[int, int]]] = [[(0, T)]]
    while any(stop - start > 1 for start, stop in levels[-1]):
        below = []
        for start, stop in levels[-1]:
            if stop - start > 1:
                middle = start + (stop - start + 1) // 2
                below.extend([(start, middle), (middle, stop)])
        levels.append(below)
    built: dict[tuple[int, int], Tree] = {(t, t + 1): Tree(str(t)) for t in range(T)}
    for spans in reversed(levels):
        for start, stop in spans:
            if (start, stop) not in built:
                middle = start + (stop - start + 1) // 2
                built[(start, stop)] = Tree(None, (built[(start, middle)], built[(middle, stop)]))
    return built[(0, T)]


def balanced_flat_tree(T: int) -> FlatTree:
    """:func:`balanced_tree` ``(T)`` flattened in post-order; a leaf's token is its position + 1, an inner
    node's 0 (so ``tokens - 1`` at ``leaf_positions`` is 0..T-1). Cached: do not modify the arrays."""
    return _balanced_flat_tree(_check_length("T", T))


@functools.lru_cache(maxsize=32)
def _balanced_flat_tree(T: int) -> FlatTree:
    return flatten_tree(balanced_tree(T), lambda node: 0 if node.label is None else int(node.label) + 1)


@dataclass(frozen=True)
class SequenceTree:
    """B copies of the balanced tree over T positions, batched for ``fold``, with the row of every leaf.

    Attributes:
        batch: the :class:`TreeBatch` of B trees of 2T - 1 nodes each.
        leaf_rows: (B, T) int64, the batch row of position t of sequence i.
    """

    batch: TreeBatch
    leaf_rows: Tensor

    @property
    def T(self) -> int:  # noqa: N802 - the sequence length's letter
        return int(self.leaf_rows.shape[1])

    def node_inputs(self, xs: Tensor) -> Tensor:
        """Each node's input in the batch's row order: the sequences' inputs at the leaves, 0 at inner nodes.

        Shapes:
            xs (B, T, D) -> (N, D), N = B (2T - 1). Differentiable in ``xs``.

        Raises:
            ValueError: ``xs`` not of shape (B, T, D) for this tree's B and T.
        """
        batch_size, length = self.leaf_rows.shape
        if xs.dim() != 3 or xs.shape[:2] != (batch_size, length):
            raise ValueError(f"xs: expected shape ({batch_size}, {length}, D), got {tuple(xs.shape)}")
        rows = self.leaf_rows.to(xs.device).reshape(-1)  # (B·T,)
        zeros = xs.new_zeros(self.batch.num_nodes, xs.shape[2])  # (N, D)
        return zeros.index_put((rows,), xs.reshape(-1, xs.shape[2]))  # (N, D)


def sequence_tree(batch_size: int, T: int) -> SequenceTree:
    """The balanced tree over T positions for a batch of ``batch_size`` sequences (cached per (B, T): the
    tensors are shared, do not modify them).

    Book: 10.6.
    """
    # validated before the cache, which would take 2.0 or True for the cached 2 or 1
    return _sequence_tree(_check_length("batch_size", batch_size), _check_length("T", T))


@functools.lru_cache(maxsize=16)
def _sequence_tree(batch_size: int, T: int) -> SequenceTree:
    flat = _balanced_flat_tree(T)
    batch = batch_trees([flat] * batch_size, max_children=2)
    # Node j (post-order) of tree i sits at rows[offsets[i] + j]; every tree has the same 2T - 1 nodes.
    rows = batch.rows.reshape(batch_size, flat.num_nodes)  # (B, 2T - 1)
    leaf_rows = rows[:, torch.from_numpy(flat.leaf_positions)]  # (B, T)
    return SequenceTree(batch, leaf_rows.contiguous())
