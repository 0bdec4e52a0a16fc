"""The Mackey-Glass experiment's helpers against closed forms and loops written from the equations."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.experiments.esn_mackey_glass import (Settings, autoregression, choose_order, fit_ridge,
                                                  generate_autoregression, horizon_nrmse, make_network,
                                                  pseudo_inverse_readout, squash, teacher_forced_states, unsquash)


def test_unsquash_inverts_squash_and_clips_outputs_beyond_one():
    x = torch.linspace(0.4, 1.4, 101, dtype=torch.float64)
    assert torch.allclose(unsquash(squash(x)), x, rtol=0, atol=1e-12)
    assert torch.allclose(squash(x), torch.tanh(x - 1), rtol=0, atol=0)
    clipped = unsquash(torch.tensor([-1.5, 1.0, 2.0], dtype=torch.float64))
    assert torch.isfinite(clipped).all() and clipped[0] < 0 < 1 < clipped[2]


def test_pseudo_inverse_readout_equals_the_normal_equations_on_a_well_conditioned_problem():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(50, 6, generator=generator, dtype=torch.float64)
    Y = torch.randn(50, 2, generator=generator, dtype=torch.float64)
    oracle = torch.linalg.solve(X.t() @ X, X.t() @ Y).t()  # (O, F)
    assert torch.allclose(pseudo_inverse_readout(X, Y), oracle, rtol=0, atol=1e-10)


def test_pseudo_inverse_readout_keeps_the_precision_that_the_normal_equations_lose():
    # X = U diag(1 .. 1e-7) Vᵀ: cond(X) = 1e7, so cond(XᵀX) = 1e14 leaves the normal equations ~2 digits.
    generator = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(200, 6, generator=generator, dtype=torch.float64))  # (R, F), orthonormal
    V, _ = torch.linalg.qr(torch.randn(6, 6, generator=generator, dtype=torch.float64))
    X = U @ torch.diag(torch.logspace(0, -7, 6, dtype=torch.float64)) @ V.t()
    w = torch.randn(1, 6, generator=generator, dtype=torch.float64)
    Y = X @ w.t()  # (R, 1), exactly linear
    fitted = pseudo_inverse_readout(X, Y)
    normal = torch.linalg.solve(X.t() @ X, X.t() @ Y).t()
    assert (fitted - w).abs().max() < 1e-8  # measured 2e-10
    assert (normal - w).abs().max() > 1e-5  # measured 2e-3
    assert (X @ fitted.t() - Y).abs().max() < 1e-14 < (X @ normal.t() - Y).abs().max()


def test_pseudo_inverse_readout_rejects_rows_that_do_not_match():
    with pytest.raises(ValueError, match=r"^features, targets: expected shapes \(R, F\) and \(R, O\), got "):
        pseudo_inverse_readout(torch.zeros(4, 3), torch.zeros(5, 1))


def test_teacher_forced_states_follow_the_equation_with_the_teacher_fed_back_one_step_late():
    config = Settings(units=6, connectivity=0.5, reservoirs=(0,), washout=2, train_steps=5, trials=1,
                      test_washout=3, noise=0.0)
    esn = make_network(config, seed=3)
    cell = esn.reservoir
    teacher = torch.linspace(-0.5, 0.5, 7, dtype=torch.float64)
    states = teacher_forced_states(esn, teacher)
    x, previous = torch.zeros(6, dtype=torch.float64), 0.0
    for n in range(7):
        x = torch.tanh(cell.b + cell.W @ x + cell.W_fb[:, 0] * previous)  # x(n) = tanh(b + W x(n-1) + W_fb s(n-1))
        assert torch.allclose(states[n], x, rtol=0, atol=1e-12), n
        previous = float(teacher[n])


def test_make_network_reads_the_papers_settings():
    esn = make_network(Settings(units=100, connectivity=0.05, reservoirs=(0,), washout=1, train_steps=1, trials=1,
                                test_washout=1), seed=0)
    cell = esn.reservoir
    assert cell.input_size == 0 and cell.feedback_size == 1 and cell.W.dtype == torch.float64
    assert math.isclose(cell.spectral_radius(), 0.8, rel_tol=1e-9)
    assert cell.b.abs().max() <= 0.02 and cell.W_fb.abs().max() <= 1.0 and cell.noise == 1e-10


def test_horizon_nrmse_is_the_root_of_the_mean_squared_error_over_trials_at_each_step():
    truth = torch.zeros(2, 3, dtype=torch.float64)
    predicted = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([math.sqrt((1 + 9) / 2 / 2), math.sqrt((4 + 16) / 2 / 2), 0.0], dtype=torch.float64)
    assert torch.allclose(horizon_nrmse(predicted, truth, 2.0), expected, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"^predicted: expected the \(K, H\) shape of truth \(2, 3\), got \(2, 2\)"):
        horizon_nrmse(predicted[:, :2], truth, 2.0)
    with pytest.raises(ValueError, match="^variance: expected a number > 0, got 0.0"):
        horizon_nrmse(predicted, truth, 0.0)


def _cosine(n: torch.Tensor, level: float = 0.3, omega: float = 0.7) -> torch.Tensor:
    return level + torch.cos(omega * n)


def test_autoregression_recovers_the_exact_recurrence_of_a_shifted_cosine():
    # s(n) = a + cos(ωn) obeys s(n + 1) = a (2 - 2 cos ω) + 2 cos ω s(n) - s(n - 1) exactly.
    level, omega = 0.3, 0.7
    series = _cosine(torch.arange(40, dtype=torch.float64), level, omega)
    expected = torch.tensor([level * (2 - 2 * math.cos(omega)), 2 * math.cos(omega), -1.0], dtype=torch.float64)
    assert torch.allclose(autoregression(series, 2), expected, rtol=0, atol=1e-10)


def test_generate_autoregression_continues_the_cosine_closed_loop():
    steps = torch.arange(60, dtype=torch.float64)
    series = _cosine(steps)
    weights = autoregression(series[:30], 2)
    contexts = torch.stack([series[8:10], series[18:20]])  # (K=2, k=2), oldest first
    generated = generate_autoregression(weights, contexts, 25)
    assert torch.allclose(generated, torch.stack([series[10:35], series[20:45]]), rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match=r"^contexts: expected shape \(K, 2\), got \(2, 3\)"):
        generate_autoregression(weights, series[:6].view(2, 3), 5)


def test_autoregression_rejects_a_bad_order_and_a_short_series():
    with pytest.raises(ValueError, match="^order: expected an integer >= 1, got 0"):
        autoregression(torch.zeros(10, dtype=torch.float64), 0)
    with pytest.raises(ValueError, match=r"^series: expected a \(T,\) series longer than order \(12\), got \(10,\)"):
        autoregression(torch.zeros(10, dtype=torch.float64), 12)


def test_choose_order_prefers_an_order_that_can_represent_the_series():
    series = _cosine(torch.arange(200, dtype=torch.float64))
    order, scores = choose_order(series, [1, 2], held_out=60, horizon=20)
    assert order == 2 and scores[2] < 1e-8 < scores[1]
