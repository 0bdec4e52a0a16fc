"""String reversal: targets are the strings reversed (checked with Python's list reversal), seeded batches."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.tasks.string_reversal import StringReversalConfig, StringReversalTask, reversal_batch, score_outputs


def _check(batch, task):
    for row, length in enumerate(batch.lengths.tolist()):
        source = batch.inputs[row, :length].tolist()
        assert all(4 <= s < task.vocab_size for s in source)
        assert batch.inputs[row, length:].eq(0).all()
        assert batch.targets[row].tolist() == source[::-1] + [2] + [0] * (batch.targets.shape[1] - length - 1)
        assert batch.mask[row].tolist() == [True] * (length + 1) + [False] * (batch.targets.shape[1] - length - 1)


def test_training_batches_are_reversals_seeded_and_in_range():
    task = StringReversalTask(StringReversalConfig(alphabet=6, train_lengths=(3, 7), batch_size=40, seed=3))
    first = task.train_batch(5)
    _check(first, task)
    assert first.lengths.min() >= 3 and first.lengths.max() <= 7 and len(set(first.lengths.tolist())) > 2
    again = task.train_batch(5)
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(task.train_batch(6).inputs[:, :3], first.inputs[:, :3])
    other_seed = StringReversalTask(StringReversalConfig(alphabet=6, train_lengths=(3, 7), batch_size=40, seed=4))
    assert not torch.equal(other_seed.train_batch(5).inputs[:, :3], first.inputs[:, :3])


def test_held_out_buckets_one_length_each():
    task = StringReversalTask(StringReversalConfig(train_lengths=(5, 8), test_lengths=(5, 12), per_length=7))
    valid, test = list(task.eval_batches("valid")), list(task.eval_batches("test"))
    assert [int(b.lengths[0]) for b in valid] == [5, 6, 7, 8]
    assert [int(b.lengths[0]) for b in test] == list(range(5, 13))
    for batch in valid + test:
        assert batch.lengths.eq(batch.lengths[0]).all() and batch.inputs.shape == (7, int(batch.lengths[0]))
        _check(batch, task)
    assert torch.equal(task.bucket("test", 9).inputs, test[4].inputs)
    assert not torch.equal(task.bucket("valid", 6).inputs, task.bucket("test", 6).inputs)


def test_loss_and_scores():
    task = StringReversalTask(StringReversalConfig(alphabet=4))
    batch = reversal_batch(torch.tensor([[4, 5, 6], [7, 4, 0]]), torch.tensor([3, 2]))
    logits = torch.randn(2, 4, 8)
    total, count = task.loss(logits, batch)
    expected = sum(-torch.log_softmax(logits[b, t], -1)[batch.targets[b, t]] for b, t in
                   [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2)])
    assert count == 7 and torch.allclose(total, expected)
    exact, accuracy = score_outputs([[6, 5, 4], [4, 7, 5]], batch)
    assert exact == [True, False] and accuracy == [1.0, 2 / 3]
    assert task.baselines()["uniform_nll"] == pytest.approx(math.log(4) * sum(range(5, 31)) / (sum(range(5, 31)) + 26))


def test_bad_config():
    with pytest.raises(ValueError, match="alphabet: expected an integer in"):
        StringReversalConfig(alphabet=30)
    with pytest.raises(ValueError, match="train_lengths: expected"):
        StringReversalConfig(train_lengths=(9, 3))
    with pytest.raises(ValueError, match="split: expected"):
        StringReversalTask().bucket("train", 5)
