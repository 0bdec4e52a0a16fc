"""Readouts of a reservoir: ridge regression in closed form from accumulated statistics, and online RLS.

Book: 10.8 (only the output weights of an echo state network are learned; with a linear readout and a
squared error the problem is convex: a linear regression, solved in closed form).
"""
from __future__ import annotations

import abc
import math
from typing import Sequence

import torch
from torch import Tensor

from recnets.reservoir.weights import check_positive

__all__ = ["LeastSquaresStatistics", "RidgeAccumulator", "QRRidgeAccumulator", "RLSReadout", "log_grid"]


def _gram(X: Tensor) -> Tensor:
    """XᵀX (F, F) of the rows X (R, F).

    On the CPU in float32/float64 it is numpy's ``X.T @ X``, which numpy runs as BLAS's symmetric rank-k update
    (syrk): half the multiply-adds of torch's general product, which has no symmetric variant (measured 2x
    faster for R = 10,000, F = 1,001 in float64; ``benchmarks/bench_reservoir.py``). Elsewhere torch's product.
    numpy's BLAS threads follow ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``, not ``torch.set_num_threads``.
    """
    if X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64):
        rows = X.detach().contiguous().numpy()  # (R, F), shares memory
        return torch.from_numpy(rows.T @ rows)
    return X.t() @ X


def log_grid(low: float = 1e-10, high: float = 1e-1, per_decade: int = 1) -> list[float]:
    """Ridge values spaced evenly on a log scale from ``low`` to ``high`` (both included)."""
    low, high = check_positive("low", low), check_positive("high", high)
    if high < low:
        raise ValueError(f"high: expected a number >= low ({low}), got {high}")
    count = round(math.log10(high / low) * per_decade)
    return [low * (high / low) ** (i / count) for i in range(count + 1)] if count else [low]


class LeastSquaresStatistics(abc.ABC):
    """Sufficient statistics of a linear least-squares readout, accumulated chunk by chunk (abstract).

    ``add(X, Y)`` takes the rows of a chunk; :meth:`solve` returns the ridge solution W_out (O, F) and
    :meth:`squared_error` the summed squared error of any W_out on every row added. So memory does not grow
    with the series' length, and a validation accumulator scores every ridge of a grid without keeping the
    validation states. :class:`RidgeAccumulator` keeps the normal equations (XᵀX, XᵀY: fast);
    :class:`QRRidgeAccumulator` keeps a triangular factor R of X (numerically stable).

    Book: 10.8 (the readout's linear regression).
    Deviations: the ridge penalises every weight, the bias's included, as in Jaeger's and reservoirpy's
    formulation.
    """

    features: int
    outputs: int
    YtY: Tensor  # (O,): Σ y² per output
    Ysum: Tensor  # (O,): Σ y per output
    count: int

    def _start(self, features: int, outputs: int, dtype: torch.dtype, device: torch.device | str | None) -> None:
        for name, value in (("features", features), ("outputs", outputs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        self.features, self.outputs = features, outputs
        self.YtY = torch.zeros(outputs, dtype=dtype, device=device)
        self.Ysum = torch.zeros(outputs, dtype=dtype, device=device)
        self.count = 0

    def _rows(self, X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
        """X (R, F), Y (R, O) in the statistics' dtype, checked; Σ y², Σ y and the count updated."""
        if X.shape[-1] != self.features or Y.shape[-1] != self.outputs or X.shape[:-1] != Y.shape[:-1]:
            raise ValueError(f"X, Y: expected shapes (..., {self.features}) and (..., {self.outputs}) with the "
                             f"same leading dimensions, got {tuple(X.shape)} and {tuple(Y.shape)}")
        if not bool(torch.isfinite(Y).all()):
            raise ValueError("Y: expected finite targets, got NaN or inf")
        X = X.reshape(-1, self.features).to(self.YtY)  # (R, F)
        Y = Y.reshape(-1, self.outputs).to(self.YtY)  # (R, O)
        self.YtY += Y.square().sum(0)
        self.Ysum += Y.sum(0)
        self.count += X.shape[0]
        return X, Y

    def _check_solvable(self, ridge: float) -> float:
        ridge = check_positive("ridge", ridge, allow_zero=True)
        if self.count == 0:
            raise ValueError("X: expected at least one row added before solving, got none")
        return ridge

    def _singular(self, ridge: float, scale: float) -> ValueError:
        return ValueError(f"ridge: the readout's normal equations are singular at ridge {ridge:g} "
                          f"({self.count} rows, {self.features} features); expected a larger ridge, "
                          f"e.g. {max(ridge * 100, scale * 1e-8, 1e-12):.0e}")

    @abc.abstractmethod
    def add(self, X: Tensor, Y: Tensor) -> None:
        """Add the rows of X (..., F) and their targets Y (..., O)."""

    @abc.abstractmethod
    def merge(self, other: "LeastSquaresStatistics") -> None:
        """Add every row another accumulator of the same kind and sizes has seen."""

    @abc.abstractmethod
    def solve(self, ridge: float) -> Tensor:
        """W_out (O, F) minimising ‖X W_outᵀ - Y‖² + ridge ‖W_out‖²; a one-line error when singular."""

    @abc.abstractmethod
    def squared_error(self, W_out: Tensor) -> Tensor:
        """Σ over rows of ‖W_out x - y‖², per output (O,)."""

    def _check_other(self, other: "LeastSquaresStatistics") -> None:
        if type(other) is not type(self) or (other.features, other.outputs) != (self.features, self.outputs):
            raise ValueError(f"other: expected a {type(self).__name__} of {self.features} features and "
                             f"{self.outputs} outputs, got a {type(other).__name__} of {other.features} and "
                             f"{other.outputs}")
        self.YtY += other.YtY
        self.Ysum += other.Ysum
        self.count += other.count

    def target_variance(self) -> Tensor:
        """The population variance of each output over the rows added (O,)."""
        mean = self.Ysum / self.count
        return self.YtY / self.count - mean.square()

    def nrmse(self, W_out: Tensor) -> float:
        """sqrt(mean squared error / target variance), averaged over outputs, of W_out on the rows added."""
        if self.count == 0:
            raise ValueError("X: expected at least one row added before scoring, got none")
        mse = self.squared_error(W_out).clamp(min=0) / self.count
        return float((mse / self.target_variance()).sqrt().mean())

    def choose_ridge(self, validation: "LeastSquaresStatistics",
                     grid: Sequence[float]) -> tuple[float, dict[float, float]]:
        """The ridge of ``grid`` whose solution has the lowest validation NRMSE, and every ridge's NRMSE.

        Ridges whose system is singular are skipped (scored inf); if all are, the error of the largest is raised.
        """
        if not grid:
            raise ValueError("grid: expected at least one ridge value, got none")
        scores: dict[float, float] = {}
        for ridge in grid:
            try:
                scores[float(ridge)] = validation.nrmse(self.solve(ridge))
            except ValueError:
                scores[float(ridge)] = math.inf
        best = min(scores, key=lambda ridge: (scores[ridge], -ridge))
        if math.isinf(scores[best]):
            self.solve(max(grid))  # raises the one-line singular-system error
        return best, scores


class RidgeAccumulator(LeastSquaresStatistics):
    """The normal equations of a ridge readout, XᵀX and XᵀY, accumulated chunk by chunk.

    :meth:`solve` returns W_out = Yᵀ X (XᵀX + λ I)⁻¹ by a Cholesky factorisation. Fast (one symmetric
    product per chunk), but XᵀX squares X's condition number: below a ridge of about cond(X)⁻¹ ε the system
    is singular in float64 (then :class:`QRRidgeAccumulator`).

    Args:
        features: F, the width of a feature row (e.g. [1; u; x]: 1 + D + N).
        outputs: O.
        dtype: the accumulation dtype (float64: the normal equations square X's condition number).
        device: where the statistics live.

    Shapes:
        add: X (..., F), Y (..., O); solve -> W_out (O, F).

    Book: 10.8 (the readout's linear regression).
    """

    def __init__(self, features: int, outputs: int, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        self._start(features, outputs, dtype, device)
        self.XtX = torch.zeros(features, features, dtype=dtype, device=device)  # (F, F)
        self.XtY = torch.zeros(features, outputs, dtype=dtype, device=device)  # (F, O)

    def add(self, X: Tensor, Y: Tensor) -> None:
        X, Y = self._rows(X, Y)  # (R, F), (R, O)
        self.XtX += _gram(X)  # (F, F)
        self.XtY.addmm_(X.t(), Y)

    def merge(self, other: "RidgeAccumulator") -> None:
        self._check_other(other)
        self.XtX += other.XtX
        self.XtY += other.XtY

    def solve(self, ridge: float) -> Tensor:
        """W_out (O, F) minimising ‖X W_outᵀ - Y‖² + ridge ‖W_out‖², by a Cholesky factorisation.

        A singular system (ridge 0 with fewer independent rows than features, or a ridge too small for the
        features' scale) raises a one-line error suggesting a larger ridge.
        """
        ridge = self._check_solvable(ridge)
        system = self.XtX + ridge * torch.eye(self.features, dtype=self.XtX.dtype, device=self.XtX.device)
        factor, info = torch.linalg.cholesky_ex(system)
        singular = int(info) != 0
        if not singular and ridge == 0:  # roundoff can leave a rank-deficient XᵀX "positive definite"
            pivots = factor.diagonal().square() / system.diagonal()  # (F,): 1 for independent columns, ~eps if not
            singular = self.count < self.features or bool(
                (pivots <= self.features * torch.finfo(system.dtype).eps).any())
        if singular:
            raise self._singular(ridge, float(self.XtX.diagonal().mean()))
        return torch.cholesky_solve(self.XtY, factor).t().contiguous()  # (O, F)

    def squared_error(self, W_out: Tensor) -> Tensor:
        """Σ over rows of ‖W_out x - y‖², per output (O,): tr(W XᵀX Wᵀ) - 2 tr(W XᵀY) + Σ y²."""
        W_out = W_out.to(self.XtX)
        return ((W_out @ self.XtX) * W_out).sum(1) - 2 * (W_out * self.XtY.t()).sum(1) + self.YtY


class QRRidgeAccumulator(LeastSquaresStatistics):
    """A ridge readout from a triangular factor of X, updated chunk by chunk (a tall-skinny QR).

    Keeps R (F, F) and c = Qᵀ Y (F, O) with X = Q R for every row added so far: each chunk is one QR of
    [[R, c], [X_chunk, Y_chunk]]. The ridge solution solves [R; √λ I] w ≈ [c; 0] by another QR, so X's
    condition number is not squared: ridges far below what the normal equations allow stay usable
    (measured on Mackey-Glass at N = 1000: cond(X) ≈ 1.6e11). About 2.5x the work of
    :class:`RidgeAccumulator` per chunk.

    Args:
        features: F; outputs: O; dtype, device: of R and c.

    Shapes:
        add: X (..., F), Y (..., O); solve -> W_out (O, F).

    Book: 10.8 (the readout's linear regression).
    """

    def __init__(self, features: int, outputs: int, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        self._start(features, outputs, dtype, device)
        self.R = torch.zeros(features, features, dtype=dtype, device=device)  # (F, F), upper triangular
        self.QtY = torch.zeros(features, outputs, dtype=dtype, device=device)  # (F, O)

    def _absorb(self, X: Tensor, Y: Tensor) -> None:
        stacked = torch.cat([torch.cat([self.R, self.QtY], 1), torch.cat([X, Y], 1)], 0)  # (F + R, F + O)
        upper = torch.linalg.qr(stacked, mode="r").R  # (min(F + R, F + O), F + O)
        self.R = upper[:self.features, :self.features].contiguous()
        self.QtY = upper[:self.features, self.features:].contiguous()

    def add(self, X: Tensor, Y: Tensor) -> None:
        self._absorb(*self._rows(X, Y))

    def merge(self, other: "QRRidgeAccumulator") -> None:
        self._check_other(other)
        self._absorb(other.R, other.QtY)  # [R₁; R₂] has the Gram matrix of both row sets

    def solve(self, ridge: float) -> Tensor:
        """W_out (O, F) minimising ‖X W_outᵀ - Y‖² + ridge ‖W_out‖², by triangular solves (no XᵀX).

        Ridge 0 with a (numerically) rank-deficient R raises the one-line singular-system error.
        """
        ridge = self._check_solvable(ridge)
        R, c = self.R, self.QtY
        if ridge > 0:
            augmented = torch.cat([torch.cat([R, c], 1), torch.cat(
                [math.sqrt(ridge) * torch.eye(self.features, dtype=R.dtype, device=R.device),
                 torch.zeros(self.features, self.outputs, dtype=R.dtype, device=R.device)], 1)], 0)  # (2F, F + O)
            upper = torch.linalg.qr(augmented, mode="r").R
            R, c = upper[:self.features, :self.features], upper[:self.features, self.features:]
        else:
            diagonal = R.diagonal().abs()
            if self.count < self.features or bool(
                    (diagonal <= self.features * torch.finfo(R.dtype).eps * diagonal.max()).any()):
                raise self._singular(ridge, float(diagonal.max()) ** 2 / max(self.count, 1))
        return torch.linalg.solve_triangular(R, c, upper=True).t().contiguous()  # (O, F)

    def squared_error(self, W_out: Tensor) -> Tensor:
        """Σ over rows of ‖W_out x - y‖², per output (O,): ‖R Wᵀ - Qᵀ Y‖² + (Σ y² - ‖Qᵀ Y‖²)."""
        W_out = W_out.to(self.R)
        return (self.R @ W_out.t() - self.QtY).square().sum(0) + self.YtY - self.QtY.square().sum(0)


class RLSReadout:
    """Online recursive least squares on a readout, as in FORCE learning (Sussillo & Abbott 2009).

    For each feature row r with target f: e = W r - f (the error before the update), k = P r / (1 + rᵀ P r),
    P ← P - k (P r)ᵀ, W ← W - e kᵀ. P starts at I / α, so α acts as a ridge: with no forgetting, after any
    rows W equals the ridge solution Yᵀ X (XᵀX + α I)⁻¹ (a test checks this identity).

    Args:
        features: F; outputs: O.
        alpha: the initial inverse-correlation scale, P(0) = I / alpha (> 0).
        forgetting: λ in (0, 1]: P ← P / λ after each update (1: none).
        dtype, device: of W and P.

    Attributes:
        W (O, F); P (F, F).

    Book: 10.8 (learning only the readout); online rather than closed-form regression.
    """

    def __init__(self, features: int, outputs: int, *, alpha: float = 1.0, forgetting: float = 1.0,
                 dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> None:
        alpha = check_positive("alpha", alpha)
        if isinstance(forgetting, bool) or not isinstance(forgetting, (int, float)) or not 0 < forgetting <= 1:
            raise ValueError(f"forgetting: expected a number in (0, 1], got {forgetting!r}")
        self.forgetting = float(forgetting)
        self.W = torch.zeros(outputs, features, dtype=dtype, device=device)  # (O, F)
        self.P = torch.eye(features, dtype=dtype, device=device) / alpha  # (F, F)

    def update(self, r: Tensor, target: Tensor) -> Tensor:
        """One RLS step on a feature row r (F,) and its target (O,); returns the error before the update (O,)."""
        r, target = r.to(self.W), target.to(self.W)
        Pr = self.P @ r  # (F,)
        k = Pr / (1.0 + r @ Pr)  # (F,)
        error = self.W @ r - target  # (O,)
        self.P.sub_(torch.outer(k, Pr))
        if self.forgetting != 1.0:
            self.P.div_(self.forgetting)
        self.W.sub_(torch.outer(error, k))
        return error

    def fit(self, X: Tensor, Y: Tensor) -> Tensor:
        """:meth:`update` on every row of X (R, F) with Y (R, O) in order; returns the errors (R, O)."""
        if X.dim() != 2 or Y.dim() != 2 or X.shape[0] != Y.shape[0] or X.shape[1] != self.W.shape[1] \
                or Y.shape[1] != self.W.shape[0]:
            raise ValueError(f"X, Y: expected shapes (R, {self.W.shape[1]}) and (R, {self.W.shape[0]}), "
                             f"got {tuple(X.shape)} and {tuple(Y.shape)}")
        return torch.stack([self.update(r, y) for r, y in zip(X.unbind(0), Y.unbind(0))])
