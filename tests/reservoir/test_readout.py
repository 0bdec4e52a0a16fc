"""RidgeAccumulator against the closed form (XᵀX + λI)⁻¹ XᵀY on the stacked rows (torch.linalg.solve and lstsq,
float64), chunking, the squared error and NRMSE written out, the ridge grid's argmin, a singular system's
error; RLSReadout against the ridge solution it must equal row after row; log_grid."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.reservoir import QRRidgeAccumulator, RidgeAccumulator, RLSReadout, log_grid

F64 = {"dtype": torch.float64}
R, F, O = 60, 7, 3
KINDS = pytest.mark.parametrize("kind", [RidgeAccumulator, QRRidgeAccumulator], ids=["normal", "qr"])


def ridge_solution(X, Y, ridge):
    """W_out (O, F) = ((XᵀX + λI)⁻¹ XᵀY)ᵀ by a direct solve."""
    return torch.linalg.solve(X.T @ X + ridge * torch.eye(X.shape[1], **F64), X.T @ Y).T


def direct_nrmse(W_out, X, Y):
    """mean over outputs of sqrt(mean((X W_outᵀ - Y)²) / var(Y)), the population variance."""
    errors = X @ W_out.T - Y  # (R, O)
    variance = ((Y - Y.mean(0)) ** 2).mean(0)
    return float(((errors ** 2).mean(0) / variance).sqrt().mean())


def data(rows=R, noise=0.3):
    X = torch.randn(rows, F, **F64) * torch.linspace(0.1, 3.0, F, **F64)  # columns of different scales
    Y = X @ torch.randn(F, O, **F64) + noise * torch.randn(rows, O, **F64) + torch.tensor([1.0, -2.0, 0.5], **F64)
    return X, Y


@pytest.mark.parametrize("ridge", [0.0, 1e-6, 0.3, 50.0])
@KINDS
def test_solve_is_the_closed_form(kind, ridge):
    X, Y = data()
    accumulator = kind(F, O)
    accumulator.add(X, Y)
    W_out = accumulator.solve(ridge)
    assert W_out.shape == (O, F) and W_out.dtype == torch.float64
    assert_exact(W_out, ridge_solution(X, Y, ridge), tol=1e-10)
    augmented_X = torch.cat([X, math.sqrt(ridge) * torch.eye(F, **F64)])  # ‖XW - Y‖² + λ‖W‖²: least squares
    augmented_Y = torch.cat([Y, torch.zeros(F, O, **F64)])
    assert_exact(W_out, torch.linalg.lstsq(augmented_X, augmented_Y).solution.T, tol=1e-10)


def test_chunks_equal_all_at_once_and_leading_dims_flatten():
    X, Y = data()
    whole, chunked, batched = RidgeAccumulator(F, O), RidgeAccumulator(F, O), RidgeAccumulator(F, O)
    whole.add(X, Y)
    for start in range(0, R, 13):
        chunked.add(X[start:start + 13], Y[start:start + 13])
    batched.add(X.view(4, 15, F), Y.view(4, 15, O))  # (B, T, F) rows
    for accumulator in (chunked, batched):
        assert accumulator.count == R
        assert_exact(accumulator.XtX, whole.XtX, tol=1e-10)
        assert_exact(accumulator.XtY, whole.XtY, tol=1e-10)
        assert_exact(accumulator.solve(1e-3), whole.solve(1e-3), tol=1e-10)
    assert_exact(whole.XtX, X.T @ X, tol=1e-10)
    assert_exact(whole.YtY, (Y ** 2).sum(0), tol=1e-10)
    assert_exact(whole.target_variance(), Y.var(0, unbiased=False), tol=1e-10)


@KINDS
def test_squared_error_and_nrmse_are_the_direct_sums(kind):
    X, Y = data()
    accumulator = kind(F, O)
    accumulator.add(X, Y)
    for W_out in (accumulator.solve(0.1), torch.randn(O, F, **F64), torch.zeros(O, F, **F64)):
        direct = ((X @ W_out.T - Y) ** 2).sum(0)  # (O,)
        assert_exact(accumulator.squared_error(W_out), direct, tol=1e-9 * float(direct.max()))
        assert abs(accumulator.nrmse(W_out) - direct_nrmse(W_out, X, Y)) <= 1e-9


def test_choose_ridge_is_the_argmin_of_the_validation_nrmse():
    X, Y = data(rows=40, noise=2.0)  # few noisy rows: the ridge matters
    X_valid, Y_valid = data(rows=200, noise=2.0)
    train, validation = RidgeAccumulator(F, O), RidgeAccumulator(F, O)
    train.add(X, Y)
    validation.add(X_valid, Y_valid)
    grid = log_grid(1e-4, 1e4, per_decade=2)
    chosen, scores = train.choose_ridge(validation, grid)
    direct = {ridge: direct_nrmse(ridge_solution(X, Y, ridge), X_valid, Y_valid) for ridge in grid}
    assert set(scores) == set(direct)
    for ridge in grid:
        assert abs(scores[ridge] - direct[ridge]) <= 1e-9
    assert chosen == min(direct, key=direct.get)
    assert grid[0] < chosen < grid[-1]  # an interior minimum, so the test discriminates


def test_choose_ridge_scores_a_singular_ridge_as_inf():
    X, Y = data(rows=4)  # 4 rows < 7 features: singular at ridge 0
    train, validation = RidgeAccumulator(F, O), RidgeAccumulator(F, O)
    train.add(X, Y)
    validation.add(*data(rows=30))
    chosen, scores = train.choose_ridge(validation, [0.0, 1e-2])
    assert scores[0.0] == math.inf and chosen == 1e-2
    with pytest.raises(ValueError, match="larger ridge"):
        train.choose_ridge(validation, [0.0])
    with pytest.raises(ValueError, match="grid: expected at least one ridge"):
        train.choose_ridge(validation, [])


@pytest.mark.parametrize("rows", [1, 3, 6])
@KINDS
def test_singular_system_asks_for_a_larger_ridge(kind, rows):
    X, Y = data(rows=rows)
    accumulator = kind(F, O)
    accumulator.add(X, Y)
    with pytest.raises(ValueError, match="larger ridge") as caught:
        accumulator.solve(0.0)
    message = str(caught.value)
    assert "\n" not in message and f"{rows} rows, {F} features" in message
    assert_exact(accumulator.solve(1e-3), ridge_solution(X, Y, 1e-3), tol=1e-9)  # a ridge makes it solvable


@pytest.mark.parametrize("seed", range(6))
@KINDS
def test_dependent_features_at_ridge_zero_ask_for_a_larger_ridge(kind, seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(R, F, generator=generator, **F64)
    X[:, 5] = 0.3 * X[:, 1] - 2 * X[:, 3]  # many rows, but a feature that is a combination of two others
    dead = X.clone()
    dead[:, 2] = 0  # a unit that never fires
    for features in (X, dead):
        accumulator = kind(F, O)
        accumulator.add(features, torch.randn(R, O, generator=generator, **F64))
        with pytest.raises(ValueError, match="larger ridge"):
            accumulator.solve(0.0)


def test_bad_input_is_one_line():
    accumulator = RidgeAccumulator(F, O)
    X, Y = data()
    Y_nan = Y.clone()
    Y_nan[3, 1] = float("nan")
    cases = [
        (lambda: accumulator.solve(1.0), "X: expected at least one row added"),
        (lambda: accumulator.nrmse(torch.zeros(O, F, **F64)), "X: expected at least one row added"),
        (lambda: accumulator.add(X[:, :-1], Y), "X, Y: expected shapes"),
        (lambda: accumulator.add(X[:-1], Y), "X, Y: expected shapes"),
        (lambda: accumulator.add(X, Y_nan), "Y: expected finite targets"),
        (lambda: accumulator.solve(-1.0), "ridge: expected a finite number >= 0, got -1.0"),
        (lambda: RidgeAccumulator(0, O), "features: expected an integer >= 1"),
        (lambda: RLSReadout(F, O, alpha=0.0), "alpha: expected"),
        (lambda: RLSReadout(F, O, forgetting=1.5), "forgetting: expected a number in \\(0, 1\\]"),
        (lambda: RLSReadout(F, O).fit(X, Y[:, :1]), "X, Y: expected shapes"),
        (lambda: log_grid(1.0, 0.1), "high: expected a number >= low"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
    assert accumulator.count == 0  # rejected chunks add nothing


@pytest.mark.parametrize("alpha", [1e-2, 1.0, 10.0])
def test_rls_equals_the_ridge_solution_after_every_row(alpha):
    X, Y = data(rows=40)
    rls = RLSReadout(F, O, alpha=alpha)
    errors = []
    for i in range(X.shape[0]):
        W_before = rls.W.clone()
        errors.append(rls.update(X[i], Y[i]))
        assert_exact(errors[-1], W_before @ X[i] - Y[i], tol=1e-12)  # the error before the update
        if i in (0, 3, 10, 39):  # W = Yᵀ X (XᵀX + αI)⁻¹ on the rows seen so far
            assert_exact(rls.W, ridge_solution(X[:i + 1], Y[:i + 1], alpha), tol=1e-8)
    again = RLSReadout(F, O, alpha=alpha)
    assert_exact(again.fit(X, Y), torch.stack(errors), tol=1e-12)
    assert_exact(again.W, rls.W, tol=1e-12)
    assert_exact(again.P, torch.linalg.inv(X.T @ X + alpha * torch.eye(F, **F64)), tol=1e-8)


def test_rls_with_forgetting_is_exponentially_weighted_ridge():
    X, Y = data(rows=30)
    alpha, forgetting = 0.5, 0.9
    rls = RLSReadout(F, O, alpha=alpha, forgetting=forgetting)
    rls.fit(X, Y)
    # with P ← (P⁻¹ + r rᵀ)⁻¹ / λ after each of n rows: P(n)⁻¹ = λ Φ(n), Φ(n) = Σ_i λ^(n-i) r_i r_iᵀ + λ^(n-1) α I,
    # and W = (Σ_i λ^(n-i) y_i r_iᵀ) Φ(n)⁻¹: ridge on rows weighted λ^(age), its prior fading one step behind
    n = X.shape[0]
    weights = forgetting ** torch.arange(n - 1, -1, -1, **F64)  # (R,): λ^(n-i)
    information = (X.T * weights) @ X + forgetting ** (n - 1) * alpha * torch.eye(F, **F64)  # Φ(n)
    assert_exact(rls.W, torch.linalg.solve(information, (X.T * weights) @ Y).T, tol=1e-8)
    assert_exact(rls.P, torch.linalg.inv(forgetting * information), tol=1e-8)
    plain = RLSReadout(F, O, alpha=alpha)
    plain.fit(X, Y)
    assert float((plain.W - rls.W).abs().max()) > 1e-2  # forgetting really reweights the rows


def test_log_grid_endpoints_and_spacing():
    grid = log_grid(1e-10, 1e-1)
    assert len(grid) == 10 and grid[0] == 1e-10 and math.isclose(grid[-1], 1e-1, rel_tol=1e-12)
    fine = log_grid(1e-6, 1e2, per_decade=4)
    assert len(fine) == 33 and fine[0] == 1e-6 and math.isclose(fine[-1], 1e2, rel_tol=1e-12)
    ratios = [b / a for a, b in zip(fine, fine[1:])]
    assert max(abs(ratio - 10 ** 0.25) for ratio in ratios) <= 1e-12
    assert log_grid(0.3, 0.3) == [0.3]


def test_qr_chunks_and_merges_equal_all_at_once():
    X, Y = data()
    whole, chunked, first, second = (QRRidgeAccumulator(F, O) for _ in range(4))
    whole.add(X, Y)
    for start in range(0, R, 4):  # chunks narrower than F: R is built up from a zero start
        chunked.add(X[start:start + 4], Y[start:start + 4])
    first.add(X[:25], Y[:25])
    second.add(X[25:], Y[25:])
    first.merge(second)
    for accumulator in (chunked, first):
        assert accumulator.count == R
        assert_exact(accumulator.solve(0.0), ridge_solution(X, Y, 0.0), tol=1e-10)
        assert_exact(accumulator.solve(1e-3), whole.solve(1e-3), tol=1e-10)
        assert_exact(accumulator.R.T @ accumulator.R, X.T @ X, tol=1e-10 * float((X.T @ X).abs().max()))
    normal, other = RidgeAccumulator(F, O), RidgeAccumulator(F, O)
    normal.add(X[:25], Y[:25])
    other.add(X[25:], Y[25:])
    normal.merge(other)
    assert_exact(normal.XtX, X.T @ X, tol=1e-10)
    with pytest.raises(ValueError, match="other: expected a RidgeAccumulator of 7 features"):
        normal.merge(whole)


@pytest.mark.parametrize("smallest", [1e-7, 1e-9])
def test_qr_keeps_the_accuracy_the_normal_equations_lose(smallest):
    """X = U diag(1 .. σ_min) Vᵀ, Y = X w exactly: R (cond 1/σ_min) recovers w; XᵀX (cond 1/σ_min²) does not."""
    generator = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(400, F, generator=generator, **F64))
    V, _ = torch.linalg.qr(torch.randn(F, F, generator=generator, **F64))
    X = (U * torch.logspace(0, math.log10(smallest), F, **F64)) @ V.T  # (R, F)
    w = torch.randn(F, O, generator=generator, **F64)
    qr, normal = QRRidgeAccumulator(F, O), RidgeAccumulator(F, O)
    for accumulator in (qr, normal):
        accumulator.add(X, X @ w)
    assert_exact(qr.solve(0.0), w.T, tol=1e-6)  # measured: 1e-10 (σ_min 1e-7), 6e-9 (1e-9)
    try:
        error = float((normal.solve(0.0) - w.T).abs().max())  # measured: 0.02 (σ_min 1e-7); singular (1e-9)
    except ValueError:
        error = math.inf
    assert error > 1e-3
