"""``fold`` against the plain recursive evaluation, node by node, in float64; one cell call per level; batch
composition does not matter; bad input gets one-line errors."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_exact
from recnets.cells.registry import TREE_CELLS, make_tree_cell
from recnets.core.fold import fold, fold_recursively
from recnets.core.tree import Tree, binarize
from recnets.core.tree_batch import batch_trees, flatten_tree

D, H, VOCAB = 3, 4, 6


def random_tree(rng: random.Random, depth: int = 0, widest: int = 4) -> Tree:
    if depth >= 5 or rng.random() < 0.35:
        return Tree(str(rng.randrange(VOCAB)))
    return Tree(rng.choice([None, str(rng.randrange(VOCAB))]),
                tuple(random_tree(rng, depth + 1, widest) for _ in range(rng.randint(1, widest))))


def token_of(node: Tree) -> int:
    return 0 if node.label is None else int(node.label)


def trees_for(name: str, seed: int, count: int) -> list[Tree]:
    rng = random.Random(seed)
    trees = [random_tree(rng) for _ in range(count)]
    return trees if make_tree_cell(name, D, H).max_children is None else [binarize(t) for t in trees]


@pytest.mark.parametrize("name", list(TREE_CELLS))
@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), count=st.integers(1, 6))
def test_fold_equals_recursive_evaluation_node_by_node(name, seed, count):
    torch.manual_seed(seed)
    cell = make_tree_cell(name, D, H).double()
    embedding = torch.nn.Embedding(VOCAB, D).double()
    trees = trees_for(name, seed, count)
    flats = [flatten_tree(tree, token_of) for tree in trees]
    batch = batch_trees(flats)
    folded = fold(cell, batch, embedding(batch.tokens))
    weights = torch.randn(folded.outputs.shape, dtype=torch.float64)
    (folded.outputs * weights).sum().backward()
    every = [*cell.parameters(), embedding.weight]
    batched_grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in every]  # None: unused
    for p in [*cell.parameters(), embedding.weight]:
        p.grad = None
    total = 0.0
    for index, tree in enumerate(trees):
        rows = batch.tree_rows(index)
        alone = fold_recursively(cell, tree, embedding(torch.from_numpy(flats[index].tokens)))
        assert_exact(folded.outputs[rows], alone.outputs)
        assert_exact(type(alone.states)(*(leaf[rows] for leaf in folded.states)), alone.states)
        total = total + (alone.outputs * weights[rows]).sum()
    total.backward()
    assert_exact([torch.zeros_like(p) if p.grad is None else p.grad for p in every], batched_grads)


class CountingCell(torch.nn.Module):
    """Wraps a tree cell and counts ``combine`` calls."""

    def __init__(self, cell):
        super().__init__()
        self.cell, self.calls = cell, 0
        self.input_size, self.hidden_size, self.max_children = cell.input_size, cell.hidden_size, cell.max_children

    def initial_state(self, *args, **kwargs):
        return self.cell.initial_state(*args, **kwargs)

    def project(self, xs):
        return self.cell.project(xs)

    def combine(self, *args):
        self.calls += 1
        return self.cell.combine(*args)


def test_a_thousand_trees_cost_one_call_per_level():
    rng = random.Random(1)
    trees = [random_tree(rng) for _ in range(1000)]
    cell = CountingCell(make_tree_cell("child-sum-tree-lstm", D, H))
    batch = batch_trees([flatten_tree(tree, token_of) for tree in trees])
    folded = fold(cell, batch, torch.randn(batch.num_nodes, D, requires_grad=True))
    tallest = max(tree.height() for tree in trees)
    assert cell.calls == tallest + 1 == len(batch.level_sizes)
    assert batch.num_nodes == sum(tree.size() for tree in trees) > 5000
    folded.outputs[batch.roots].sum().backward()  # gradients reach every node's input
    assert batch.level_sizes[0] == sum(len(tree.leaves()) for tree in trees)


def test_a_tree_does_not_depend_on_its_batch_mates():
    rng = random.Random(2)
    cell = make_tree_cell("nary-tree-lstm", D, H).double()
    trees = [binarize(random_tree(rng)) for _ in range(9)]
    flats = [flatten_tree(tree, token_of) for tree in trees]
    embedding = torch.randn(VOCAB, D, dtype=torch.float64)
    whole = batch_trees(flats)
    together = fold(cell, whole, embedding[whole.tokens]).outputs
    for index in (0, 4, 8):
        alone_batch = batch_trees([flats[index]])
        alone = fold(cell, alone_batch, embedding[alone_batch.tokens]).outputs
        others = batch_trees([flats[index], *reversed(flats[:index])])
        mixed = fold(cell, others, embedding[others.tokens]).outputs
        assert torch.allclose(together[whole.tree_rows(index)], alone[alone_batch.tree_rows(0)], atol=1e-12)
        assert torch.allclose(mixed[others.tree_rows(0)], alone[alone_batch.tree_rows(0)], atol=1e-12)


def test_batch_layout():
    tree = Tree("r", (Tree("a"), Tree("s", (Tree("b"), Tree("c")))))
    batch = batch_trees([flatten_tree(tree, lambda n: ord(n.label)), flatten_tree(Tree("z"), lambda n: ord(n.label))])
    assert batch.level_sizes == (4, 1, 1) and len(batch) == 2 and batch.num_nodes == 6
    assert [chr(t) for t in batch.tokens.tolist()] == ["a", "b", "c", "z", "s", "r"]
    assert batch.roots.tolist() == [5, 3]
    assert batch.children.tolist() == [[6, 6], [6, 6], [6, 6], [6, 6], [1, 2], [0, 4]]
    assert batch.child_mask.sum().item() == 4
    assert [chr(batch.tokens[r]) for r in batch.tree_rows(0).tolist()] == ["a", "b", "c", "s", "r"]
    assert np.array_equal(flatten_tree(tree, lambda n: 0).leaf_positions, [0, 1, 2])


def test_bad_input_gets_one_line_errors():
    wide = flatten_tree(Tree("f", (Tree("a"), Tree("b"), Tree("c"))), lambda n: 0)
    with pytest.raises(ValueError, match="trees: expected at least one tree, got an empty batch"):
        batch_trees([])
    with pytest.raises(ValueError, match=r"expected at most 2 children per node \(the cell's N\), got a node with 3 "
                                         r"in tree 0 \(binarize the trees\)"):
        batch_trees([wide], max_children=2)
    batch = batch_trees([wide])
    with pytest.raises(ValueError, match=r"NaryTreeLSTMCell is 2-ary; binarize the trees\), got 3"):
        fold(make_tree_cell("nary-tree-lstm", D, H), batch, torch.zeros(4, D))
    with pytest.raises(ValueError, match=r"xs: expected node inputs of shape \(4, 3\), got \(3, 3\)"):
        fold(make_tree_cell("child-sum-tree-lstm", D, H), batch, torch.zeros(3, D))
    with pytest.raises(ValueError, match="cell: expected one of recursive, rntn"):
        make_tree_cell("tree-gru", D, H)
