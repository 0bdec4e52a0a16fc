"""The digit recurrence task (Book 10.2.1): targets against the rule written out in plain Python, the shared
seq2seq batch layout, pure (seed, step) batches, fixed held-out sets, the loss written out, one-line errors."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.tasks.digit_recurrence import (BOS, DIGIT_OFFSET, EOS, PAD, VOCAB_SIZE, DigitRecurrenceConfig,
                                            DigitRecurrenceTask, digit_recurrence)

SMALL = dict(length=9, order=2, period=3, batch_size=16, eval_size=40, eval_batch_size=16)


def rule(seeds: list[int], increments: list[int], length: int) -> list[int]:
    """The recurrence, one row, from its definition: y(t) = (y(t-1) + ... + y(t-r) + c[(t-1) mod k]) mod 10."""
    y = {t: digit for t, digit in zip(range(1 - len(seeds), 1), seeds)}  # y(1-r..0)
    for t in range(1, length + 1):
        y[t] = (sum(y[t - j] for j in range(1, len(seeds) + 1)) + increments[(t - 1) % len(increments)]) % 10
    return [y[t] for t in range(1, length + 1)]


def test_a_hand_worked_example():
    # seeds 3, 4; increments 5, 0: y = 3+4+5=2, 4+2+0=6, 2+6+5=3, 6+3+0=9
    assert digit_recurrence(torch.tensor([[3, 4]]), torch.tensor([[5, 0]]), 4).tolist() == [[2, 6, 3, 9]]


@pytest.mark.parametrize("order, period", [(1, 1), (2, 3), (3, 2)])
def test_batches_follow_the_rule_and_the_seq2seq_layout(order, period):
    task = DigitRecurrenceTask(DigitRecurrenceConfig(**{**SMALL, "order": order, "period": period}))
    batch = task.train_batch(5)
    S, T = order + period, SMALL["length"]
    assert batch.inputs.shape == (16, S) and batch.inputs.dtype == torch.int64
    assert batch.targets.shape == (16, T + 1) and batch.mask.shape == (16, T + 1) and bool(batch.mask.all())
    assert batch.lengths.tolist() == [S] * 16
    assert bool((batch.targets[:, -1] == EOS).all())
    assert int(batch.inputs.min()) >= DIGIT_OFFSET and int(batch.inputs.max()) < VOCAB_SIZE
    assert {PAD, BOS, EOS} == {0, 1, 2} and VOCAB_SIZE == DIGIT_OFFSET + 10
    sources, digits = (batch.inputs - DIGIT_OFFSET).tolist(), (batch.targets[:, :-1] - DIGIT_OFFSET).tolist()
    for source, target in zip(sources, digits):
        assert target == rule(source[:order], source[order:], T)


def test_batches_are_pure_in_seed_and_step_and_splits_are_fixed_and_apart():
    task, twin = DigitRecurrenceTask(DigitRecurrenceConfig(**SMALL)), DigitRecurrenceTask(DigitRecurrenceConfig(**SMALL))
    assert torch.equal(task.train_batch(7).inputs, twin.train_batch(7).inputs)
    assert not torch.equal(task.train_batch(7).inputs, task.train_batch(8).inputs)
    other_seed = DigitRecurrenceTask(DigitRecurrenceConfig(**{**SMALL, "seed": 1}))
    assert not torch.equal(task.train_batch(7).inputs, other_seed.train_batch(7).inputs)
    test, again = list(task.eval_batches("test")), list(twin.eval_batches("test"))
    assert [len(b.inputs) for b in test] == [16, 16, 8]
    assert all(torch.equal(a.targets, b.targets) for a, b in zip(test, again))
    valid = torch.cat([b.inputs for b in task.eval_batches("valid")])
    assert not torch.equal(valid, torch.cat([b.inputs for b in test]))


def test_the_loss_is_the_summed_cross_entropy_over_the_mask():
    task = DigitRecurrenceTask(DigitRecurrenceConfig(**SMALL))
    batch = task.train_batch(0)
    logits = torch.randn(*batch.targets.shape, VOCAB_SIZE, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)
    total, count = task.loss(logits, batch)
    expected = -sum(torch.log_softmax(logits[b, t], -1)[batch.targets[b, t]].item()
                    for b in range(16) for t in range(SMALL["length"] + 1))
    assert count == 16 * (SMALL["length"] + 1) and math.isclose(total.item(), expected, rel_tol=1e-12)
    uniform = task.baselines()["unigram_bits_per_token"]
    assert math.log2(10) * 0.9 < uniform < math.log2(11)


@pytest.mark.parametrize("field, value", [("length", 0), ("order", 0), ("period", -1), ("batch_size", 1.5),
                                          ("seed", -2)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        DigitRecurrenceConfig(**{field: value})


def test_bad_calls_name_the_argument():
    task = DigitRecurrenceTask(DigitRecurrenceConfig(**SMALL))
    with pytest.raises(ValueError, match="split"):
        next(task.eval_batches("train"))
    with pytest.raises(ValueError, match="step"):
        task.train_batch(-1)
    with pytest.raises(ValueError, match="outputs"):
        task.loss(torch.zeros(16, 3, VOCAB_SIZE), task.train_batch(0))
    with pytest.raises(TypeError, match="config"):
        DigitRecurrenceTask({"length": 3})
