"""Labelled trees as tasks: vocabulary, seeded batches, per-node targets, the loss, floors and accuracy."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.cells.registry import make_cell, make_tree_cell
from recnets.core.fold import fold_recursively
from recnets.core.tree import Tree, parse_tree
from recnets.nets.patterns import SequenceToOne
from recnets.nets.tree_models import TreeClassifier
from recnets.tasks.tree_data import TokenSequenceTask, TokenVocabulary, TreeClassificationTask, accuracy, predictions

TREES = ["(MAX 2 9)", "(MIN 4 (MAX 1 3))", "(MAX 7 (MIN 8 5) 0)", "(MIN 6 6)", "(MAX 3 (MAX 2 1))"]


def splits():
    examples = [(parse_tree(text), index % 3) for index, text in enumerate(TREES)]
    return {"train": examples[:3], "valid": examples[3:4], "test": examples[3:]}


def test_vocabulary_ranks_labels_and_maps_the_unknown():
    vocabulary = TokenVocabulary.from_trees(tree for tree, _ in splits()["train"])
    assert vocabulary.tokens[:5] == ["<pad>", "<unk>", "<none>", "(", ")"]
    assert vocabulary.tokens[5:8] == ["MAX", "MIN", "0"]  # MAX x3, MIN x2, then singletons by name
    assert vocabulary.id_of("6") == vocabulary.UNK and vocabulary.id_of(None) == vocabulary.NONE
    ids = vocabulary.sequence(parse_tree("(MAX 2 9)"))
    assert [vocabulary.tokens[i] for i in ids] == ["(", "MAX", "2", "9", ")"]
    assert len(TokenVocabulary.from_trees([parse_tree(t) for t in TREES], max_size=2)) == 7


def test_tree_task_batches_are_seeded_and_carry_root_and_node_targets():
    data = splits()
    vocabulary = TokenVocabulary.from_trees(tree for tree, _ in data["train"])
    task = TreeClassificationTask(data, vocabulary, 3, batch_size=4, seed=5,
                                  node_target_of=lambda node: 2 if node.label == "MIN" else -1)
    first, again = task.train_batch(7), task.train_batch(7)
    assert torch.equal(first.inputs.tokens, again.inputs.tokens) and torch.equal(first.targets, again.targets)
    batch = next(task.eval_batches("train"))
    roots = batch.inputs.roots
    assert batch.targets[roots].tolist() == [0, 1, 2]  # the examples' classes at the roots
    assert int((batch.targets >= 0).sum()) == 4  # three roots and the inner MIN node of the third tree
    outputs = torch.zeros(batch.inputs.num_nodes, 3)
    total, count = task.loss(outputs, batch)
    assert count == 4 and math.isclose(float(total), 4 * math.log(3), rel_tol=1e-6)


def test_sequence_task_pads_and_scores_the_same_examples():
    data = splits()
    vocabulary = TokenVocabulary.from_trees(tree for tree, _ in data["train"])
    task = TokenSequenceTask(data, vocabulary, 3, eval_batch_size=8)
    batch = next(task.eval_batches("test"))
    assert batch.lengths.tolist() == [5, 9] and batch.inputs.shape == (2, 9)
    assert batch.inputs[0, 5:].eq(0).all() and batch.targets.tolist() == [0, 1]
    baselines = task.baselines()
    assert math.isclose(baselines["majority_loss"], math.log(3)) and baselines["majority_accuracy"] == 0.5


def test_tree_classifier_reads_the_root_and_accuracy_counts_roots():
    data = splits()
    vocabulary = TokenVocabulary.from_trees(tree for tree, _ in data["train"])
    task = TreeClassificationTask(data, vocabulary, 3)
    model = TreeClassifier(make_tree_cell("child-sum-tree-lstm", 3, 4), len(vocabulary), 3).double()
    guess, true = predictions(model, task, "test")
    batch = next(task.eval_batches("test"))
    for index, (tree, label) in enumerate(data["test"]):
        flat = task.flat["test"][index]
        alone = fold_recursively(model.cell, tree, model.embedding(torch.from_numpy(flat.tokens)))
        expected = model.readout(alone.outputs[-1]).argmax()
        assert int(guess[index]) == int(expected) and int(true[index]) == label
    assert accuracy(model, task, "test") == float((guess == true).double().mean())
    sequence_model = SequenceToOne(make_cell("lstm", 3, 4), 3, vocab_size=len(vocabulary))
    assert 0.0 <= accuracy(sequence_model, TokenSequenceTask(data, vocabulary, 3), "test") <= 1.0
    with pytest.raises(TypeError, match="batch: expected a TreeBatch"):
        model(torch.zeros(2, 3))
    assert batch.inputs.num_nodes == sum(tree.size() for tree, _ in data["test"])


def test_bad_examples_get_one_line_errors():
    data = splits()
    vocabulary = TokenVocabulary.from_trees(tree for tree, _ in data["train"])
    with pytest.raises(ValueError, match=r"splits\['train'\]\[1\]: expected a class in \[0, 3\), got 7"):
        TreeClassificationTask({**data, "train": [(Tree("a"), 0), (Tree("b"), 7)]}, vocabulary, 3)
    with pytest.raises(ValueError, match="missing"):
        TokenSequenceTask({"train": data["train"]}, vocabulary, 3)
    with pytest.raises(ValueError, match="expected at most 2 children per node, got 3"):
        TreeClassificationTask(data, vocabulary, 3, max_children=2)
    with pytest.raises(ValueError, match="batch_size: expected a positive integer, got 0"):
        TreeClassificationTask(data, vocabulary, 3, batch_size=0)
