"""The balanced binary tree over a sequence: height ⌈log2 T⌉, leaves in order, the split rule, the flat form and
the batched form, and fold over it against the plain recursive evaluation and the level-by-level pairing."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.cells.recursive import RecursiveCell
from recnets.core.fold import fold, fold_recursively
from recnets.core.tree import post_order
from recnets.tasks.balanced_trees import balanced_flat_tree, balanced_height, balanced_tree, sequence_tree
from tests.conftest import EXACT

LENGTHS = [*range(1, 70), 100, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 4096]


def leaf_count(node) -> int:
    return sum(1 for n in post_order(node) if n.is_leaf)


@pytest.mark.parametrize("T", LENGTHS)
def test_height_is_ceil_log2_T_and_leaves_are_the_positions_in_order(T):
    tree = balanced_tree(T)
    expected = math.ceil(math.log2(T)) if T > 1 else 0
    assert tree.height() == expected == balanced_height(T)
    assert [leaf.label for leaf in tree.leaves()] == [str(t) for t in range(T)]
    assert tree.size() == 2 * T - 1
    inner = [node for node in post_order(tree) if not node.is_leaf]
    assert all(node.label is None and len(node.children) == 2 for node in inner)


@pytest.mark.parametrize("T", [5, 6, 7, 37, 100, 1000])
def test_every_span_splits_into_its_larger_half_on_the_left(T):
    for node in post_order(balanced_tree(T)):
        if not node.is_leaf:
            n = leaf_count(node)
            assert (leaf_count(node.children[0]), leaf_count(node.children[1])) == ((n + 1) // 2, n // 2)


@pytest.mark.parametrize("k", range(0, 11))
def test_a_power_of_two_gives_the_perfect_tree(k):
    tree = balanced_tree(2**k)
    depths = {}
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.is_leaf:
            depths[node.label] = depth
        stack.extend((child, depth + 1) for child in node.children)
    assert set(depths.values()) == {k}


@pytest.mark.parametrize("T", [1, 2, 3, 10, 64, 100])
def test_flat_tree_tokens_are_positions_plus_one_at_the_leaves_and_zero_inside(T):
    flat = balanced_flat_tree(T)
    assert flat.num_nodes == 2 * T - 1
    assert flat.tokens[flat.leaf_positions].tolist() == list(range(1, T + 1))
    inner = [i for i in range(flat.num_nodes) if i not in set(flat.leaf_positions.tolist())]
    assert (flat.tokens[inner] == 0).all()
    assert int(flat.heights.max()) == balanced_height(T) and int(flat.heights[-1]) == balanced_height(T)


@pytest.mark.parametrize("B, T", [(1, 1), (3, 5), (4, 16), (2, 33)])
def test_node_inputs_put_each_sequence_on_its_own_tree_leaves_in_order(B, T):
    tree = sequence_tree(B, T)
    flat = balanced_flat_tree(T)
    assert len(tree.batch) == B and tree.batch.num_nodes == B * (2 * T - 1) and tree.T == T
    assert len(tree.batch.level_sizes) == balanced_height(T) + 1
    xs = torch.randn(B, T, 3, dtype=torch.float64)
    nodes = tree.node_inputs(xs)  # (N, 3)
    for i in range(B):
        rows = tree.batch.tree_rows(i)  # post-order rows of tree i
        assert torch.equal(tree.leaf_rows[i], rows[torch.from_numpy(flat.leaf_positions)])
        assert torch.equal(nodes[tree.leaf_rows[i]], xs[i])
    inner = torch.ones(tree.batch.num_nodes, dtype=torch.bool)
    inner[tree.leaf_rows.reshape(-1)] = False
    assert int(inner.sum()) == B * (T - 1) and (nodes[inner] == 0).all()


@pytest.mark.parametrize("T", [1, 6, 13, 32])
def test_fold_over_the_sequence_tree_equals_the_plain_recursive_evaluation(T):
    B, D, H = 3, 2, 4
    cell = RecursiveCell(D, H).double()
    xs = torch.randn(B, T, D, dtype=torch.float64)
    tree = sequence_tree(B, T)
    roots = fold(cell, tree.batch, tree.node_inputs(xs)).outputs[tree.batch.roots]  # (B, H)
    shape = balanced_tree(T)
    for i in range(B):
        post = torch.zeros(2 * T - 1, D, dtype=torch.float64)  # post-order node inputs, 0 inside
        post[torch.from_numpy(balanced_flat_tree(T).leaf_positions)] = xs[i]
        expected = fold_recursively(cell, shape, post).outputs[-1]  # the root comes last
        assert torch.allclose(roots[i], expected, rtol=0, atol=EXACT)


@pytest.mark.parametrize("T", [2, 8, 64])
def test_a_power_of_two_folds_as_neighbours_paired_level_by_level(T):
    B, D, H = 2, 1, 3
    cell = RecursiveCell(D, H).double()
    xs = torch.randn(B, T, D, dtype=torch.float64)
    h = torch.tanh(xs @ cell.U.T + cell.b)  # (B, T, H): the leaves
    while h.shape[1] > 1:  # h = tanh(b + W [h_2k; h_2k+1]): pair neighbours
        h = torch.tanh(torch.cat([h[:, 0::2], h[:, 1::2]], -1) @ cell.W.T + cell.b)
    tree = sequence_tree(B, T)
    roots = fold(cell, tree.batch, tree.node_inputs(xs)).outputs[tree.batch.roots]
    assert torch.allclose(roots, h[:, 0], rtol=0, atol=EXACT)


def test_node_inputs_are_differentiable_in_the_sequence():
    xs = torch.randn(2, 5, 1, dtype=torch.float64, requires_grad=True)
    tree = sequence_tree(2, 5)
    weights = torch.randn(tree.batch.num_nodes, 1, dtype=torch.float64)
    (tree.node_inputs(xs) * weights).sum().backward()
    assert torch.equal(xs.grad, weights[tree.leaf_rows])


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "8"])
def test_bad_lengths_raise_one_line_errors(bad):
    for call in (balanced_tree, balanced_height, balanced_flat_tree, lambda T: sequence_tree(2, T)):
        with pytest.raises(ValueError, match=r"^T: expected a positive integer, got") as error:
            call(bad)
        assert "\n" not in str(error.value)


def test_bad_batch_size_and_inputs_raise_one_line_errors():
    with pytest.raises(ValueError, match=r"^batch_size: expected a positive integer, got 0$"):
        sequence_tree(0, 4)
    with pytest.raises(ValueError, match=r"^xs: expected shape \(2, 4, D\), got \(2, 5, 1\)$"):
        sequence_tree(2, 4).node_inputs(torch.zeros(2, 5, 1))
