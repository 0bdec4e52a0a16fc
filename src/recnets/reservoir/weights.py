"""The fixed weights of a reservoir: a sparse random W rescaled to a spectral radius, random W_in, W_fb, b.

Book: 10.8 (echo state networks: set the recurrent weights so that the spectral radius of the state-to-state
Jacobian sits near the edge of stability, then learn only the output weights).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from recnets.analysis.spectrum import spectral_radius as _radius_of  # the argument below hides the name

__all__ = ["reservoir_matrix", "random_matrix", "check_positive", "check_fraction"]

DISTRIBUTIONS = ("uniform", "normal")


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite number > 0 (>= 0 with ``allow_zero``); else a one-line error."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not (
            value >= 0 if allow_zero else value > 0):
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return float(value)


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float if it lies in (0, 1]; else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name}: expected a number in (0, 1], got {value!r}")
    return float(value)


def random_matrix(rows: int, columns: int, *, scaling: float = 1.0, connectivity: float = 1.0,
                  distribution: str = "uniform", generator: torch.Generator | None = None) -> Tensor:
    """A float64 (rows, columns) matrix: each entry nonzero with probability ``connectivity``, drawn from
    U[-scaling, scaling] (``"uniform"``) or N(0, scaling²) (``"normal"``)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution: expected one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
    connectivity = check_fraction("connectivity", connectivity)
    if distribution == "uniform":
        values = (torch.rand(rows, columns, generator=generator, dtype=torch.float64) * 2 - 1) * scaling
    else:
        values = torch.randn(rows, columns, generator=generator, dtype=torch.float64) * scaling
    if connectivity < 1.0:
        values = values * (torch.rand(rows, columns, generator=generator, dtype=torch.float64) < connectivity)
    return values


def reservoir_matrix(size: int, *, spectral_radius: float = 0.9, connectivity: float = 0.1,
                     distribution: str = "uniform", generator: torch.Generator | None = None) -> Tensor:
    """A random sparse (N, N) float64 matrix rescaled so that its spectral radius is ``spectral_radius``.

    Args:
        size: N, the number of reservoir units.
        spectral_radius: the requested max |λ(W)|, > 0 (below 1 for the echo state property of a tanh
            reservoir driven from rest; Jaeger 2001 §3).
        connectivity: the probability that an entry is nonzero, in (0, 1].
        distribution: the nonzero entries' law before rescaling, ``"uniform"`` on [-1, 1] or ``"normal"``.
        generator: the torch.Generator to draw from (seeded by the caller).

    Book: 10.8.
    """
    target = check_positive("spectral_radius", spectral_radius)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: expected an integer >= 1, got {size!r}")
    W = random_matrix(size, size, connectivity=connectivity, distribution=distribution, generator=generator)
    radius = _radius_of(W)  # (W is float64)
    if radius == 0.0:
        raise ValueError(f"connectivity: the drawn {size}x{size} matrix at connectivity {connectivity} has spectral "
                         f"radius 0 (too few nonzeros to rescale); expected a larger connectivity or size")
    return W * (target / radius)
