"""esn-memory-capacity's helpers: the orthogonal W, the closed-form forgetting curve of a linear reservoir against
its defining sums and against a measurement, the finite-sample slack, and the three reservoirs."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.experiments.esn_memory_capacity import (CONTROL, LINEAR, TANH, Settings, delays_for, finite_sample_slack,
                                                     linear_memory_curve, make_reservoirs, orthogonal_matrix,
                                                     within_band)
from recnets.reservoir import ReservoirCell, memory_capacity, spectral_radius


def small_settings(**changes) -> Settings:
    values = dict(sizes=(4, 8), seeds=1, length=500, test_length=400, curve_size=4, min_delays=30)
    return Settings(**{**values, **changes})


def test_orthogonal_matrix_is_rho_times_an_orthogonal_matrix_with_every_eigenvalue_on_the_circle():
    W = orthogonal_matrix(7, spectral_radius=0.8, generator=torch.Generator().manual_seed(3))
    assert W.dtype == torch.float64
    assert torch.allclose(W.t() @ W, 0.64 * torch.eye(7, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.linalg.eigvals(W).abs(), torch.full((7,), 0.8, dtype=torch.float64), atol=1e-12)
    again = orthogonal_matrix(7, spectral_radius=0.8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(W, again)
    other = orthogonal_matrix(7, spectral_radius=0.8, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(W, other)


def test_orthogonal_matrix_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"^spectral_radius: expected a finite number > 0, got -1\.0$"):
        orthogonal_matrix(3, spectral_radius=-1.0)
    with pytest.raises(ValueError, match=r"^size: expected an integer >= 1, got 0$"):
        orthogonal_matrix(0, spectral_radius=0.5)


def test_linear_memory_curve_equals_its_definition_summed_term_by_term():
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(3, 3, generator=generator, dtype=torch.float64)
    W = W * (0.7 / spectral_radius(W))  # a non-normal W at ρ = 0.7
    w = torch.randn(3, generator=generator, dtype=torch.float64)
    C = torch.zeros(3, 3, dtype=torch.float64)
    power = torch.eye(3, dtype=torch.float64)
    for _ in range(400):  # 0.7^800: the rest of the series is far below float64's resolution
        C += torch.outer(power @ w, power @ w)
        power = W @ power
    expected = []
    for k in range(12):
        column = torch.linalg.matrix_power(W, k) @ w
        expected.append(float(column @ torch.linalg.solve(C, column)))
    assert torch.allclose(linear_memory_curve(W, w, 12), torch.tensor(expected, dtype=torch.float64), atol=1e-10)


def test_linear_memory_curve_sums_to_N_over_all_delays_jaeger_2001():
    W = orthogonal_matrix(5, spectral_radius=0.8, generator=torch.Generator().manual_seed(1))
    w = torch.randn(5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    curve = linear_memory_curve(W, w, 400)  # 0.8^400 ≈ 1e-39: the tail is gone
    assert math.isclose(float(curve.sum()), 5.0, abs_tol=1e-8)
    assert bool((curve >= -1e-12).all()) and bool((curve <= 1 + 1e-12).all())


def test_linear_memory_curve_agrees_with_a_measured_forgetting_curve():
    W = orthogonal_matrix(3, spectral_radius=0.6, generator=torch.Generator().manual_seed(5))
    reservoir = ReservoirCell(1, 3, W=W, activation="identity", seed=5, dtype=torch.float64)
    measured = memory_capacity(reservoir, max_delay=20, length=6000, test_length=6000, seed=1)
    closed = linear_memory_curve(reservoir.W, reservoir.W_in[:, 0], 20)
    assert float((measured.per_delay.double() - closed).abs().max()) < 0.05
    assert math.isclose(measured.total, float(closed.sum()), abs_tol=0.15)


def test_linear_memory_curve_rejects_a_divergent_W_and_bad_shapes():
    with pytest.raises(ValueError, match=r"^W: expected a spectral radius < 1 \(the sum over delays must converge\), "
                                         r"got 1\.2$"):
        linear_memory_curve(1.2 * torch.eye(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match=r"^w_in: expected a vector of shape \(2,\), got \(3,\)$"):
        linear_memory_curve(0.5 * torch.eye(2), torch.ones(3), 3)
    with pytest.raises(ValueError, match=r"^max_delay: expected an integer >= 1, got 0$"):
        linear_memory_curve(0.5 * torch.eye(2), torch.ones(2), 0)


def test_finite_sample_slack_is_chance_plus_two_summed_standard_errors():
    L = 400
    assert math.isclose(finite_sample_slack(torch.zeros(10), L), 10 / L)
    assert math.isclose(finite_sample_slack(torch.ones(10), L), 10 / L)
    # r² = 0.25: r = 0.5, each standard error 2 · 0.5 · 0.75 / 20
    assert math.isclose(finite_sample_slack(torch.full((4,), 0.25), L), 4 / L + 2 * 4 * 0.75 / 20)
    # a slightly negative or above-one estimate counts as 0 or 1
    assert math.isclose(finite_sample_slack(torch.tensor([-0.01, 1.02]), L), 2 / L)


def test_within_band_allows_the_least_squares_shortfall_below_and_the_slack_above():
    # K = 30 delays, closed form 8, N = 8 (p = 9 weights), L = 500: shortfall (30 - 8) · 9 / 490
    shortfall = 22 * 9 / 490
    common = dict(size=8, delays=30, length=500)
    assert within_band(8.0, 8.0, 0.1, **common)
    assert within_band(8.1, 8.0, 0.1, **common) and not within_band(8.11, 8.0, 0.1, **common)
    assert within_band(8.0 - shortfall - 0.1 + 1e-9, 8.0, 0.1, **common)
    assert not within_band(8.0 - shortfall - 0.1 - 1e-6, 8.0, 0.1, **common)


def test_delays_cover_twice_N_or_the_minimum():
    config = small_settings()
    assert delays_for(4, config) == 30 and delays_for(20, config) == 40


def test_make_reservoirs_builds_the_theorem_case_the_tanh_reservoir_and_its_linear_twin():
    config = small_settings()
    reservoirs = make_reservoirs(8, 3, config)
    assert list(reservoirs) == [LINEAR, TANH, CONTROL]
    linear, nonlinear, control = reservoirs[LINEAR], reservoirs[TANH], reservoirs[CONTROL]
    assert linear.activation == "identity" and control.activation == "identity" and nonlinear.activation == "tanh"
    assert torch.allclose(linear.W.t() @ linear.W, config.linear_radius ** 2 * torch.eye(8, dtype=torch.float64),
                          atol=1e-12)
    assert math.isclose(nonlinear.spectral_radius(), config.tanh_radius, rel_tol=1e-9)
    assert torch.equal(control.W, nonlinear.W) and torch.equal(control.W_in, nonlinear.W_in)
    assert torch.equal(control.b, nonlinear.b)
    assert float(nonlinear.W_in.abs().max()) <= config.input_scaling
    # the twin differs from the tanh reservoir only by its activation: on a tiny input they nearly agree
    u = 1e-4 * torch.randn(1, 50, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(control.run(u)[0], nonlinear.run(u)[0], atol=1e-12)
    assert torch.equal(make_reservoirs(8, 3, config)[TANH].W, nonlinear.W)


def test_plot_curves_writes_the_png_and_every_number_drawn(tmp_path):
    import json

    from recnets.analysis.plots import plot_curves

    path = plot_curves({"linear": ([10, 20, 50], torch.tensor([9.9, 19.5, 49.0], dtype=torch.float64), [0.1, 0.2, 0.0]),
                        "tanh": ([10, 20, 50], [0.0, 14.0, 20.0])},
                       tmp_path / "plots" / "capacity.png", title="MC", xlabel="N", ylabel="MC", logx=True, logy=True,
                       reference=("MC = N", [10, 50], [10, 50]))
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(path.with_suffix(".json").read_text())
    assert data["curves"]["linear"] == {"x": [10.0, 20.0, 50.0], "y": [9.9, 19.5, 49.0], "error": [0.1, 0.2, 0.0]}
    assert data["curves"]["tanh"]["y"] == [0.0, 14.0, 20.0] and data["curves"]["tanh"]["error"] is None
    assert data["reference"] == {"label": "MC = N", "x": [10.0, 50.0], "y": [10.0, 50.0]}
    with pytest.raises(ValueError, match=r"^curves: expected at least one \(xs, ys\) curve, got none$"):
        plot_curves({}, tmp_path / "empty.png")
    with pytest.raises(ValueError, match=r"^curves: expected xs, ys \(and errors\) of one length for 'a', got 2, 3$"):
        plot_curves({"a": ([1, 2], [1, 2, 3])}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"^path: expected a file name ending in \.png"):
        plot_curves({"a": ([1, 2], [1, 2])}, tmp_path / "bad.svg")
