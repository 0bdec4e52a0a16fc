"""balanced-vs-chain: the path-length claim on untrained models, the gradient measure against per-sequence
autograd, and the tree model against the plain recursive evaluation. The --quick run is in test_quick.py."""
from __future__ import annotations

import pytest
import torch

from recnets.cells.elman import ElmanCell
from recnets.cells.recursive import RecursiveCell
from recnets.core.fold import fold_recursively
from recnets.experiments.balanced_vs_chain import BalancedTreeNet, input_gradient_norms
from recnets.nets.patterns import SequenceToOne
from recnets.tasks.balanced_trees import balanced_flat_tree, balanced_tree
from recnets.tasks.base import Batch
from recnets.tasks.memory_tasks import LatchingConfig, LatchingTask
from tests.conftest import EXACT


def latching_batch(T: int, size: int) -> Batch:
    return next(LatchingTask(LatchingConfig(T=T, eval_size=size, eval_batch_size=size)).eval_batches("test"))


def test_untrained_tree_reaches_the_first_input_through_log_T_levels_the_chain_through_T_steps():
    """Book 10.6: at T = 256 the tree's path from x(1) is 9 compositions, the chain's 256."""
    batch = latching_batch(256, 32)
    tree = input_gradient_norms(BalancedTreeNet(RecursiveCell(1, 16), 1), batch)  # (T,)
    chain = input_gradient_norms(SequenceToOne(ElmanCell(1, 16), 1), batch)  # (T,)
    # neither model is dead: the gradient reaches the inputs next to the output in both
    assert chain[-1] > 1e-3 and tree[-1] > 1e-8
    # the chain's gradient shrinks geometrically with the distance; every leaf of the tree is 8 levels down
    assert chain[0] < 1e-30 * chain[-1]
    assert tree.min() > 1e-4 * tree.max()
    assert tree[0] > 1e30 * chain[0]


def test_gradient_norms_are_the_mean_of_each_sequence_measured_alone():
    torch.manual_seed(0)
    batch = latching_batch(12, 5)
    for model in (BalancedTreeNet(RecursiveCell(1, 4), 1), SequenceToOne(ElmanCell(1, 4), 1)):
        together = input_gradient_norms(model, batch)  # (T,)
        alone = torch.stack([input_gradient_norms(model, Batch(batch.inputs[b:b + 1], batch.targets[b:b + 1]))
                             for b in range(5)]).mean(0)
        assert torch.allclose(together, alone, rtol=EXACT, atol=0)
        assert together.dtype == torch.float64 and next(model.parameters()).dtype == torch.float32  # a copy


@pytest.mark.parametrize("T", [1, 7, 16])
def test_tree_model_reads_the_root_of_the_plain_recursive_evaluation(T):
    cell = RecursiveCell(2, 3)
    model = BalancedTreeNet(cell, 2).double()
    xs = torch.randn(3, T, 2, dtype=torch.float64)
    outputs, state = model(xs)
    assert outputs.shape == (3, 2) and state is None
    for b in range(3):
        post = torch.zeros(2 * T - 1, 2, dtype=torch.float64)  # post-order inputs, 0 at inner nodes
        post[torch.from_numpy(balanced_flat_tree(T).leaf_positions)] = xs[b]
        root = fold_recursively(cell, balanced_tree(T), post).outputs[-1]
        assert torch.allclose(outputs[b], model.readout(root), rtol=0, atol=EXACT)


def test_tree_model_rejects_lengths_and_flat_inputs():
    model = BalancedTreeNet(RecursiveCell(1, 2), 1)
    with pytest.raises(ValueError, match=r"^lengths: expected None .*got a tensor of shape \(2,\)$"):
        model(torch.zeros(2, 4, 1), lengths=torch.tensor([4, 3]))
    with pytest.raises(ValueError, match=r"^inputs: expected shape \(B, T, D\), got \(2, 4\)$"):
        model(torch.zeros(2, 4))
