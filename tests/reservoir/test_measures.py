"""Measures against closed forms: NRMSE/NMSE written out; the memory capacity of linear reservoirs against the
population value MC_k = σ² (W^k w)ᵀ C⁻¹ (W^k w) (which sums to N) and against a delay line's exact memory;
the echo state check against ‖W^n d‖ = ρ^n ‖d‖ of a scaled orthogonal W, a contracting tanh reservoir, and a
zero-input reservoir at spectral radius 3 that keeps its initial condition."""
from __future__ import annotations

import pytest
import torch

from recnets.core import Hidden
from recnets.reservoir import ReservoirCell, echo_state_property, memory_capacity, nmse, nrmse

F64 = {"dtype": torch.float64}


def direct_per_output(predictions, targets):
    """mean((ŷ - y)²) / var(y) per output, the variance of the population (divided by R)."""
    predictions, targets = predictions.reshape(-1, targets.shape[-1]), targets.reshape(-1, targets.shape[-1])
    mean = targets.sum(0) / targets.shape[0]
    variance = ((targets - mean) ** 2).sum(0) / targets.shape[0]
    return ((predictions - targets) ** 2).sum(0) / targets.shape[0] / variance


@pytest.mark.parametrize("shape", [(50,), (50, 3), (4, 50, 3)], ids=["1d", "TO", "BTO"])
def test_nrmse_and_nmse_are_the_direct_formulas(shape):
    width = shape[-1] if len(shape) > 1 else 1
    scales = torch.tensor([1.0, 5.0, 0.1], **F64)[:width]  # outputs of different scales: each its own variance
    targets = (torch.randn(*shape, **F64).reshape(-1, width) * scales + 2.0).reshape(shape)
    predictions = targets + 0.3 * torch.randn(*shape, **F64)
    per_output = direct_per_output(predictions.reshape(-1, width), targets.reshape(-1, width))  # (O,)
    assert abs(nrmse(predictions, targets) - float(per_output.sqrt().mean())) <= 1e-12
    assert abs(nmse(predictions, targets) - float(per_output.mean())) <= 1e-12
    means = targets.reshape(-1, width).mean(0).expand(targets.numel() // width, width).reshape(shape)
    assert abs(nrmse(means, targets) - 1.0) <= 1e-12  # predicting each output's mean scores 1
    assert nrmse(targets, targets) == 0.0
    assert abs(nrmse(predictions.float(), targets.float()) - nrmse(predictions, targets)) <= 1e-5  # float32 in


def test_nrmse_bad_input_is_one_line():
    cases = [
        (lambda: nrmse(torch.randn(5, **F64), torch.full((5,), 2.0, **F64)), "targets: expected a target that vari"),
        (lambda: nmse(torch.randn(5, 2, **F64), torch.ones(5, 2, **F64)), "targets: expected a target that varies"),
        (lambda: nrmse(torch.randn(5, 2), torch.randn(5, 3)), "predictions: expected the shape of targets \\(5, 3\\)"),
        (lambda: nrmse(torch.zeros(0), torch.zeros(0)), "targets: expected at least one value"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)


def population_memory(cell, delays, terms=3000):
    """MC_k = σ² (W^k w)ᵀ C⁻¹ (W^k w), C = σ² Σ_j W^j w (W^j w)ᵀ, for a linear reservoir driven by U[-1, 1]
    (σ² = 1/3): the best linear readout's r² in the limit of long series. Returns (K,) and the sum over all k."""
    variance = 1.0 / 3.0
    powers = [cell.W_in[:, 0].clone()]  # W^j w
    for _ in range(terms - 1):
        powers.append(cell.W @ powers[-1])
    powers = torch.stack(powers)  # (terms, N)
    C = variance * powers.T @ powers  # (N, N)
    per_delay = variance * ((powers @ torch.linalg.inv(C)) * powers).sum(1)  # (terms,)
    return per_delay[:delays], float(per_delay.sum())


@pytest.mark.parametrize("N", [10, 16])
def test_linear_orthogonal_reservoir_remembers_about_N(N):
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=torch.Generator().manual_seed(N), **F64))
    cell = ReservoirCell(1, N, W=0.95 * Q, input_scaling=1.0, activation="identity", seed=N, **F64)
    K = 4 * N
    expected, everything = population_memory(cell, K)
    assert abs(everything - N) <= 1e-8  # Jaeger 2001: a full-rank linear reservoir's MC is exactly N
    assert float(expected.sum()) > 0.95 * N  # the delays up to 4N hold nearly all of it
    measured = memory_capacity(cell, max_delay=K, length=5000, test_length=5000, seed=3)
    assert measured.per_delay.shape == (K,) and measured.per_delay.dtype == torch.float64
    assert float((measured.per_delay - expected).abs().max()) < 0.05  # 5000 test steps: r² within a few 0.01
    assert 0.9 * N < measured.total <= N * 1.05  # close to N, above it only by finite-sample noise
    assert abs(measured.total - float(expected.sum())) < 0.05 * N
    assert bool(((measured.per_delay >= 0) & (measured.per_delay <= 1)).all())
    assert abs(measured.total - float(measured.per_delay.sum())) <= 1e-12


def test_a_delay_line_remembers_exactly_its_length():
    N = 8
    shift = torch.diag(torch.ones(N - 1, **F64), -1)  # x_i(n) = x_{i-1}(n-1): nilpotent, spectral radius 0
    cell = ReservoirCell(1, N, W=shift, activation="identity", seed=1, **F64)
    assert float(cell.W_in[0, 0]) != 0  # the Krylov matrix [w, S w, ...] is triangular with w_1 on its diagonal
    measured = memory_capacity(cell, max_delay=2 * N, length=1000, test_length=1000, seed=4)
    assert float(measured.per_delay[:N].min()) > 1 - 1e-6  # u(n), ..., u(n - N + 1) read back exactly
    assert float(measured.per_delay[N:].max()) < 0.02  # older inputs are gone: r² of noise over 1000 steps
    assert abs(measured.total - N) < 0.1


def test_a_tanh_reservoir_remembers_less_than_N():
    N = 12
    W = ReservoirCell(1, N, spectral_radius=0.95, connectivity=1.0, seed=2, **F64).W
    tanh = ReservoirCell(1, N, W=W, input_scaling=1.0, seed=2, **F64)
    measured = memory_capacity(tanh, length=2000, test_length=1000, seed=5)
    assert measured.per_delay.shape == (2 * N,)  # default K = 2N
    assert bool(((measured.per_delay >= 0) & (measured.per_delay <= 1)).all())
    assert measured.total < 0.8 * N
    assert float(measured.per_delay[0]) > 0.5  # it does remember the recent input
    linear = ReservoirCell(1, N, W=W, input_scaling=1.0, activation="identity", seed=2, **F64)
    assert torch.equal(linear.W_in, tanh.W_in)
    assert memory_capacity(linear, length=2000, test_length=1000, seed=5).total > measured.total + 2


def test_memory_capacity_bad_input_is_one_line():
    def small(input_size=1, **options):
        return ReservoirCell(input_size, 5, connectivity=1.0, **options, **F64)

    cases = [
        (lambda: memory_capacity(small(2)), "reservoir: expected a ReservoirCell with input_size 1"),
        (lambda: memory_capacity(small(feedback_size=1)), "reservoir: expected a ReservoirCell"),
        (lambda: memory_capacity(small(), max_delay=0), "max_delay: expected an integer >= 1"),
        (lambda: memory_capacity(small(), washout=3), "washout: expected at least max_delay - 1"),
        (lambda: memory_capacity(small(), length=1), "length: expected an integer >= 2"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("steps, holds", [(19, False), (20, True), (60, True)])
def test_echo_state_distances_of_a_linear_orthogonal_reservoir_shrink_by_rho_per_step(steps, holds):
    N, rho = 12, 0.5
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=torch.Generator().manual_seed(1), **F64))
    cell = ReservoirCell(1, N, W=rho * Q, activation="identity", seed=3, **F64)
    us = torch.randn(steps, 1, **F64)
    check = echo_state_property(cell, us, starts=5, tolerance=1e-6, seed=2)
    # x_i(n) - x_0(n) = W^n (x_i(0) - x_0(0)) and ‖Q^n d‖ = ‖d‖: every distance is ρ^n times its start
    ratios = check.distances / check.distances[0]  # (T,)
    powers = rho ** torch.arange(steps, **F64)
    assert torch.allclose(ratios, powers, rtol=1e-9, atol=1e-14)  # atol: states ~ 1 round at 1e-16
    assert check.holds is holds  # ρ^T ≤ 1e-6 first at T = 20 (0.5^20 = 9.5e-7, 0.5^19 = 1.9e-6)
    assert check.tolerance == 1e-6 and check.distances.shape == (steps,)


def test_echo_state_property_holds_for_a_contracting_tanh_reservoir():
    cell = ReservoirCell(1, 50, spectral_radius=0.5, connectivity=0.2, input_scaling=1.0, bias_scaling=0.2,
                         leak=0.7, seed=4, **F64)
    us = torch.rand(200, 1, **F64) * 2 - 1
    check = echo_state_property(cell, us, starts=8, seed=1)
    assert check.holds
    assert float(check.distances[-1]) < 1e-12 * float(check.distances[0])
    assert float(check.distances[100]) < float(check.distances[10]) < float(check.distances[0])


def test_echo_state_property_fails_for_a_large_radius_without_input():
    """At spectral radius 3 with zero input and no bias, x = 0 is an unstable fixed point: the reference run from
    x(0) = 0 stays at 0 while every other start settles on its own irregular trajectory (|x| ~ 1): the state
    remembers x(0) forever (measured: distances stay ~4 for seeds 0-2, and distinct starts do not merge)."""
    cell = ReservoirCell(1, 20, spectral_radius=3.0, connectivity=1.0, seed=0, **F64)
    us = torch.zeros(300, 1, **F64)
    check = echo_state_property(cell, us, starts=8, seed=0)
    assert not check.holds
    assert float(check.distances[-50:].min()) > 1.0  # not a slow convergence: no decay at all
    starts = torch.rand(2, 20, generator=torch.Generator().manual_seed(9), **F64) * 2 - 1
    states, _ = cell.run(us.expand(2, -1, -1), Hidden(starts))
    apart = (states[0, -50:] - states[1, -50:]).norm(dim=-1)  # (50,)
    assert float(apart.min()) > 1.0  # two starts, two different trajectories
    assert float(cell.run(us[None])[0].abs().max()) == 0.0  # from rest, nothing moves


def test_echo_state_bad_input_is_one_line():
    cases = [
        (lambda: echo_state_property(ReservoirCell(1, 5, connectivity=1.0, **F64), torch.zeros(1, 10, 1, **F64)),
         "us: expected one series \\(T, D\\)"),
        (lambda: echo_state_property(ReservoirCell(1, 5, connectivity=1.0, feedback_size=1, **F64),
                                     torch.zeros(10, 1, **F64)),
         "reservoir: expected a reservoir without output feedback"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
