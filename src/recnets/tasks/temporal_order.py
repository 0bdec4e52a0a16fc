"""The temporal order problems: classify a long sequence by the order of two or three widely separated symbols.

**Hochreiter & Schmidhuber 1997, exps. 6a and 6b.** Inputs are one-hot over 8 symbols {E, B, a, b, c, d,
X, Y}. A sequence of length L (a uniform integer in [100, 110]) starts with E, ends with the trigger B, and
is otherwise made of random symbols from {a, b, c, d}, except at the relevant positions (1-based), which
hold X or Y: in 6a t1 ∈ [10, 20] and t2 ∈ [50, 60]; in 6b t1 ∈ [10, 20], t2 ∈ [33, 43], t3 ∈ [66, 76]. The
class is the order: 6a has 4 classes (XX → Q, XY → R, YX → S, YY → U), 6b 8 (X,X,X → Q, X,X,Y → R, ...,
Y,Y,Y → C), read at the sequence end; cross-entropy; test sets of 2,560 sequences. Checked against the
paper's description as recalled and in public transcriptions (status S for the windows of 6a, U for 6b).

Trivial baseline: chance, cross-entropy ln 4 (ln 8) nats and error 3/4 (7/8): the classes are equiprobable
and independent of everything but the relevant symbols.

Deviations:
    - Any T (the minimal length; 100 in the paper): L ∈ [T, T + ⌊T/10⌋]; window i starts at
      round(f_i T) with f = (0.1, 0.5) (6a) or (0.1, 0.33, 0.66) (6b) and spans round(0.1 T) more
      positions; for short T the windows are pushed right so they stay disjoint, after E, and before the
      earliest trigger position T (T >= 4 for 6a, 5 for 6b).
    - Symbol ids: E 0, B 1, a-d 2-5, X 6, Y 7; class id = the order read as binary with X = 0, Y = 1.
    - Ragged lengths come as ``Batch.lengths`` with zero inputs past each end. Pascanu et al. 2013's code
      (``tempOrder.py``) uses a 6-symbol variant without E and B; this module implements H&S's.

Book: 10.7 (long-term dependencies), 10.10.1 (LSTM).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recnets.tasks.base import Batch
from recnets.tasks.generated import EndClassificationTask, GeneratedConfig, chance_floors, one_hot

__all__ = ["TemporalOrderConfig", "TemporalOrder2BitTask", "TemporalOrder3BitTask", "temporal_order_windows",
           "SYMBOLS", "E", "B", "X", "Y"]

SYMBOLS = ("E", "B", "a", "b", "c", "d", "X", "Y")
E, B, X, Y = 0, 1, 6, 7
DISTRACTORS = (2, 3, 4, 5)


@dataclass(frozen=True)
class TemporalOrderConfig(GeneratedConfig):
    """Config of the temporal order tasks (see :class:`GeneratedConfig`); T is the minimal length."""


def temporal_order_windows(T: int, fractions: tuple[float, ...]) -> tuple[tuple[int, int], ...]:
    """The 1-based inclusive windows ``(first, last)`` of the relevant positions for minimal length ``T``.

    At T = 100: ((10, 20), (50, 60)) for fractions (0.1, 0.5); ((10, 20), (33, 43), (66, 76)) for
    (0.1, 0.33, 0.66).
    """
    count, width = len(fractions), round(0.1 * T)
    windows, previous_last = [], 1  # position 1 holds E
    for index, fraction in enumerate(fractions):
        latest = T - (count - index)  # leave one position per later window before the trigger at >= T
        first = min(max(round(fraction * T), previous_last + 1), latest)
        last = min(first + width, latest)
        windows.append((first, last))
        previous_last = last
    return tuple(windows)


class _TemporalOrderTask(EndClassificationTask):
    """Abstract: the generator of exps. 6a/6b for ``fractions`` (window starts as fractions of T)."""

    config_class = TemporalOrderConfig
    fractions: tuple[float, ...] = ()

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """``inputs (B, T + T//10, 8)`` one-hot float32, zero past each length; ``targets (B,)``; ``lengths``."""
        T = self.config.T
        steps = T + T // 10
        lengths = T + torch.randint(T // 10 + 1, (batch_size,), generator=generator)  # (B,)
        symbols = torch.randint(len(DISTRACTORS), (batch_size, steps), generator=generator) + DISTRACTORS[0]
        rows = torch.arange(batch_size)
        symbols[:, 0] = E
        symbols[rows, lengths - 1] = B
        label = torch.zeros(batch_size, dtype=torch.long)
        for first, last in temporal_order_windows(T, self.fractions):
            position = first - 1 + torch.randint(last - first + 1, (batch_size,), generator=generator)  # 0-based
            bit = torch.randint(2, (batch_size,), generator=generator)  # 0 = X, 1 = Y
            symbols[rows, position] = X + bit
            label = 2 * label + bit
        real = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T')
        inputs = one_hot(symbols, len(SYMBOLS)) * real.unsqueeze(-1)  # (B, T', 8)
        return Batch(inputs, label, lengths)

    def baselines(self) -> dict[str, float]:
        """Chance: ``chance_loss`` ln C nats, ``chance_error`` 1 - 1/C."""
        return chance_floors(self.num_classes)


class TemporalOrder2BitTask(_TemporalOrderTask):
    """Hochreiter & Schmidhuber 1997 exp. 6a: the order of X/Y at t1 ∈ [10, 20], t2 ∈ [50, 60] (T = 100).

    Args:
        config: :class:`TemporalOrderConfig`.

    Shapes:
        inputs (B, T + T//10, 8); targets (B,) in 0..3; lengths (B,).
    """

    name = "temporal-order-2bit"
    num_classes = 4
    min_T = 4
    fractions = (0.1, 0.5)


class TemporalOrder3BitTask(_TemporalOrderTask):
    """Hochreiter & Schmidhuber 1997 exp. 6b: three relevant symbols at [10, 20], [33, 43], [66, 76] (T = 100).

    Args:
        config: :class:`TemporalOrderConfig`.

    Shapes:
        inputs (B, T + T//10, 8); targets (B,) in 0..7; lengths (B,).
    """

    name = "temporal-order-3bit"
    num_classes = 8
    min_T = 5
    fractions = (0.1, 0.33, 0.66)

