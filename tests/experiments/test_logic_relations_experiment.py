"""logic-relations' pair models: each pair's scores come from its own two formulas, composed as the plain
recursive evaluation does, and compared by the tensor layer's formula (float64 oracles)."""
from __future__ import annotations

import pytest
import torch

from recnets.cells.lstm import LSTMCell
from recnets.cells.recursive import RecursiveCell
from recnets.cells.tree_lstm import NaryTreeLSTMCell
from recnets.core.fold import fold_recursively
from recnets.core.tree import post_order
from recnets.experiments.logic_relations import Comparison, SequencePairClassifier, TreePairClassifier
from recnets.tasks.logic_relations import (LogicRelationsConfig, TokenPairTask, TreePairTask, binary_tree,
                                           make_logic_relations)


@pytest.fixture(scope="module")
def data():
    return make_logic_relations(LogicRelationsConfig(draws=1500, seed=2))


def test_comparison_is_the_neural_tensor_layer():
    torch.manual_seed(0)
    layer = Comparison(3, 4, 7).double()
    left, right = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    for i in range(5):
        y = torch.tanh(layer.b + layer.W @ torch.cat([left[i], right[i]])
                       + torch.stack([left[i] @ layer.T[k] @ right[i] for k in range(4)]))
        expected = layer.readout.V @ y + layer.readout.c
        assert torch.allclose(layer(left, right)[i], expected, atol=1e-12)


@pytest.mark.parametrize("cell", [RecursiveCell, NaryTreeLSTMCell])
def test_tree_pair_scores_compare_each_formulas_own_recursive_root(data, cell):
    torch.manual_seed(1)
    task = TreePairTask(data, eval_batch_size=6)
    model = TreePairClassifier(cell(4, 5, dtype=torch.float64), len(task.vocabulary), 3).double()
    batch = next(task.eval_batches("test"))
    scores, _ = model(batch.inputs)
    assert scores.shape == (6, 7)
    for row, pair in enumerate(task.pairs["test"][:6]):
        roots = []
        for formula in (pair.left, pair.right):
            tree = binary_tree(formula)
            tokens = torch.tensor([task.vocabulary.node_token(node) for node in post_order(tree)])
            roots.append(fold_recursively(model.cell, tree, model.embedding(tokens)).outputs[-1])
        expected = model.comparison(roots[0][None], roots[1][None])[0]
        assert torch.allclose(scores[row], expected, atol=1e-10)


def test_sequence_pair_scores_do_not_depend_on_the_other_pairs_in_the_batch(data):
    torch.manual_seed(2)
    task = TokenPairTask(data, batch_size=5, seed=4)
    model = SequencePairClassifier(LSTMCell(4, 6, dtype=torch.float64), len(task.vocabulary), 3).double()
    batch = task.train_batch(1)
    scores, _ = model(batch.inputs, lengths=batch.lengths)
    for row in range(5):
        pick = torch.tensor([row, 5 + row])
        length = int(batch.lengths[pick].max())
        alone, _ = model(batch.inputs[pick, :length], lengths=batch.lengths[pick])
        assert torch.allclose(scores[row], alone[0], atol=1e-10)


def test_pair_models_reject_an_odd_number_of_formulas(data):
    task = TokenPairTask(data, batch_size=2)
    model = SequencePairClassifier(LSTMCell(4, 6), len(task.vocabulary), 3)
    with pytest.raises(ValueError, match=r"^inputs: expected token ids \(2B, T\)"):
        model(torch.zeros(3, 4, dtype=torch.long))
