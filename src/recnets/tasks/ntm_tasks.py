"""The neural Turing machine's algorithmic tasks (Graves, Wayne & Danihelka 2014, section 4), generated here.

Every task shows the network binary vectors and asks for binary vectors back at some steps; the cost is the
binary cross-entropy of the outputs in bits, summed over the scored bits of a sequence ("bits per
sequence", the unit of the paper's learning curves), and a sequence counts as solved when every scored bit,
thresholded at probability 1/2, is right. Sequences in a batch differ in length: the batch is padded, with
``lengths`` and a ``mask`` (B, T) of the scored steps.

**Copy.** L random 8-bit vectors (each bit a fair coin), L drawn uniformly from ``min_length..T``, then a
delimiter flag on its own channel, then L blank steps during which the network must output the L vectors in
order. Inputs (B, 2L + 1, 9): the 8 data channels and the delimiter channel.

Floors: the memoryless cost is one bit per scored bit (a network that cannot recall guesses 1/2), so
``width × E[L]`` bits per sequence.

Deviations: the paper does not say whether the delimiter occupies its own step and channel; we follow the
common reading (its own step, its own channel). Lengths are drawn per sequence, not per batch.

Book: 10.12 (explicit memory; the copy task is the standard test that a network can store and recall).
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recnets.tasks.base import Batch
from recnets.tasks.generated import GeneratedConfig, GeneratedTask, _check_int

__all__ = ["BitTaskConfig", "BitSequenceTask", "CopyTask", "bit_errors", "pad_sequences"]

LN2 = math.log(2)


@dataclass(frozen=True)
class BitTaskConfig(GeneratedConfig):
    """Config of the NTM tasks (see :class:`GeneratedConfig`).

    Attributes:
        T: the longest sequence length L drawn (20 for copy in the paper's training).
        min_length: the shortest (1 in the paper); ``min_length == T`` fixes the length (generalisation tests).
        width: bits per vector (8 in the paper).
    """

    T: int = 20
    min_length: int = 1
    width: int = 8
    eval_size: int = 640
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("width", self.width, 1)
        _check_int("min_length", self.min_length, 1)
        if self.min_length > self.T:
            raise ValueError(f"min_length: expected an integer <= T = {self.T}, got {self.min_length}")


def pad_sequences(sequences: list[Tensor], scored: list[Tensor], targets: list[Tensor]) -> Batch:
    """A padded batch from per-sequence ``inputs (T_i, D)``, ``scored (T_i,)`` bool and ``targets (T_i, O)``.

    Returns:
        Batch with inputs (B, T, D), targets (B, T, O), lengths (B,), mask (B, T), zero past each length.
    """
    lengths = torch.tensor([len(s) for s in sequences])
    inputs = nn.utils.rnn.pad_sequence(sequences, batch_first=True)  # (B, T, D)
    return Batch(inputs, nn.utils.rnn.pad_sequence(targets, batch_first=True), lengths,
                 nn.utils.rnn.pad_sequence(scored, batch_first=True))


def bit_errors(outputs: Tensor, batch: Batch) -> Tensor:
    """(B,) the number of scored bits whose output logit has the wrong sign, per sequence."""
    wrong = (outputs > 0) != (batch.targets > 0.5)  # (B, T, O)
    return (wrong & batch.mask.unsqueeze(-1)).sum((1, 2))


class BitSequenceTask(GeneratedTask, abc.ABC):
    """Abstract: binary targets at the steps of ``batch.mask``, scored by cross-entropy in bits per sequence.

    Subclasses implement :meth:`sequence` (one example from a generator) and :meth:`expected_scored_bits`
    (for the memoryless floor); ``input_size`` and ``output_size`` give the model's D and O.

    Shapes:
        inputs (B, T, input_size), targets (B, T, output_size) in {0, 1}, mask (B, T) bool, lengths (B,);
        outputs (B, T, output_size) logits (an :class:`~recnets.nets.OutputEveryStep` with O = output_size).
    """

    config_class = BitTaskConfig

    @property
    @abc.abstractmethod
    def input_size(self) -> int:
        """D, the channels of an input vector."""

    @property
    @abc.abstractmethod
    def output_size(self) -> int:
        """O, the bits of an output vector."""

    @abc.abstractmethod
    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """One example: ``inputs (T_i, D)``, ``targets (T_i, O)``, ``scored (T_i,)`` bool."""

    @abc.abstractmethod
    def expected_scored_bits(self) -> float:
        """E[number of scored bits per sequence] under the task's length distribution."""

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        examples = [self.sequence(generator) for _ in range(batch_size)]
        inputs, targets, scored = zip(*examples)
        return pad_sequences(list(inputs), list(scored), list(targets))

    def _checked(self, outputs: Tensor, batch: Batch) -> None:
        if tuple(outputs.shape) != tuple(batch.targets.shape):
            raise ValueError(f"outputs: expected shape {tuple(batch.targets.shape)} (a logit per target bit), "
                             f"got {tuple(outputs.shape)}")

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed binary cross-entropy (nats) over the scored bits, and the number of sequences."""
        self._checked(outputs, batch)
        per_bit = nn.functional.binary_cross_entropy_with_logits(outputs, batch.targets.to(outputs.dtype),
                                                                 reduction="none")  # (B, T, O)
        return (per_bit * batch.mask.unsqueeze(-1)).sum(), outputs.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"bits_per_sequence": the cost in bits, summed over a sequence's scored bits}``."""
        _check_int("count", count, 1)
        return {"bits_per_sequence": total_loss / count / LN2}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: every scored bit right when thresholded at 1/2."""
        self._checked(outputs, batch)
        return bit_errors(outputs, batch) == 0

    def baselines(self) -> dict[str, float]:
        """``{"memoryless_bits": one bit per scored bit}``: a network that recalls nothing guesses 1/2."""
        return {"memoryless_bits": self.expected_scored_bits()}


class CopyTask(BitSequenceTask):
    """Copy (module docstring): store L random vectors, recall them in order after the delimiter.

    Shapes:
        inputs (B, 2L + 1, width + 1), targets (B, 2L + 1, width), mask on the last L steps of each row.
    """

    name = "ntm-copy"

    @property
    def input_size(self) -> int:
        return self.config.width + 1

    @property
    def output_size(self) -> int:
        return self.config.width

    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        width = self.config.width
        length = int(torch.randint(self.config.min_length, self.config.T + 1, (1,), generator=generator))
        data = torch.randint(2, (length, width), generator=generator).float()  # (L, W)
        inputs = torch.zeros(2 * length + 1, width + 1)
        inputs[:length, :width] = data
        inputs[length, width] = 1.0  # the delimiter
        targets = torch.zeros(2 * length + 1, width)
        targets[length + 1:] = data
        scored = torch.zeros(2 * length + 1, dtype=torch.bool)
        scored[length + 1:] = True
        return inputs, targets, scored

    def expected_scored_bits(self) -> float:
        return self.config.width * (self.config.min_length + self.config.T) / 2
