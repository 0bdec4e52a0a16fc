"""The shared machinery of the generated long-term-dependency tasks: configs, seed streams, losses, scoring.

Every generated task draws training batch ``s`` from :func:`step_generator` ``(seed, s)`` and its held-out
sets from the same seed on step numbers no training run reaches (``valid``: 2^62 + i, ``test``:
2^62 + 2^40 + i for its i-th batch), so the test set is fixed by the seed alone and disjoint in stream from
every training batch. The loss families are the papers': squared error of a real target read at the
sequence end, cross-entropy of a class read at the end, cross-entropy at every step, squared error at every
step. Each task also says which sequences it solved (:meth:`GeneratedTask.correct`), the papers' success
criterion (e.g. |error| < 0.04 for the adding problem), and :func:`success_rate` counts them on a split.

Book: 10.7 (the challenge of long-term dependencies: tasks whose output depends on inputs far back),
10.2.2 (the loss of an output at every step, eqs. 10.12-10.14), 10.2 Fig. 10.5 (one output at the end).
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator

__all__ = ["GeneratedConfig", "GeneratedTask", "EndRegressionTask", "EndClassificationTask",
           "StepClassificationTask", "StepRegressionTask", "success_rate", "one_hot", "check_outputs", "chance_floors", "EVAL_STEPS"]

EVAL_STEPS = {"valid": 2**62, "test": 2**62 + 2**40}  # first step number of each held-out stream


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class GeneratedConfig:
    """The fields every generated task has.

    Attributes:
        T: the sequence length parameter (its meaning, e.g. the minimal length, is the task's).
        batch_size: B, sequences per training batch.
        eval_size: sequences in each held-out split (2,560: Hochreiter & Schmidhuber's test sets).
        eval_batch_size: sequences per held-out batch.
        seed: seeds every batch through :func:`step_generator`.
    """

    T: int = 100
    batch_size: int = 32
    eval_size: int = 2560
    eval_batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("T", self.T, 1)
        for name in ("batch_size", "eval_size", "eval_batch_size"):
            _check_int(name, getattr(self, name), 1)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed: expected an integer, got {self.seed!r}")


def one_hot(ids: Tensor, classes: int) -> Tensor:
    """Float32 one-hot vectors of integer ``ids``: ``(...,)`` -> ``(..., classes)``."""
    return nn.functional.one_hot(ids, classes).to(torch.float32)


class GeneratedTask(Task, abc.ABC):
    """Abstract: a task whose every batch is generated from ``(seed, step)``.

    Subclasses set ``min_T`` (the shortest T the task's definition allows) and implement :meth:`generate`,
    :meth:`correct` and :meth:`baselines`.

    Args:
        config: the task's frozen config (a :class:`GeneratedConfig` subclass).
    """

    config_class: type[GeneratedConfig] = GeneratedConfig
    min_T: int = 1

    def __init__(self, config: GeneratedConfig | None = None) -> None:
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected {self.config_class.__name__}, got {type(config).__name__}")
        if config.T < self.min_T:
            raise ValueError(f"T: expected an integer >= {self.min_T} for {self.name}, got {config.T}")
        self.config = config
        self.seed = config.seed

    @abc.abstractmethod
    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """``batch_size`` fresh sequences drawn from ``generator``."""

    @abc.abstractmethod
    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: which sequences the outputs solve by the paper's criterion."""

    def train_batch(self, step: int) -> Batch:
        """Training batch ``step``: a pure function of ``(seed, step)``."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step: expected an integer >= 0, got {step!r}")
        return self.generate(step_generator(self.seed, step), self.config.batch_size)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """The fixed held-out set of ``split`` ("valid" or "test"): ``eval_size`` sequences in batches of
        ``eval_batch_size`` (the last one smaller when they do not divide)."""
        if split not in EVAL_STEPS:
            raise ValueError(f"split: expected 'valid' or 'test', got {split!r}")
        size, rows = self.config.eval_size, self.config.eval_batch_size
        for index, start in enumerate(range(0, size, rows)):
            yield self.generate(step_generator(self.seed, EVAL_STEPS[split] + index), min(rows, size - start))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(vars(self.config))}


def check_outputs(outputs: Tensor, expected: tuple[int, ...], what: str) -> None:
    """One-line ValueError unless ``outputs`` has shape ``expected``."""
    if tuple(outputs.shape) != expected:
        raise ValueError(f"outputs: expected shape {expected} ({what}), got {tuple(outputs.shape)}")


class EndRegressionTask(GeneratedTask, abc.ABC):
    """Abstract: one real target per sequence, read at its end, scored by squared error.

    Shapes:
        targets (B, 1) float32; outputs (B, 1) (a :class:`~recnets.nets.SequenceToOne` with O = 1).
    """

    threshold: float = 0.04  # a sequence is solved when |output - target| < threshold

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed squared error over the batch's sequences, and their count."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per sequence")
        return (outputs - batch.targets.to(outputs.dtype)).square().sum(), batch.targets.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"mse": mean squared error per sequence}``."""
        _check_int("count", count, 1)
        return {"mse": total_loss / count}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: |output - target| < ``threshold``."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per sequence")
        return ((outputs - batch.targets.to(outputs.dtype)).abs() < self.threshold).all(-1)


class EndClassificationTask(GeneratedTask, abc.ABC):
    """Abstract: one class per sequence, read at its end, scored by cross-entropy (nats).

    Shapes:
        targets (B,) int64; outputs (B, C) logits (a :class:`~recnets.nets.SequenceToOne` with O = C).
    """

    num_classes: int = 2

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy over the batch's sequences, and their count."""
        check_outputs(outputs, (batch.targets.shape[0], self.num_classes), "logits per class")
        return nn.functional.cross_entropy(outputs, batch.targets, reduction="sum"), batch.targets.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"loss": nats per sequence}``."""
        _check_int("count", count, 1)
        return {"loss": total_loss / count}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: the most probable class is the target."""
        check_outputs(outputs, (batch.targets.shape[0], self.num_classes), "logits per class")
        return outputs.argmax(-1) == batch.targets


class StepClassificationTask(GeneratedTask, abc.ABC):
    """Abstract: a class at every step, scored by the summed per-step cross-entropy.

    Shapes:
        targets (B, T') int64; outputs (B, T', V) logits (an :class:`~recnets.nets.OutputEveryStep`).
    """

    num_classes: int = 2

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed NLL (nats) over every step, and the number of steps (eqs. 10.12-10.14)."""
        check_outputs(outputs, (*batch.targets.shape, self.num_classes), "logits per step")
        return sequence_nll(outputs, batch.targets, batch.lengths)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"loss": nats per step}``."""
        _check_int("count", count, 1)
        return {"loss": total_loss / count}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: the most probable class is right at every step."""
        check_outputs(outputs, (*batch.targets.shape, self.num_classes), "logits per step")
        return (outputs.argmax(-1) == batch.targets).all(-1)


class StepRegressionTask(GeneratedTask, abc.ABC):
    """Abstract: a real target at every step, scored by squared error.

    Shapes:
        targets (B, T', 1) float32; outputs (B, T', 1) (an :class:`~recnets.nets.OutputEveryStep`, O = 1).
    """

    threshold: float = 0.04

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed squared error over every step, and the number of steps."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per step")
        return (outputs - batch.targets.to(outputs.dtype)).square().sum(), batch.targets[..., 0].numel()

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"mse": mean squared error per step}``."""
        _check_int("count", count, 1)
        return {"mse": total_loss / count}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: |output - target| < ``threshold`` at every step."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per step")
        return ((outputs - batch.targets.to(outputs.dtype)).abs() < self.threshold).flatten(1).all(-1)


def success_rate(model: nn.Module, task: GeneratedTask, split: str = "test") -> dict[str, float]:
    """The paper's success count of ``model`` on ``task``'s held-out ``split``.

    Args:
        model: ``model(inputs, *, lengths, state, targets) -> (outputs, final_state)``.
        task: a generated task.
        split: "valid" or "test".

    Returns:
        ``{"correct", "wrong", "count", "error_rate"}`` (e.g. Hochreiter & Schmidhuber: 1 wrong of 2,560).

    Book: 10.7.
    """
    if not isinstance(task, GeneratedTask):
        raise TypeError(f"task: expected a GeneratedTask, got {type(task).__name__}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    right = total = 0
    with torch.no_grad():
        for batch in task.eval_batches(split):
            batch = batch.to(device)
            outputs, _ = model(batch.inputs, lengths=batch.lengths, state=None, targets=None)
            right += int(task.correct(outputs, batch).sum())
            total += batch.inputs.shape[0]
    model.train(was_training)
    return {"correct": right, "wrong": total - right, "count": total, "error_rate": (total - right) / total}


def chance_floors(classes: int) -> dict[str, float]:
    """Floors of guessing among ``classes`` equiprobable classes: loss ln C nats, error 1 - 1/C."""
    return {"chance_loss": math.log(classes), "chance_error": 1.0 - 1.0 / classes}
