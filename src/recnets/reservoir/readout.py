"""Readouts of a reservoir: ridge regression in closed form from accumulated statistics, and online RLS.

Book: 10.8 (only the output weights of an echo state network are learned; with a linear readout and a
squared error the problem is convex: a linear regression, solved in closed form).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from recnets.reservoir.weights import check_positive

__all__ = ["RidgeAccumulator", "RLSReadout", "log_grid"]


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


class RidgeAccumulator:
    """Sufficient statistics of a linear least-squares readout, accumulated chunk by chunk.

    ``add(X, Y)`` adds XᵀX, XᵀY, Σ Y² and the row count of a chunk; :meth:`solve` returns
    W_out = Yᵀ X (XᵀX + λ I)⁻¹ and :meth:`squared_error` the summed squared error of any W_out on
    everything added so far. So memory does not grow with the series' length, and a validation
    accumulator scores every ridge λ of a grid without keeping the validation states.

    Args:
        features: F, the width of a feature row (e.g. [1; u; x]: 1 + D + N).
        outputs: O.
        dtype: the accumulation dtype (float64: the normal equations square X's condition number).
        device: where the statistics live.

    Shapes:
        add: X (..., F), Y (..., O); solve -> W_out (O, F).

    Book: 10.8 (the readout's linear regression).
    Deviations: the ridge penalises every weight, the bias's included, as in Jaeger's and reservoirpy's
    formulation.
    """

    def __init__(self, features: int, outputs: int, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        for name, value in (("features", features), ("outputs", outputs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        self.features, self.outputs = features, outputs
        self.XtX = torch.zeros(features, features, dtype=dtype, device=device)  # (F, F)
        self.XtY = torch.zeros(features, outputs, dtype=dtype, device=device)  # (F, O)
        self.YtY = torch.zeros(outputs, dtype=dtype, device=device)  # (O,): Σ y² per output
        self.Ysum = torch.zeros(outputs, dtype=dtype, device=device)  # (O,): Σ y per output
        self.count = 0

    def add(self, X: Tensor, Y: Tensor) -> None:
        """Add the rows of X (..., F) and their targets Y (..., O)."""
        if X.shape[-1] != self.features or Y.shape[-1] != self.outputs or X.shape[:-1] != Y.shape[:-1]:
            raise ValueError(f"X, Y: expected shapes (..., {self.features}) and (..., {self.outputs}) with the "
                             f"same leading dimensions, got {tuple(X.shape)} and {tuple(Y.shape)}")
        if not bool(torch.isfinite(Y).all()):
            raise ValueError("Y: expected finite targets, got NaN or inf")
        X = X.reshape(-1, self.features).to(self.XtX)  # (R, F)
        Y = Y.reshape(-1, self.outputs).to(self.XtX)  # (R, O)
        self.XtX += _gram(X)  # (F, F)
        self.XtY.addmm_(X.t(), Y)
        self.YtY += Y.square().sum(0)
        self.Ysum += Y.sum(0)
        self.count += X.shape[0]

    def solve(self, ridge: float) -> Tensor:
        """W_out (O, F) minimising ‖X W_outᵀ - Y‖² + ridge ‖W_out‖², by a Cholesky factorisation.

        A singular system (ridge 0 with fewer independent rows than features, or a ridge too small for the
        features' scale) raises a one-line error suggesting a larger ridge.
        """
        ridge = check_positive("ridge", ridge, allow_zero=True)
        if self.count == 0:
            raise ValueError("X: expected at least one row added before solving, got none")
        system = self.XtX + ridge * torch.eye(self.features, dtype=self.XtX.dtype, device=self.XtX.device)
        factor, info = torch.linalg.cholesky_ex(system)
        singular = int(info) != 0
        if not singular and ridge == 0:  # roundoff can leave a rank-deficient XᵀX "positive definite"
            pivots = factor.diagonal().square() / system.diagonal()  # (F,): 1 for independent columns, ~eps if not
            singular = self.count < self.features or bool(
                (pivots <= self.features * torch.finfo(system.dtype).eps).any())
        if singular:
            scale = float(self.XtX.diagonal().mean())
            raise ValueError(f"ridge: the readout's normal equations are singular at ridge {ridge:g} "
                             f"({self.count} rows, {self.features} features); expected a larger ridge, "
                             f"e.g. {max(ridge * 100, scale * 1e-8, 1e-12):.0e}")
        return torch.cholesky_solve(self.XtY, factor).t().contiguous()  # (O, F)

    def squared_error(self, W_out: Tensor) -> Tensor:
        """Σ over rows of ‖W_out x - y‖², per output (O,): tr(W XᵀX Wᵀ) - 2 tr(W XᵀY) + Σ y²."""
        W_out = W_out.to(self.XtX)
        return ((W_out @ self.XtX) * W_out).sum(1) - 2 * (W_out * self.XtY.t()).sum(1) + self.YtY

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

    def choose_ridge(self, validation: "RidgeAccumulator", grid: Sequence[float]) -> tuple[float, dict[float, float]]:
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
