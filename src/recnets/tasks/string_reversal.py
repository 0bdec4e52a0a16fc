"""String reversal: read a random string of letters, write it backwards — a sequence-to-sequence task whose
every output symbol depends on one input symbol, the first output on the last input and the last on the first.

**The generator.** A string has n letters drawn independently and uniformly from an alphabet of A letters
(ids 4 .. 4 + A - 1 after the seq2seq specials PAD=0, BOS=1, EOS=2, UNK=3; source and target share the
vocabulary); its target is the same letters in reverse order followed by EOS. Training batch s (a pure
function of the seed and s) holds B strings with n uniform on ``train_lengths``. Held-out sets are buckets of
``per_length`` strings for every length: ``valid`` over the training lengths, ``test`` over ``test_lengths``
(longer strings too: generalisation in length), each bucket drawn from the seed and its length alone on a step
number no training run reaches. Short test strings may also occur in training (A^5 = 10^5 strings of length 5
for A = 10); long ones essentially never do.

**Floor.** A model that knows nothing but the alphabet spends log A nats per letter (and is right about EOS):
``uniform_nll`` = log A · n / (n + 1) averaged over the target steps.

Batches follow the seq2seq convention: inputs (B, S) source ids padded with PAD, lengths (B,), targets (B, T)
target ids then EOS, padded with PAD, mask (B, T) True at real target steps (EOS included).

Book: 10.4 (sequence-to-sequence mapping of inputs and outputs of different lengths). Bahdanau et al. 2015
measure translation quality against sentence length (their Fig. 2); this task has the same axis and an exact
right answer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator

__all__ = ["StringReversalConfig", "StringReversalTask", "reversal_batch", "score_outputs", "SPECIALS"]

SPECIALS = 4  # PAD, BOS, EOS, UNK
PAD, EOS = 0, 2
_HELD_OUT = {"valid": 2**62, "test": 2**62 + 2**40}  # first step number of each held-out stream


def _check_range(name: str, value: Any) -> tuple[int, int]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, int)
                                                                       for v in value) or not 1 <= value[0] <= value[1]):
        raise ValueError(f"{name}: expected (shortest, longest) integers with 1 <= shortest <= longest, got {value!r}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class StringReversalConfig:
    """Config of the string reversal task.

    Attributes:
        alphabet: A, the number of letters (2 .. 26).
        train_lengths: (shortest, longest) n of the training strings.
        test_lengths: (shortest, longest) n of the test buckets (one bucket per length).
        batch_size: B, strings per training batch.
        per_length: strings in each held-out bucket (one bucket per length).
        seed: seeds every batch through :func:`~recnets.tasks.base.step_generator`.
    """

    alphabet: int = 10
    train_lengths: tuple[int, int] = (5, 30)
    test_lengths: tuple[int, int] = (5, 60)
    batch_size: int = 64
    per_length: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.alphabet, bool) or not isinstance(self.alphabet, int) or not 2 <= self.alphabet <= 26:
            raise ValueError(f"alphabet: expected an integer in [2, 26], got {self.alphabet!r}")
        object.__setattr__(self, "train_lengths", _check_range("train_lengths", self.train_lengths))
        object.__setattr__(self, "test_lengths", _check_range("test_lengths", self.test_lengths))
        for name in ("batch_size", "per_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed: expected an integer, got {self.seed!r}")


def reversal_batch(letters: Sequence[Sequence[int]] | Tensor, lengths: Tensor) -> Batch:
    """The seq2seq batch of strings ``letters (B, S)`` (ids, read up to ``lengths (B,)``) and their reversals.

    Returns:
        :class:`~recnets.tasks.base.Batch`: inputs (B, S) padded with PAD, lengths (B,), targets (B, S + 1)
        reversed letters then EOS, padded with PAD, mask (B, S + 1).
    """
    letters = torch.as_tensor(letters, dtype=torch.int64)
    lengths = torch.as_tensor(lengths, dtype=torch.int64)
    batch, steps = letters.shape
    positions = torch.arange(steps).unsqueeze(0)  # (1, S)
    real = positions < lengths.unsqueeze(1)  # (B, S)
    inputs = torch.where(real, letters, PAD)  # (B, S)
    source_index = (lengths.unsqueeze(1) - 1 - positions).clamp(min=0)  # (B, S): target t reads source n-1-t
    reversed_letters = torch.where(real, letters.gather(1, source_index), PAD)  # (B, S)
    targets = torch.cat([reversed_letters, torch.full((batch, 1), PAD, dtype=torch.int64)], 1)  # (B, S + 1)
    targets[torch.arange(batch), lengths] = EOS
    mask = torch.arange(steps + 1).unsqueeze(0) <= lengths.unsqueeze(1)  # (B, S + 1)
    return Batch(inputs, targets, lengths, mask)


def score_outputs(outputs: Sequence[Sequence[int]], batch: Batch) -> tuple[list[bool], list[float]]:
    """Exact match and per-character accuracy of each output (EOS excluded) against the batch's targets.

    Per-character accuracy = (positions i < n where output[i] equals the target's i-th letter) /
    max(n, len(output)): a missing or an extra letter counts as one error.
    """
    exact, accuracy = [], []
    for row, (output, length) in enumerate(zip(outputs, batch.lengths.tolist())):
        reference = batch.targets[row, :length].tolist()
        matches = sum(a == b for a, b in zip(output, reference))
        exact.append(list(output) == reference)
        accuracy.append(matches / max(length, len(output)))
    return exact, accuracy


class StringReversalTask(Task):
    """Reverse random strings: train on ``train_lengths``, test on buckets of every length in ``test_lengths``.

    Args:
        config: :class:`StringReversalConfig`.

    Attributes:
        vocab_size: 4 + A (specials then letters), for both source and target.

    Shapes:
        inputs (B, S) int64; lengths (B,); targets (B, S + 1) int64; mask (B, S + 1) bool; model outputs
        (B, S + 1, V) logits.

    Book: 10.4.
    """

    name = "string-reversal"

    def __init__(self, config: StringReversalConfig | None = None) -> None:
        config = config if config is not None else StringReversalConfig()
        if not isinstance(config, StringReversalConfig):
            raise TypeError(f"config: expected a StringReversalConfig, got {type(config).__name__}")
        self.config = config
        self.seed = config.seed
        self.vocab_size = SPECIALS + config.alphabet

    def _strings(self, generator: torch.Generator, count: int, lengths: Tensor) -> Batch:
        steps = int(lengths.max())
        letters = torch.randint(SPECIALS, self.vocab_size, (count, steps), generator=generator)  # (B, S)
        return reversal_batch(letters, lengths)

    def train_batch(self, step: int) -> Batch:
        """Training batch ``step``: B strings, lengths uniform on ``train_lengths``."""
        generator = step_generator(self.seed, step)
        shortest, longest = self.config.train_lengths
        lengths = torch.randint(shortest, longest + 1, (self.config.batch_size,), generator=generator)
        return self._strings(generator, self.config.batch_size, lengths)

    def bucket(self, split: str, length: int) -> Batch:
        """The held-out bucket of ``per_length`` strings of ``length`` letters (a pure function of the seed)."""
        if split not in _HELD_OUT:
            raise ValueError(f"split: expected 'valid' or 'test', got {split!r}")
        generator = step_generator(self.seed, _HELD_OUT[split] + length)
        count = self.config.per_length
        return self._strings(generator, count, torch.full((count,), length, dtype=torch.int64))

    def split_lengths(self, split: str) -> range:
        """The lengths of ``split``'s buckets: the training range for ``valid``, ``test_lengths`` for ``test``."""
        if split not in _HELD_OUT:
            raise ValueError(f"split: expected 'valid' or 'test', got {split!r}")
        shortest, longest = self.config.train_lengths if split == "valid" else self.config.test_lengths
        return range(shortest, longest + 1)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """One batch per length bucket, shortest first."""
        for length in self.split_lengths(split):
            yield self.bucket(split, length)

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy (nats) over the real target steps (EOS included), and their count."""
        return sequence_nll(outputs, batch.targets, None, mask=batch.mask)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``nll``: nats per target step."""
        return {"nll": total_loss / max(count, 1)}

    def baselines(self) -> dict[str, float]:
        """``uniform_nll``: log A per letter, 0 for EOS, averaged over the training lengths' target steps."""
        shortest, longest = self.config.train_lengths
        letters = sum(range(shortest, longest + 1))
        steps = letters + (longest - shortest + 1)
        return {"uniform_nll": math.log(self.config.alphabet) * letters / steps}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "alphabet": self.config.alphabet, "train_lengths": list(self.config.train_lengths),
                "test_lengths": list(self.config.test_lengths), "per_length": self.config.per_length,
                "seed": self.seed}
