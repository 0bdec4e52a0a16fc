"""The contract every generated long-term task keeps: pure (seed, step) batches, fixed held-out sets, the
papers' losses written out, one-line errors; and success_rate against an oracle that solves each task."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from recnets.cells import LSTMCell
from recnets.nets import OutputEveryStep, SequenceToOne
from recnets.tasks import TASKS, make_task, success_rate
from recnets.tasks.base import Batch
from recnets.tasks.generated import (EndClassificationTask, EndRegressionTask, StepClassificationTask,
                                     StepRegressionTask)
from recnets.train.loop import evaluate_model

NAMES = sorted(TASKS)
SMALL = dict(T=24, batch_size=8, eval_size=20, eval_batch_size=8)


def small(name: str, **fields):
    return make_task(name, **{**SMALL, **fields})


def same(a: Batch, b: Batch) -> bool:
    lengths_equal = (a.lengths is None and b.lengths is None) or (
        a.lengths is not None and b.lengths is not None and torch.equal(a.lengths, b.lengths))
    return torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets) and lengths_equal


@pytest.mark.parametrize("name", NAMES)
def test_batches_are_pure_in_seed_and_step(name):
    task, twin = small(name), small(name)
    assert same(task.train_batch(3), twin.train_batch(3))
    assert same(task.train_batch(3), task.train_batch(3))
    if name == "sum-of-sines":  # one fixed sequence: every batch is it
        assert same(task.train_batch(0), task.train_batch(1))
    else:
        assert not same(task.train_batch(0), task.train_batch(1))
        assert not same(task.train_batch(0), small(name, seed=1).train_batch(0))


@pytest.mark.parametrize("name", NAMES)
def test_batches_are_batch_first_float32_and_zero_past_lengths(name):
    batch = small(name).train_batch(0)
    assert batch.inputs.dtype == torch.float32 and batch.inputs.dim() == 3
    assert batch.inputs.shape[0] == batch.targets.shape[0] == SMALL["batch_size"] or name == "sum-of-sines"
    if batch.lengths is not None:
        assert batch.lengths.dtype == torch.int64
        past = torch.arange(batch.inputs.shape[1]).unsqueeze(0) >= batch.lengths.unsqueeze(1)  # (B, T')
        assert past.any() and (batch.inputs[past] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_eval_sets_are_fixed_sized_and_apart_from_training(name):
    task = small(name)
    first, second = list(task.eval_batches("test")), list(task.eval_batches("test"))
    assert len(first) == len(second) and all(same(a, b) for a, b in zip(first, second))
    expected = task.config.eval_size
    assert sum(b.inputs.shape[0] for b in first) == expected
    if name != "sum-of-sines":
        assert [b.inputs.shape[0] for b in first] == [8, 8, 4]
        valid = list(task.eval_batches("valid"))
        assert not same(valid[0], first[0])
        assert not any(same(task.train_batch(step), first[0]) for step in range(3))


@pytest.mark.parametrize("name", NAMES)
def test_too_short_T_is_one_clear_line(name):
    cls = TASKS[name]
    shortest = max(cls.min_T, 3 if name == "latching" else 1)  # latching: T >= latch_steps (3)
    make_task(name, T=shortest)
    for bad in (shortest - 1, 0, -5):
        with pytest.raises(ValueError, match=r"^T: expected an integer >= .+, got -?\d+$"):
            make_task(name, T=bad)
    with pytest.raises(ValueError, match="^T: expected an integer >= 1, got True$"):
        make_task(name, T=True)


def test_bad_arguments_are_one_clear_line():
    task = small("adding")
    with pytest.raises(ValueError, match="^step: expected an integer >= 0, got -1$"):
        task.train_batch(-1)
    with pytest.raises(ValueError, match="^split: expected 'valid' or 'test', got 'train'$"):
        next(task.eval_batches("train"))
    with pytest.raises(ValueError, match="^task: expected one of .*, got 'nope'$"):
        make_task("nope")
    with pytest.raises(ValueError, match="^length: not a field of ArithmeticConfig"):
        make_task("adding", length=3)
    with pytest.raises(ValueError, match="^batch_size: expected an integer >= 1, got 0$"):
        make_task("copy-memory", batch_size=0)
    with pytest.raises(ValueError, match=r"^outputs: expected shape \(8, 1\)"):
        task.loss(torch.zeros(8), task.train_batch(0))
    with pytest.raises(TypeError, match="^config: expected ArithmeticConfig, got CopyConfig$"):
        TASKS["adding"](TASKS["copy-memory"].config_class())


@pytest.mark.parametrize("name", NAMES)
def test_loss_and_metrics_are_the_papers_written_out(name):
    task = small(name)
    batch = task.train_batch(0)
    if isinstance(task, (EndRegressionTask, StepRegressionTask)):
        outputs = torch.randn(batch.targets.shape, dtype=torch.float64)
        expected = sum(float((o - t) ** 2) for o, t in zip(outputs.flatten().tolist(),
                                                           batch.targets.double().flatten().tolist()))
        count = batch.targets[..., 0].numel()
        metric = "mse"
    else:
        outputs = torch.randn(*batch.targets.shape, task.num_classes, dtype=torch.float64)
        flat_logits, flat_targets = outputs.reshape(-1, task.num_classes), batch.targets.flatten()
        expected = sum(math.log(sum(math.exp(v) for v in row.tolist())) - row[t].item()
                       for row, t in zip(flat_logits, flat_targets.tolist()))
        count = flat_targets.numel()
        metric = "loss"
    total, scored = task.loss(outputs, batch)
    assert scored == count
    assert abs(float(total) - expected) < 1e-9 * max(1.0, abs(expected))
    assert abs(task.metrics(float(total), scored)[metric] - expected / count) < 1e-12 * max(1.0, expected)


class Oracle(nn.Module):
    """Solves a task from its inputs by the task's rule, written out here independently of the generators."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.anchor = nn.Parameter(torch.zeros(()))  # success_rate reads the device from a parameter

    def forward(self, inputs, *, lengths=None, state=None, targets=None):
        return answer(self.name, inputs, lengths).to(torch.float64), None


def answer(name: str, inputs: torch.Tensor, lengths) -> torch.Tensor:
    """The task's correct output for ``inputs``: the labels recomputed independently."""
    if name in ("adding", "multiplication", "adding-pascanu", "multiplication-pascanu"):
        values, markers = inputs[..., 0].double(), inputs[..., 1]
        marked = [row[mask == 1.0] for row, mask in zip(values, markers)]
        assert all(len(pair) == 2 for pair in marked)
        result = {"adding": lambda a, b: 0.5 + (a + b) / 4, "multiplication": lambda a, b: a * b,
                  "adding-pascanu": lambda a, b: (a + b) / 2, "multiplication-pascanu": lambda a, b: a * b}[name]
        return torch.stack([result(*pair) for pair in marked]).unsqueeze(1)  # (B, 1)
    if name.startswith("temporal-order"):
        bits = [[1 if s == 7 else 0 for s in row.argmax(-1).tolist() if s in (6, 7)] for row in inputs]
        labels = [int("".join(map(str, b)), 2) for b in bits]
        return 50.0 * nn.functional.one_hot(torch.tensor(labels), 4 if name.endswith("2bit") else 8)
    if name == "random-permutation":
        return 50.0 * nn.functional.one_hot(inputs[:, 0].argmax(-1), 100)
    if name == "latching":
        return 0.8 * inputs[:, 0]  # (B, 1): the first step carries the class as ±1
    if name in ("copy-memory", "memorization"):
        ids = inputs.argmax(-1)  # (B, T')
        blank, delimiter, classes, offset = (8, 9, 10, 1) if name == "copy-memory" else (5, 6, 6, 0)
        wanted = torch.full_like(ids, blank)
        for row in range(ids.shape[0]):
            at = int((ids[row] == delimiter).nonzero()) + offset
            wanted[row, at:at + 10] = ids[row, :10]
        return 50.0 * nn.functional.one_hot(wanted, classes)
    if name == "sum-of-sines":
        raise AssertionError("sum-of-sines has no input to solve it from")
    raise AssertionError(name)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "sum-of-sines"])
def test_an_oracle_solving_the_rule_scores_every_sequence(name):
    task = small(name)
    result = success_rate(Oracle(name), task, "test")
    assert result == {"correct": 20, "wrong": 0, "count": 20, "error_rate": 0.0}
    loss_total, count = task.loss(Oracle(name)(task.train_batch(0).inputs)[0], task.train_batch(0))
    assert float(loss_total) / count < 1e-6


def test_success_counts_the_papers_threshold():
    task = small("adding")
    batch = task.train_batch(0)
    inside, outside = batch.targets + 0.039, batch.targets - 0.041
    assert task.correct(inside, batch).all() and not task.correct(outside, batch).any()
    latch = small("latching")
    batch = latch.train_batch(0)
    assert latch.correct(0.01 * batch.targets, batch).all() and not latch.correct(-batch.targets, batch).any()


def test_every_registered_task_is_a_known_loss_family():
    families = (EndRegressionTask, EndClassificationTask, StepClassificationTask, StepRegressionTask)
    assert all(issubclass(cls, families) and cls.name == name for name, cls in TASKS.items())
    assert len(TASKS) == 11


@pytest.mark.parametrize("name", NAMES)
def test_the_library_models_run_on_every_task(name):
    task = small(name)
    batch = task.train_batch(0)
    every_step = isinstance(task, (StepClassificationTask, StepRegressionTask))
    outputs = getattr(task, "num_classes", 1) if isinstance(task, (EndClassificationTask, StepClassificationTask)) else 1
    model = (OutputEveryStep if every_step else SequenceToOne)(LSTMCell(batch.inputs.shape[-1], 4), outputs)
    result = evaluate_model(model, task, "test")
    assert result["count"] == (task.config.eval_size * (batch.targets.shape[1] if every_step else 1))
    assert all(math.isfinite(value) for value in result.values())


def test_an_lstm_beats_the_latching_floor_in_a_few_steps():
    task = make_task("latching", T=12, batch_size=32, eval_size=256)
    model = SequenceToOne(LSTMCell(1, 8), 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for step in range(60):
        batch = task.train_batch(step)
        outputs, _ = model(batch.inputs)
        total, count = task.loss(outputs, batch)
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()
    result = success_rate(model, task, "test")
    assert result["error_rate"] < 0.1 < task.baselines()["chance_error"]
