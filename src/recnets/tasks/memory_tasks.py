"""Memory tasks: hold symbols or one bit across T distracting steps, then reproduce or classify them.

**Copy memory (Arjovsky, Shah & Bengio 2016).** Ten categories a1..a10 (ids 0..9). An input of T + 20
steps: 10 symbols drawn uniformly with replacement from a1..a8, T - 1 blanks a9, the delimiter a10, 10
blanks. The target: T + 10 blanks, then the 10 symbols in order. The loss is the cross-entropy averaged over
all T + 20 steps; the memoryless strategy (blank until the delimiter, then uniform over the 8 symbols)
scores 10 ln 8 / (T + 20). Checked against the authors' repository text (status V).

**Noiseless memorisation (Pascanu, Mikolov & Bengio 2013; their released ``memorization.py``).** Ten
symbols, each one of 5 values, then T blanks, a delimiter, 9 blanks: T + 20 steps of one-hot inputs over 7
(values 0-4, blank 5, delimiter 6). The target has 6 classes: blank (5) for the first T + 10 steps, then the
10 symbols; the delimiter's own step already asks for the first symbol. Cross-entropy over every step;
memoryless baseline 10 ln 5 / (T + 20).

**Random permutation (Pascanu et al. 2013, their ``permutation.py``).** T one-hot inputs over 100 symbols:
the first is 0 or 1 (uniform), the others uniform over 2..99; the target, read at the end, is the first
symbol (100 output classes). Baseline: chance between the two possible answers, ln 2 nats, error 1/2.

**Information latching (Bengio, Simard & Frasconi 1994, the minimal "latch" task).** Two equiprobable
classes; the class is given by the first L steps, the remaining T - L steps are Gaussian noise; a tanh unit
must hold the bit and output +0.8 (class 1) or -0.8 (class 0) at the end, scored by squared error. A
sequence is classified correctly when the output has the target's sign. Baseline: the constant 0 (MSE 0.64,
error 1/2).

Deviations:
    - Latching: Bengio et al. train the first L inputs h(1..L) themselves (one trainable pattern per
      class); here they are fixed, +1 for class 1 and -1 for class 0 (Hochreiter & Schmidhuber's "latch
      variant II"). The noise variance 0.2 is Hochreiter & Schmidhuber's account of the task; the default
      L = 3 is our choice (the paper's value not verified). The inputs are one channel, (B, T, 1).
    - Memorisation follows the authors' code (5 values, 10 positions); the paper's prose was not checked.
    - Copy and memorisation inputs are one-hot float32 vectors, not ids.

Book: 10.7 (long-term dependencies), 10.12 (explicit memory; the copy task is its standard test).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from recnets.tasks.base import Batch
from recnets.tasks.generated import (EndClassificationTask, EndRegressionTask, GeneratedConfig,
                                     StepClassificationTask, chance_floors, check_outputs, one_hot)

__all__ = ["CopyConfig", "CopyMemoryTask", "MemorizationConfig", "MemorizationTask", "PermutationConfig",
           "RandomPermutationTask", "LatchingConfig", "LatchingTask"]


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class CopyConfig(GeneratedConfig):
    """Config of :class:`CopyMemoryTask` (see :class:`GeneratedConfig`); T is the number of blanks plus one."""


class CopyMemoryTask(StepClassificationTask):
    """Arjovsky et al. 2016's copy memory problem (module docstring).

    Args:
        config: :class:`CopyConfig`.

    Shapes:
        inputs (B, T + 20, 10) one-hot; targets (B, T + 20) int64 in 0..8.
    """

    name = "copy-memory"
    config_class = CopyConfig
    num_classes = 10
    symbols, blank, delimiter, recall = 8, 8, 9, 10

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        T, recall = self.config.T, self.recall
        data = torch.randint(self.symbols, (batch_size, recall), generator=generator)  # (B, 10)
        blanks = torch.full((batch_size, T + 10), self.blank, dtype=torch.long)
        inputs = torch.cat([data, blanks], 1)  # (B, T + 20)
        inputs[:, recall + T - 1] = self.delimiter
        targets = torch.cat([blanks, data], 1)  # (B, T + 20)
        return Batch(one_hot(inputs, self.num_classes), targets)

    def baselines(self) -> dict[str, float]:
        """``memoryless_loss``: 10 ln 8 / (T + 20) nats per step."""
        return {"memoryless_loss": self.recall * math.log(self.symbols) / (self.config.T + 2 * self.recall)}


@dataclass(frozen=True)
class MemorizationConfig(GeneratedConfig):
    """Config of :class:`MemorizationTask` (see :class:`GeneratedConfig`); T is the number of blanks."""


class MemorizationTask(StepClassificationTask):
    """Pascanu et al. 2013's noiseless memorisation problem (module docstring).

    Args:
        config: :class:`MemorizationConfig`.

    Shapes:
        inputs (B, T + 20, 7) one-hot; targets (B, T + 20) int64 in 0..5.
    """

    name = "memorization"
    config_class = MemorizationConfig
    num_classes = 6
    values, positions, blank, delimiter = 5, 10, 5, 6

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        T, positions = self.config.T, self.positions
        data = torch.randint(self.values, (batch_size, positions), generator=generator)  # (B, 10)
        inputs = torch.cat([data, torch.full((batch_size, T + positions), self.blank, dtype=torch.long)], 1)
        inputs[:, positions + T] = self.delimiter  # (B, T + 20)
        targets = torch.cat([torch.full((batch_size, T + positions), self.blank, dtype=torch.long), data], 1)
        return Batch(one_hot(inputs, self.delimiter + 1), targets)

    def baselines(self) -> dict[str, float]:
        """``memoryless_loss``: 10 ln 5 / (T + 20) nats per step."""
        return {"memoryless_loss": self.positions * math.log(self.values) / (self.config.T + 2 * self.positions)}


@dataclass(frozen=True)
class PermutationConfig(GeneratedConfig):
    """Config of :class:`RandomPermutationTask` (see :class:`GeneratedConfig`); T is the sequence length."""


class RandomPermutationTask(EndClassificationTask):
    """Pascanu et al. 2013's random permutation problem: recall the first of T symbols (module docstring).

    Args:
        config: :class:`PermutationConfig`.

    Shapes:
        inputs (B, T, 100) one-hot; targets (B,) int64 in {0, 1}; outputs (B, 100) logits.
    """

    name = "random-permutation"
    config_class = PermutationConfig
    num_classes = 100

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        symbols = 2 + torch.randint(self.num_classes - 2, (batch_size, self.config.T), generator=generator)
        first = torch.randint(2, (batch_size,), generator=generator)  # (B,)
        symbols[:, 0] = first
        return Batch(one_hot(symbols, self.num_classes), first)  # (B, T, 100), (B,)

    def baselines(self) -> dict[str, float]:
        """Chance between the two possible answers: ``chance_loss`` ln 2, ``chance_error`` 1/2."""
        return chance_floors(2)


@dataclass(frozen=True)
class LatchingConfig(GeneratedConfig):
    """Config of :class:`LatchingTask`.

    Attributes:
        latch_steps: L, the steps that carry the class (T >= L).
        noise_variance: s, the variance of the Gaussian noise on the T - L later steps.
        target: the output target's magnitude (±0.8).
    """

    T: int = 50
    latch_steps: int = 3
    noise_variance: float = 0.2
    target: float = 0.8

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.latch_steps, bool) or not isinstance(self.latch_steps, int) or self.latch_steps < 1:
            raise ValueError(f"latch_steps: expected an integer >= 1, got {self.latch_steps!r}")
        if self.T < self.latch_steps:
            raise ValueError(f"T: expected an integer >= latch_steps ({self.latch_steps}), got {self.T}")
        _check_positive("noise_variance", self.noise_variance)
        _check_positive("target", self.target)


class LatchingTask(EndRegressionTask):
    """Bengio, Simard & Frasconi 1994's information latching: keep one bit for T - L noisy steps.

    Args:
        config: :class:`LatchingConfig`.

    Shapes:
        inputs (B, T, 1): ±1 for the first L steps, then N(0, s); targets (B, 1) = ±target.
    """

    name = "latching"
    config_class = LatchingConfig

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        config = self.config
        sign = 2.0 * torch.randint(2, (batch_size, 1), generator=generator, dtype=torch.float64) - 1.0  # (B, 1)
        noise = math.sqrt(config.noise_variance) * torch.randn(batch_size, config.T, generator=generator,
                                                               dtype=torch.float64)  # (B, T)
        inputs = torch.cat([sign.expand(batch_size, config.latch_steps), noise[:, config.latch_steps:]], 1)
        return Batch(inputs.float().unsqueeze(-1), (config.target * sign).float())

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: the output has the target's sign."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per sequence")
        return (torch.sign(outputs) == torch.sign(batch.targets.to(outputs.dtype))).all(-1)

    def baselines(self) -> dict[str, float]:
        """The constant 0: ``constant_mse`` target², ``chance_error`` 1/2."""
        return {"constant_mse": self.config.target**2, "constant": 0.0, "chance_error": 0.5}
