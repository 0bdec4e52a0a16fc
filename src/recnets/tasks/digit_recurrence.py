"""A generated sequence-to-sequence task whose target is a recurrence over its own previous symbols.

The source is r seed digits and k increments; the target is the digits

    y(t) = (y(t-1) + ... + y(t-r) + c_{(t-1) mod k}) mod 10,    t = 1..T,

with y(1-r..0) the seeds, followed by ``<eos>``. Every target is a deterministic function of its source, so
token error and exact match are well defined. A decoder trained with teacher forcing reads the true y(t-1)
and can lean on it: one step of the rule. Fed its own outputs instead, it meets prefixes it never saw in
training, and a single wrong digit derails the rest: the map from the last r digits to the next r is a
bijection, so the rule followed from a wrong prefix never returns to the true one; its errors compound. That is the gap
between teacher-forced and free-running error the exposure-bias experiment measures.

Batches follow the shared sequence-to-sequence convention: ``inputs`` the source ids (B, S) with S = r + k,
``lengths`` (B,) all S, ``targets`` the T digit ids followed by ``<eos>`` (B, T+1), ``mask`` (B, T+1) all
True. Ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the digits 0-9 as ids 4-13.

Book: 10.2.1 (teacher forcing feeds the true outputs, while at test time the model is fed its own; the
mismatch between the two kinds of input), 10.4 (a source sequence mapped to a target sequence).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.pairs import BOS, EOS, PAD, UNK

__all__ = ["DigitRecurrenceConfig", "DigitRecurrenceTask", "digit_recurrence", "DIGIT_OFFSET", "VOCAB_SIZE",
           "EVAL_STEPS", "PAD", "BOS", "EOS", "UNK"]

DIGIT_OFFSET = 4  # id of the digit 0; digit d is id d + 4
VOCAB_SIZE = DIGIT_OFFSET + 10
EVAL_STEPS = {"valid": 2**62, "test": 2**62 + 2**40}  # first step number of each held-out stream


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class DigitRecurrenceConfig:
    """The task's sizes.

    Attributes:
        length: T, target digits before ``<eos>`` (>= 1).
        order: r, how many previous digits each one sums (>= 1); also the number of seed digits.
        period: k, how many increments, read cyclically (>= 1).
        batch_size: B of a training batch.
        eval_size: sequences in each held-out split; eval_batch_size: rows per held-out batch.
        seed: seeds every batch through :func:`~recnets.tasks.base.step_generator`.
    """

    length: int = 20
    order: int = 2
    period: int = 3
    batch_size: int = 64
    eval_size: int = 1024
    eval_batch_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("length", "order", "period", "batch_size", "eval_size", "eval_batch_size"):
            _check_int(name, getattr(self, name), 1)
        _check_int("seed", self.seed, 0)


def digit_recurrence(seeds: Tensor, increments: Tensor, length: int) -> Tensor:
    """The target digits y(1..T) of each row: y(t) = (Σ_{j=1..r} y(t-j) + c_{(t-1) mod k}) mod 10.

    Args:
        seeds: (B, r) digits y(1-r..0), oldest first.
        increments: (B, k) digits c_0..c_{k-1}.
        length: T >= 1.

    Returns:
        (B, T) int64 digits 0-9.

    Book: 10.2.1.
    """
    _check_int("length", length, 1)
    order, period = seeds.shape[1], increments.shape[1]
    history = list(seeds.to(torch.int64).unbind(1))  # r tensors (B,), oldest first
    digits = []
    for t in range(1, length + 1):
        digit = (sum(history[-order:]) + increments[:, (t - 1) % period]) % 10  # (B,)
        digits.append(digit)
        history.append(digit)
    return torch.stack(digits, 1)


class DigitRecurrenceTask(Task):
    """Source: r seed digits and k increments; target: :func:`digit_recurrence` of them, then ``<eos>``.

    Training batch ``s`` is drawn from ``step_generator(seed, s)``; the held-out splits from the same seed on
    step numbers no training run reaches (:data:`EVAL_STEPS`), so they are fixed by the seed alone. With
    10^(r+k) sources a training batch may repeat a test source; at r + k = 5 (100,000 sources) a run of
    10,000 batches of 64 sees most of them, which is fine here: the task is about how the model is fed, not
    about generalising to unseen sources.

    Shapes:
        inputs (B, r+k) ids, lengths (B,), targets (B, T+1) ids (the last ``<eos>``), mask (B, T+1).

    Book: 10.2.1, 10.4.
    """

    name = "digit-recurrence"

    def __init__(self, config: DigitRecurrenceConfig | None = None) -> None:
        config = DigitRecurrenceConfig() if config is None else config
        if not isinstance(config, DigitRecurrenceConfig):
            raise TypeError(f"config: expected DigitRecurrenceConfig, got {type(config).__name__}")
        self.config = config
        self.seed = config.seed
        self.vocab_size = VOCAB_SIZE

    @property
    def source_length(self) -> int:
        """S = r + k."""
        return self.config.order + self.config.period

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """``batch_size`` fresh sources drawn from ``generator`` and their targets."""
        config = self.config
        source = torch.randint(0, 10, (batch_size, self.source_length), generator=generator)  # (B, S) digits
        digits = digit_recurrence(source[:, :config.order], source[:, config.order:], config.length)  # (B, T)
        targets = torch.cat([digits + DIGIT_OFFSET, torch.full((batch_size, 1), EOS)], 1)  # (B, T+1)
        lengths = torch.full((batch_size,), self.source_length, dtype=torch.int64)
        return Batch(source + DIGIT_OFFSET, targets, lengths, torch.ones_like(targets, dtype=torch.bool))

    def train_batch(self, step: int) -> Batch:
        """Training batch ``step``: a pure function of ``(seed, step)``."""
        _check_int("step", step, 0)
        return self.generate(step_generator(self.seed, step), self.config.batch_size)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """The fixed held-out set of ``split`` ("valid" or "test") in batches of ``eval_batch_size``."""
        if split not in EVAL_STEPS:
            raise ValueError(f"split: expected 'valid' or 'test', got {split!r}")
        size, rows = self.config.eval_size, self.config.eval_batch_size
        for index, start in enumerate(range(0, size, rows)):
            yield self.generate(step_generator(self.seed, EVAL_STEPS[split] + index), min(rows, size - start))

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy (nats) of the target ids over ``batch.mask``, and the count of scored tokens.

        Book: 10.2.2, eqs. 10.12-10.14.
        """
        return sequence_nll(outputs, batch.targets, None, mask=batch.mask)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        nats = total_loss / max(count, 1)
        return {"nats_per_token": nats, "bits_per_token": nats / math.log(2)}

    def baselines(self) -> dict[str, float]:
        """Floors: the unigram entropy of the target tokens in bits (every digit is uniform at every position,
        ``<eos>`` is one token in T+1), and the token error of always guessing one digit (0.9 of the digits)."""
        length = self.config.length
        digit, end = length / (length + 1) / 10, 1 / (length + 1)
        entropy = -(10 * digit * math.log2(digit) + end * math.log2(end))
        return {"unigram_bits_per_token": entropy, "constant_digit_token_error": 0.9 * length / (length + 1)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(vars(self.config)),
                "rule": "y(t) = (y(t-1) + ... + y(t-order) + c[(t-1) mod period]) mod 10"}
