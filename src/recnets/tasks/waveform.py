"""Waveform generation: output a fixed sum of sines, one sample per step, from no input.

**Koutník, Greff, Gomez & Schmidhuber 2014 (clockwork RNN), sequence generation.** The network has no
input and one linear output; it is trained to emit a target sequence of T = 320 samples, scored by mean
squared error. The waveform here is

    y(t) = Σ_k a_k sin(2π t / P_k + φ_k),   t = 1..T,

with periods P_k and amplitudes a_k from the config and phases φ_k uniform in [0, 2π) drawn from the seed
(fixed per seed). Every batch holds the same sequence; the input is the constant 0 (B, T, 1).

Trivial baseline: predicting the waveform's mean at every step, whose MSE is its variance over the T
samples (computed exactly); when every P_k divides T into a distinct number of whole cycles below T/2, this
is Σ_k a_k² / 2 and the mean is 0.

Deviations:
    - Koutník et al.'s target is a 320-sample excerpt of a piece of music (not redistributable here); a sum
      of sines at several timescales, as in public re-runs of the experiment, stands in for it. The default
      periods (160, 64, 32, 10) fit the clockwork periods 1, 2, 4, ... and divide T = 320.

Book: 10.9.3 (multiple timescales: the clockwork RNN), 10.2.3 (a model that generates a sequence).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from recnets.tasks.base import Batch, step_generator
from recnets.tasks.generated import GeneratedConfig, StepRegressionTask

__all__ = ["WaveformConfig", "SumOfSinesTask", "WAVEFORM_STEP"]

WAVEFORM_STEP = 2**62 + 2**41  # the step number whose generator draws the phases


@dataclass(frozen=True)
class WaveformConfig(GeneratedConfig):
    """Config of :class:`SumOfSinesTask`.

    Attributes:
        T: samples (320 in the paper).
        periods: P_k, positive, in steps.
        amplitudes: a_k, one per period.
        batch_size, eval_size: copies of the one sequence per training / held-out batch.
    """

    T: int = 320
    batch_size: int = 1
    eval_size: int = 1
    eval_batch_size: int = 1
    periods: tuple[float, ...] = (160.0, 64.0, 32.0, 10.0)
    amplitudes: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("periods", "amplitudes"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
                raise ValueError(f"{name}: expected a non-empty tuple of finite numbers, got {value!r}")
        if any(p <= 0 for p in self.periods):
            raise ValueError(f"periods: expected positive numbers, got {self.periods!r}")
        if len(self.amplitudes) != len(self.periods):
            raise ValueError(f"amplitudes: expected {len(self.periods)} (one per period), got {len(self.amplitudes)}")


class SumOfSinesTask(StepRegressionTask):
    """Generate a fixed sum of sines from no input, after Koutník et al. 2014 (module docstring).

    Args:
        config: :class:`WaveformConfig`.

    Shapes:
        inputs (B, T, 1) zeros; targets (B, T, 1); outputs (B, T, 1) (an OutputEveryStep with O = 1).
    """

    name = "sum-of-sines"
    config_class = WaveformConfig

    def __init__(self, config: WaveformConfig | None = None) -> None:
        super().__init__(config)
        count = len(self.config.periods)
        self.phases = 2 * math.pi * torch.rand(count, generator=step_generator(self.seed, WAVEFORM_STEP),
                                               dtype=torch.float64)  # (K,)
        self.waveform = self.waveform_at(torch.arange(1, self.config.T + 1, dtype=torch.float64))  # (T,) float64

    def waveform_at(self, t: Tensor) -> Tensor:
        """y(t) = Σ_k a_k sin(2π t / P_k + φ_k) for float64 times ``t`` (any shape)."""
        periods = torch.tensor(self.config.periods, dtype=torch.float64)
        amplitudes = torch.tensor(self.config.amplitudes, dtype=torch.float64)
        angles = 2 * math.pi * t.unsqueeze(-1) / periods + self.phases  # (..., K)
        return (amplitudes * torch.sin(angles)).sum(-1)

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """``batch_size`` copies of the waveform; ``generator`` is unused (the sequence is fixed)."""
        T = self.config.T
        targets = self.waveform.float().expand(batch_size, T).unsqueeze(-1).contiguous()  # (B, T, 1)
        return Batch(torch.zeros(batch_size, T, 1), targets)

    def baselines(self) -> dict[str, float]:
        """``mean_mse``: the waveform's variance over its T samples (the MSE of predicting its mean)."""
        mean = float(self.waveform.mean())
        return {"mean_mse": float((self.waveform - mean).square().mean()), "constant": mean}
