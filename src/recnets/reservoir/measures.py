"""Measures of reservoirs and their predictions: NRMSE, short-term memory capacity, the echo state property.

Book: 10.8 (echo state networks; the spectral radius and the memory of a fixed reservoir).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from recnets.core.state import Hidden
from recnets.reservoir.cell import ReservoirCell
from recnets.reservoir.readout import RidgeAccumulator

__all__ = ["nrmse", "nmse", "MemoryCapacity", "memory_capacity", "EchoStateCheck", "echo_state_property"]


def _errors(predictions: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Per-output mean squared error and target variance (population), reduced over every other dim."""
    if not isinstance(predictions, Tensor) or not isinstance(targets, Tensor) or predictions.shape != targets.shape:
        raise ValueError(f"predictions: expected the shape of targets "
                         f"{tuple(getattr(targets, 'shape', ()))}, got {tuple(getattr(predictions, 'shape', ()))}")
    if predictions.numel() == 0:
        raise ValueError("targets: expected at least one value, got an empty tensor")
    predictions, targets = predictions.double(), targets.double()
    if predictions.dim() < 2:
        predictions, targets = predictions.reshape(-1, 1), targets.reshape(-1, 1)
    width = targets.shape[-1]
    predictions, targets = predictions.reshape(-1, width), targets.reshape(-1, width)  # (R, O)
    variance = targets.var(0, unbiased=False)
    if bool((variance == 0).any()):
        raise ValueError("targets: expected a target that varies (its variance is the NRMSE's scale), got a constant")
    return (predictions - targets).square().mean(0), variance


def nrmse(predictions: Tensor, targets: Tensor) -> float:
    """The normalised root mean squared error sqrt(mean((ŷ - y)²) / var(y)), averaged over outputs.

    A (..., O) pair is reduced over every dimension but the last (one NRMSE per output, then their mean);
    a 1-D pair is one output. 1 is the error of predicting the target's mean.

    Book: 10.8 (the figure of merit of echo-state predictions, Jaeger & Haas 2004).
    """
    mse, variance = _errors(predictions, targets)
    return float((mse / variance).sqrt().mean())


def nmse(predictions: Tensor, targets: Tensor) -> float:
    """The normalised mean squared error mean((ŷ - y)²) / var(y) (= NRMSE², per output, averaged)."""
    mse, variance = _errors(predictions, targets)
    return float((mse / variance).mean())


class MemoryCapacity(NamedTuple):
    """MC_k for delays k = 0..K-1 (K,) and their sum MC."""

    per_delay: Tensor
    total: float


def memory_capacity(reservoir: ReservoirCell, *, max_delay: int | None = None, length: int = 4000,
                    test_length: int = 2000, washout: int | None = None, ridge: float = 1e-10,
                    seed: int = 0) -> MemoryCapacity:
    """Short-term memory capacity MC = Σ_k r²(u(n - k), y_k(n)) of a reservoir with one input (Jaeger 2001).

    The reservoir is driven by i.i.d. u(n) ~ U[-1, 1]; one linear readout y_k(n) = w_k [1; x(n)] per delay k
    is fitted by ridge regression (all K at once) on ``length`` steps after the washout, and r² is the
    squared correlation between y_k(n) and u(n - k) on the next ``test_length`` steps.

    Args:
        reservoir: a :class:`ReservoirCell` with input size 1 (no output feedback).
        max_delay: K, the delays 0..K-1 read out (default 2N). A linear reservoir with spectral radius ρ near 1
            spreads its capacity over about 1 / (1 - ρ²) delays: K must reach that far, or MC is underestimated
            (measured: N = 10, ρ = 0.99, K = 20 gives 3.2 of 10).
        length, test_length: training and test steps.
        washout: steps dropped first (default K, so every delayed target exists).
        ridge: the readouts' ridge.
        seed: seeds the input series.

    Returns:
        a :class:`MemoryCapacity`; MC ≤ N (Jaeger 2001), with equality for a linear reservoir whose Krylov
        matrix [w, W w, ..., W^(N-1) w] has full rank, in the limit of long series.

    Book: 10.8; 10.7 (a linear recurrence's memory fades with the powers of W).
    Deviations: delays count from k = 0 (the current input, which the state x(n) has seen); counted so, the
    bound MC ≤ N is attained by a linear reservoir.
    """
    if not isinstance(reservoir, ReservoirCell) or reservoir.input_size != 1 or reservoir.feedback_size:
        raise ValueError("reservoir: expected a ReservoirCell with input_size 1 and no feedback, got "
                         f"{reservoir!r}")
    K = 2 * reservoir.hidden_size if max_delay is None else max_delay
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"max_delay: expected an integer >= 1, got {max_delay!r}")
    washout = K if washout is None else washout
    if washout < K - 1:
        raise ValueError(f"washout: expected at least max_delay - 1 ({K - 1}) steps, got {washout}")
    for name, value in (("length", length), ("test_length", test_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name}: expected an integer >= 2, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    total = washout + length + test_length
    u = (torch.rand(total, generator=generator, dtype=torch.float64) * 2 - 1).to(reservoir.W)  # (T,)
    states, _ = reservoir.run(u.view(1, total, 1))
    states = states[0]  # (T, N)
    delayed = torch.stack([torch.roll(u, k) for k in range(K)], -1)  # (T, K): u(n - k) (wrapped rows unused)
    features = torch.cat([torch.ones(total, 1, dtype=states.dtype, device=states.device), states], -1)  # (T, 1+N)
    train = slice(washout, washout + length)
    accumulator = RidgeAccumulator(features.shape[1], K, device=states.device)
    accumulator.add(features[train], delayed[train])
    W_out = accumulator.solve(ridge)  # (K, 1+N)
    test = slice(washout + length, total)
    outputs = features[test].double() @ W_out.t()  # (test, K)
    targets = delayed[test].double()
    outputs, targets = outputs - outputs.mean(0), targets - targets.mean(0)
    r2 = (outputs * targets).sum(0).square() / (outputs.square().sum(0) * targets.square().sum(0))
    r2 = torch.nan_to_num(r2, nan=0.0)
    return MemoryCapacity(r2.cpu(), float(r2.sum()))


class EchoStateCheck(NamedTuple):
    """Whether the states from different initial conditions converged: ``holds`` when the largest distance
    to the reference run fell below ``tolerance`` times its start; ``distances`` (T,) per step."""

    holds: bool
    distances: Tensor
    tolerance: float


def echo_state_property(reservoir: ReservoirCell, us: Tensor, *, starts: int = 8, tolerance: float = 1e-6,
                        seed: int = 0) -> EchoStateCheck:
    """Empirical echo state property: the same input from ``starts`` random initial states x(0) ~ U[-1, 1]^N
    must lead to the same state trajectory (the state forgets its initial condition).

    Args:
        reservoir: a reservoir without output feedback.
        us: one input series (T, D).
        starts: initial states compared with the run from x(0) = 0.
        tolerance: the largest final distance allowed, relative to the largest initial one.

    Returns:
        an :class:`EchoStateCheck` (distances: max over starts of ‖x_i(n) - x_0(n)‖ at every step).

    Book: 10.8 (the echo state property: the state is an echo of the input history; a spectral radius
    above 1 may break it, a contracting reservoir always has it).
    """
    if not isinstance(us, Tensor) or us.dim() != 2:
        raise ValueError(f"us: expected one series (T, D), got {tuple(getattr(us, 'shape', ()))}")
    if reservoir.feedback_size:
        raise ValueError("reservoir: expected a reservoir without output feedback (feedback_size 0), got "
                         f"feedback_size {reservoir.feedback_size}")
    generator = torch.Generator().manual_seed(seed)
    x0 = (torch.rand(starts + 1, reservoir.hidden_size, generator=generator, dtype=torch.float64) * 2 - 1)
    x0[0] = 0
    x0 = x0.to(reservoir.W)
    batch = us.to(reservoir.W).unsqueeze(0).expand(starts + 1, -1, -1)  # (S+1, T, D)
    states, _ = reservoir.run(batch, Hidden(x0))
    distances = (states[1:] - states[:1]).norm(dim=-1).amax(0).cpu()  # (T,)
    start = float((x0[1:] - x0[:1]).norm(dim=-1).max())
    return EchoStateCheck(bool(distances[-1] <= tolerance * start), distances, tolerance)
