"""Window regression: the target at t is a weighted sum of the inputs from ``left`` steps before t to ``right``
steps after it, so no causal model can know it at time t.

**The generator** (ours, written from the definition below). Inputs x(t) are independent and uniform on
[0, 1], t = 0 .. T-1 (one real input per step). The target is

    y(t) = Σ_{k=-L..R} a_k (x(t + k) - 1/2),    a_k = w_k / s,
    w_k = 1 - |k| / (L + 1) for k <= 0,   w_k = 1 - k / (R + 1) for k >= 0,   s² = Σ_k w_k² / 12,

with x(t + k) - 1/2 taken as 0 outside the sequence: weights falling off linearly on both sides of t, scaled
so that y(t) has mean 0 and variance 1 away from the ends. y is an exact function of the T inputs (no noise).

**Floors, exact.** Predicting 0 costs E[y²] (``constant_mse``, a little below 1 because of the ends). A model
that has read x(0 .. t + d) (a forward RNN whose output is delayed by d steps) can at best predict the part of
y(t) it has seen, since the unseen inputs are independent with mean 1/2; its least mean squared error is the
variance of the unseen part, :func:`causal_floor` (d): the mean over t of Σ_{k = d+1 .. min(R, T-1-t)} a_k² / 12.
A bidirectional model reads everything: its floor is 0.

**Schuster & Paliwal 1997** (as recalled, not checked against the paper): uniform random inputs in [0, 1], a
target made from the inputs in an asymmetric window around each step with weights falling off linearly on
both sides; forward RNNs with the output delayed by 0 .. 20 steps against a bidirectional RNN, which was the
best. Their exact window, scaling and sequence length are not reproduced here.

Book: 10.3 (outputs that depend on the whole input sequence), 10.2 (a real output at every step).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recnets.tasks.base import Batch
from recnets.tasks.generated import GeneratedConfig, StepRegressionTask

__all__ = ["WindowRegressionConfig", "WindowRegressionTask", "window_weights", "window_targets", "causal_floor",
           "constant_floor"]


@dataclass(frozen=True)
class WindowRegressionConfig(GeneratedConfig):
    """Config of the window regression (see :class:`GeneratedConfig`; T is every sequence's length).

    Attributes:
        left: L, steps before t in the window (>= 0).
        right: R, steps after t in the window (>= 1).
    """

    left: int = 10
    right: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, minimum in (("left", 0), ("right", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def window_weights(left: int, right: int) -> Tensor:
    """The scaled weights a_{-L} .. a_R, float64 ``(L + R + 1,)``: linear fall-off, Σ a_k² = 12."""
    offsets = torch.arange(-left, right + 1, dtype=torch.float64)
    w = torch.where(offsets <= 0, 1 - offsets.abs() / (left + 1), 1 - offsets / (right + 1))  # (L + R + 1,)
    return w / (w.square().sum() / 12).sqrt()


def window_targets(inputs: Tensor, left: int, right: int) -> Tensor:
    """y(t) = Σ_k a_k (x(t + k) - 1/2) with zeros outside the sequence: ``inputs (B, T)`` -> ``(B, T)`` float64."""
    centred = inputs.to(torch.float64) - 0.5  # (B, T)
    padded = torch.nn.functional.pad(centred, (left, right))  # (B, L + T + R)
    windows = padded.unfold(1, left + right + 1, 1)  # (B, T, L + R + 1): x(t - L .. t + R)
    return windows @ window_weights(left, right)  # (B, T)


def causal_floor(delay: int, T: int, left: int, right: int) -> float:
    """The least mean squared error per step of any predictor of y(t) that has read x(0 .. t + delay).

    The mean over t of the variance of the unseen inputs' part, Σ_{k = delay+1 .. min(R, T-1-t)} a_k² / 12;
    0 from delay = R on.
    """
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"delay: expected an integer >= 0, got {delay!r}")
    squares = window_weights(left, right).square() / 12  # (L + R + 1,)
    total = 0.0
    for t in range(T):
        last = min(right, T - 1 - t)  # the furthest future offset inside the sequence
        if last > delay:
            total += float(squares[left + delay + 1:left + last + 1].sum())
    return total / T


def constant_floor(T: int, left: int, right: int) -> float:
    """E[y²] per step: the mean squared error of predicting 0 (the mean of y)."""
    squares = window_weights(left, right).square() / 12
    total = 0.0
    for t in range(T):
        first, last = max(-left, -t), min(right, T - 1 - t)
        total += float(squares[left + first:left + last + 1].sum())
    return total / T


class WindowRegressionTask(StepRegressionTask):
    """The window regression: one uniform input and one real target per step.

    Args:
        config: :class:`WindowRegressionConfig`.

    Shapes:
        inputs (B, T, 1) float32 in [0, 1]; targets (B, T, 1) float32; lengths None (all T).

    Book: 10.3.
    """

    name = "window-regression"
    config_class = WindowRegressionConfig

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        """``batch_size`` sequences of T uniform inputs and their window targets."""
        config = self.config
        inputs = torch.rand(batch_size, config.T, generator=generator)  # (B, T) float32, what the model reads
        targets = window_targets(inputs, config.left, config.right)  # (B, T) float64, of exactly those inputs
        return Batch(inputs.unsqueeze(-1), targets.unsqueeze(-1).float())

    def baselines(self) -> dict[str, float]:
        """``constant_mse`` (predict 0) and ``causal_mse``, the floor of any model reading only x(0 .. t)."""
        config = self.config
        return {"constant_mse": constant_floor(config.T, config.left, config.right),
                "causal_mse": causal_floor(0, config.T, config.left, config.right)}
