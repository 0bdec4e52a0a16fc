"""The adding and multiplication problems: remember two marked real values across a long sequence.

Every step is a pair ``(value, marker)``; the target, read at the sequence end, combines the two values
whose marker is 1.0. Positions below are 1-based, as in the papers.

**Hochreiter & Schmidhuber 1997, exp. 4 (adding).** A sequence's length L is a uniform integer in
[T, T + ⌊T/10⌋]. Values are uniform in [-1, 1]. Exactly two pairs are marked: first one of the first ten
pairs (its value X1), then one of the first T/2 - 1 pairs *still unmarked* (its value X2). All other markers
are 0, except the first and the final pair, whose markers are -1 when unmarked; when the first pair is
marked its value is set to 0. Target 0.5 + (X1 + X2)/4 (the sum scaled into [0, 1]); a sequence is
processed correctly when |error| < 0.04; test sets of 2,560 sequences. Checked against a transcription
of the paper's text (status S).

**Same paper, exp. 5 (multiplication).** As exp. 4, but values are uniform in [0, 1], the target is
X1 · X2 (not rescaled), and a marked first pair gets the value 1.0 (the neutral element).

**Pascanu, Mikolov & Bengio 2013 (the variant of their released code, ``pascanur/trainingRNNs``,
addition.py / multiplication.py).** One length L per batch, a uniform integer in [T, T + ⌊T/10⌋ - 1];
values uniform in [0, 1]; markers 0 except two 1.0s: the first at a uniform position in the first
⌊L/10⌋ steps, the second in the next ⌊4L/10⌋ (steps ⌊L/10⌋ + 1 .. ⌊L/10⌋ + ⌊4L/10⌋, i.e. in the first half).
Target: the mean (X1 + X2)/2 for addition (their code halves the sum), the product X1 · X2 for
multiplication.

Trivial baseline: the best constant predictor, the target's mean, whose MSE is the target's variance, in
closed form (:meth:`baselines`).

Deviations:
    - Any T: H&S's windows are kept as counts: the first marker among the first n1 = min(10, T - 1) pairs,
      the second among the first m = min(max(1, ⌊T/2⌋ - 1), T - 2) still-unmarked pairs (n1 = 10,
      m = 49 at T = 100, as in the paper); the final pair is never marked. H&S need T >= 3; the Pascanu
      variant T >= 2, with its windows widened to at least one step (they are the code's for L >= 10).
    - Under H&S's literal rule the *second* marker can also land on the first pair (the paper only names
      X1); whichever value sits on a marked first pair is set to 0 (adding) or 1.0 (multiplication).
    - Exp. 5's "set X1 to 1.0 when the first pair is marked" is recalled, not read in the paper (status U).
    - H&S train on one sequence at a time; here every batch has B sequences. Their sequences have ragged
      lengths (``Batch.lengths``, inputs zero past each end); Pascanu's batches share one length.
    - Pascanu's code puts the marker in channel 0 and the value in channel 1; here (value, marker) for all.

Book: 10.7 (long-term dependencies), 10.10.1 (LSTM, whose paper introduced these tasks), 10.11.1 (clipping,
Pascanu et al.'s experiments).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import Tensor

from recnets.tasks.base import Batch
from recnets.tasks.generated import EndRegressionTask, GeneratedConfig

__all__ = ["ArithmeticConfig", "AddingTask", "MultiplicationTask", "PascanuAddingTask", "PascanuMultiplicationTask",
           "hochreiter_marker_windows", "hochreiter_first_pair_probabilities"]


@dataclass(frozen=True)
class ArithmeticConfig(GeneratedConfig):
    """Config of the adding and multiplication tasks (see :class:`GeneratedConfig`); T is the minimal length."""


def hochreiter_marker_windows(T: int) -> tuple[int, int]:
    """``(n1, m)``: the first marker is one of the first n1 pairs, the second one of the first m still-unmarked
    pairs (H&S 1997 exp. 4: n1 = 10, m = T/2 - 1)."""
    return min(10, T - 1), min(max(1, T // 2 - 1), T - 2)


def hochreiter_first_pair_probabilities(T: int) -> tuple[float, float]:
    """``(p1, p2)``: the probabilities that the first / the second marker lands on the first pair."""
    n1, m = hochreiter_marker_windows(T)
    return 1.0 / n1, (1.0 - 1.0 / n1) / m


class _HochreiterTask(EndRegressionTask):
    """Abstract: H&S 1997 exps. 4-5 generator; subclasses give the value range and the combination."""

    config_class = ArithmeticConfig
    min_T = 3
    low: float = -1.0
    first_pair_value: float = 0.0

    @abc.abstractmethod
    def combine(self, first: Tensor, second: Tensor) -> Tensor:
        """The target from the two marked values, (B,) each."""

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """Ragged sequences: ``inputs (B, T + T//10, 2)`` float32, ``targets (B, 1)``, ``lengths (B,)``."""
        T = self.config.T
        n1, m = hochreiter_marker_windows(T)
        steps = T + T // 10
        lengths = T + torch.randint(T // 10 + 1, (batch_size,), generator=generator)  # (B,)
        values = self.low + (1.0 - self.low) * torch.rand(batch_size, steps, generator=generator, dtype=torch.float64)
        first = torch.randint(n1, (batch_size,), generator=generator)  # (B,) 0-based position of X1
        # the second: the k-th still-unmarked pair among positions 0..m (skipping the first marker)
        k = torch.randint(m, (batch_size,), generator=generator)  # (B,)
        second = k + (k >= first).long()  # (B,)
        rows = torch.arange(batch_size)
        markers = torch.zeros(batch_size, steps, dtype=torch.float64)
        markers[:, 0] = -1.0
        markers[rows, lengths - 1] = -1.0
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        values[:, 0] = torch.where(markers[:, 0] == 1.0, self.first_pair_value, values[:, 0])
        real = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T')
        inputs = torch.stack([values * real, markers * real], -1).float()  # (B, T', 2)
        target = self.combine(values[rows, first], values[rows, second]).float().unsqueeze(1)  # (B, 1)
        return Batch(inputs, target, lengths)


class AddingTask(_HochreiterTask):
    """The adding problem of Hochreiter & Schmidhuber 1997, exp. 4 (module docstring).

    Args:
        config: :class:`ArithmeticConfig`.

    Shapes:
        inputs (B, T + T//10, 2) (value, marker), zero past each length; targets (B, 1); lengths (B,).
    """

    name = "adding"
    low = -1.0
    first_pair_value = 0.0

    def combine(self, first: Tensor, second: Tensor) -> Tensor:
        return 0.5 + (first + second) / 4.0

    def baselines(self) -> dict[str, float]:
        """``constant_mse``: Var(0.5 + (X1+X2)/4) = E[(X1+X2)^2]/16, a value on the first pair being 0."""
        p1, p2 = hochreiter_first_pair_probabilities(self.config.T)
        # each marked value is U[-1, 1] (second moment 1/3) unless it sits on the first pair (then 0)
        second_moment = (1.0 / 3.0) * (2.0 - p1 - p2)
        return {"constant_mse": second_moment / 16.0, "constant": 0.5}


class MultiplicationTask(_HochreiterTask):
    """The multiplication problem of Hochreiter & Schmidhuber 1997, exp. 5 (module docstring).

    Args:
        config: :class:`ArithmeticConfig`.

    Shapes:
        inputs (B, T + T//10, 2) (value, marker); targets (B, 1) = X1 X2; lengths (B,).
    """

    name = "multiplication"
    low = 0.0
    first_pair_value = 1.0

    def combine(self, first: Tensor, second: Tensor) -> Tensor:
        return first * second

    def baselines(self) -> dict[str, float]:
        """``constant_mse``: Var(X1 X2), a mixture over which marker (if any) sits on the first pair (value 1)."""
        p1, p2 = hochreiter_first_pair_probabilities(self.config.T)
        # one factor is 1 (prob p1 + p2): moments of U[0,1]; else both U[0,1]: moments products
        mean = (p1 + p2) * 0.5 + (1.0 - p1 - p2) * 0.25
        second_moment = (p1 + p2) / 3.0 + (1.0 - p1 - p2) / 9.0
        return {"constant_mse": second_moment - mean**2, "constant": mean}


def pascanu_marker_windows(length: int) -> tuple[int, int, int]:
    """``(first_window, second_start, second_window)`` (0-based) for a sequence of ``length`` steps."""
    first_window = max(1, length // 10)
    return first_window, first_window, max(1, int(length * 0.4))


class _PascanuTask(EndRegressionTask):
    """Abstract: Pascanu et al. 2013 generator (values U[0, 1], one length per batch)."""

    config_class = ArithmeticConfig
    min_T = 2

    @abc.abstractmethod
    def combine(self, first: Tensor, second: Tensor) -> Tensor:
        """The target from the two marked values, (B,) each."""

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """``inputs (B, L, 2)`` float32 with one L per batch, ``targets (B, 1)``, lengths None."""
        T = self.config.T
        length = T + int(torch.randint(max(1, T // 10), (1,), generator=generator))
        first_window, second_start, second_window = pascanu_marker_windows(length)
        values = torch.rand(batch_size, length, generator=generator, dtype=torch.float64)  # (B, L)
        first = torch.randint(first_window, (batch_size,), generator=generator)  # (B,)
        second = second_start + torch.randint(second_window, (batch_size,), generator=generator)  # (B,)
        rows = torch.arange(batch_size)
        markers = torch.zeros(batch_size, length, dtype=torch.float64)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        inputs = torch.stack([values, markers], -1).float()  # (B, L, 2)
        target = self.combine(values[rows, first], values[rows, second]).float().unsqueeze(1)  # (B, 1)
        return Batch(inputs, target)


class PascanuAddingTask(_PascanuTask):
    """Pascanu et al. 2013's addition task: target (X1 + X2)/2 with X ~ U[0, 1] (module docstring).

    Args:
        config: :class:`ArithmeticConfig`.

    Shapes:
        inputs (B, L, 2) (value, marker), T <= L < T + max(1, T//10); targets (B, 1).
    """

    name = "adding-pascanu"

    def combine(self, first: Tensor, second: Tensor) -> Tensor:
        return (first + second) / 2.0

    def baselines(self) -> dict[str, float]:
        """``constant_mse``: Var((X1 + X2)/2) = (1/12 + 1/12)/4 = 1/24."""
        return {"constant_mse": 1.0 / 24.0, "constant": 0.5}


class PascanuMultiplicationTask(_PascanuTask):
    """Pascanu et al. 2013's multiplication task: target X1 · X2 with X ~ U[0, 1] (module docstring).

    Args:
        config: :class:`ArithmeticConfig`.

    Shapes:
        inputs (B, L, 2) (value, marker); targets (B, 1).
    """

    name = "multiplication-pascanu"

    def combine(self, first: Tensor, second: Tensor) -> Tensor:
        return first * second

    def baselines(self) -> dict[str, float]:
        """``constant_mse``: Var(X1 X2) = E[X^2]^2 - E[X]^4 = 1/9 - 1/16 = 7/144."""
        return {"constant_mse": 7.0 / 144.0, "constant": 0.25}
