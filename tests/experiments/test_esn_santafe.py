"""The Santa Fe experiment's helpers: closed-loop generation against the core ESN and a loop written from the
equations, the AR(k) baseline against a noiseless AR(2) recurrence, the teacher-forced ESN predictions against
a hand-written reservoir loop and ridge solution, and the protocol's split of the packaged file."""
from __future__ import annotations

import math
import os

import pytest
import torch

from recnets.experiments.esn_santafe import (TEST_LENGTH, TRAIN_LENGTH, Setting, ar_closed_loop, ar_one_step,
                                             build_esn, closed_loop, esn_predictions, fit_ar, normalise, persistence)
from recnets.reservoir import ESNState, nmse
from recnets.tasks.series import MissingDataError, santafe_laser


def require_data(reason: object) -> None:
    """Skip when an optional data package is missing; fail instead in CI (CI=true installs every extra)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI installs every extra, yet: {reason}")
    pytest.skip(str(reason))


def small_esn(seed: int = 0, units: int = 24):
    esn = build_esn(Setting(units, spectral_radius=0.9, leak=0.6, input_scaling=0.8), seed)
    generator = torch.Generator().manual_seed(seed + 1)
    W_out = torch.randn(1, esn.feature_size, generator=generator, dtype=torch.float64) * 0.3
    esn.W_out.copy_(W_out)
    return esn, W_out


def manual_closed_loop(esn, x, y, W_out, steps, clip=None):
    """x(n) = (1 - α) x(n-1) + α tanh(b + W_in u(n) + W x(n-1)), u(n) = ŷ(n-1), ŷ(n) = W_out [1; u(n); x(n)]."""
    cell = esn.reservoir
    x, y = x.clone(), float(y)
    if clip is not None:
        y = min(max(y, clip[0]), clip[1])
    outputs = [y]
    for _ in range(steps - 1):
        u = torch.tensor([y], dtype=torch.float64)
        x = (1 - cell.leak) * x + cell.leak * torch.tanh(cell.b + cell.W_in @ u + cell.W @ x)
        y = float(W_out @ torch.cat([torch.ones(1, dtype=torch.float64), u, x]))
        if clip is not None:
            y = min(max(y, clip[0]), clip[1])
        outputs.append(y)
    return torch.tensor(outputs, dtype=torch.float64)


def test_closed_loop_without_clipping_continues_like_the_core_generate():
    esn, W_out = small_esn()
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(3, 24, generator=generator, dtype=torch.float64) - 0.5
    y = torch.rand(3, 1, generator=generator, dtype=torch.float64)
    mine = closed_loop(esn, x, y, W_out.expand(3, -1), 12)  # (3, 12): y, then 11 generated
    core, _ = esn.generate(11, ESNState(x, y))  # (3, 11, 1)
    assert torch.equal(mine[:, 0], y[:, 0])
    assert (mine[:, 1:] - core[..., 0]).abs().max() < 1e-12


def test_closed_loop_clips_what_it_feeds_back_and_gives_each_row_its_own_readout():
    esn, W_out = small_esn(seed=1)
    generator = torch.Generator().manual_seed(4)
    readouts = W_out + 2.0 * torch.randn(2, W_out.shape[1], generator=generator, dtype=torch.float64)  # (2, F)
    x = torch.rand(2, 24, generator=generator, dtype=torch.float64) - 0.5
    y = torch.tensor([[1.7], [-0.2]], dtype=torch.float64)
    clip = (0.0, 1.0)
    mine = closed_loop(esn, x, y, readouts, 20, clip)
    for row in range(2):
        oracle = manual_closed_loop(esn, x[row], y[row, 0], readouts[row], 20, clip)
        assert (mine[row] - oracle).abs().max() < 1e-12
    assert float(mine.min()) >= 0.0 and float(mine.max()) <= 1.0 and float(mine[0, 0]) == 1.0
    assert bool(((mine == 0.0) | (mine == 1.0)).any())  # the bounds were reached, so clipping was exercised


def ar2_series(length: int = 300) -> tuple[torch.Tensor, list[float]]:
    """A noiseless damped oscillation y(n+1) = c + a1 y(n) + a2 y(n-1) (roots of modulus 0.99)."""
    c, a1, a2 = 0.3, 2 * 0.99 * math.cos(0.4), -(0.99**2)
    values = [1.0, 0.2]
    for _ in range(length - 2):
        values.append(c + a1 * values[-1] + a2 * values[-2])
    return torch.tensor(values, dtype=torch.float64), [c, a1, a2]


def test_fit_ar_recovers_a_noiseless_ar2_and_its_predictions_follow_the_recurrence():
    series, true = ar2_series()
    coefficients = fit_ar(series, 2, 200)
    assert (coefficients - torch.tensor(true, dtype=torch.float64)).abs().max() < 1e-8
    exact = torch.tensor(true, dtype=torch.float64)
    assert (ar_one_step(exact, series, 200, 100) - series[200:300]).abs().max() < 1e-12
    assert (ar_closed_loop(exact, series, 200, 100) - series[200:300]).abs().max() < 1e-9
    clipped = ar_closed_loop(exact, series, 200, 100, clip=(0.0, 0.5))
    assert float(clipped.min()) >= 0.0 and float(clipped.max()) <= 0.5


def test_fit_ar_orders_pick_the_right_lags():
    series = torch.arange(20, dtype=torch.float64) ** 2  # y(n+1) = y(n) + 2 sqrt(y(n)) + 1: not AR, but exact lags
    coefficients = torch.tensor([2.0, 2.0, -1.0], dtype=torch.float64)  # second differences of n² are 2
    assert (ar_one_step(coefficients, series, 5, 10) - series[5:15]).abs().max() < 1e-12
    with pytest.raises(ValueError, match=r"^order: expected an integer in \[1, 8\], got 0$"):
        fit_ar(series, 0, 10)
    with pytest.raises(ValueError, match="^start: expected an index >= the order 2, got 1$"):
        ar_one_step(coefficients, series, 1, 3)


def test_persistence_and_normalise():
    series = torch.tensor([2.0, 4.0, 8.0, 3.0, 16.0], dtype=torch.float64)
    assert persistence(series, 2, 3).tolist() == [4.0, 8.0, 3.0]
    z, scale = normalise(series, train_length=3)
    assert scale == 8.0 and z.tolist() == [0.25, 0.5, 1.0, 0.375, 2.0]
    with pytest.raises(ValueError, match=r"^start: expected an index in \[1, 2\], got 0$"):
        persistence(series, 0, 3)
    with pytest.raises(ValueError, match=r"^series: expected a 1-D tensor of at least 1000 points, got \(5,\)$"):
        normalise(series)


def test_esn_predictions_match_a_hand_written_reservoir_and_ridge_solution():
    n = torch.arange(TRAIN_LENGTH + TEST_LENGTH, dtype=torch.float64)
    z = 0.5 + 0.3 * torch.sin(0.31 * n) * torch.cos(0.047 * n)  # (1100,)
    setting = Setting(24, spectral_radius=0.9, leak=0.7, input_scaling=1.3, ridge=1e-6)
    one_step, generated, unclipped = esn_predictions(setting, 5, z, clip=None)
    cell = build_esn(setting, 5).reservoir
    x = torch.zeros(24, dtype=torch.float64)
    features = []
    for t in range(TRAIN_LENGTH + TEST_LENGTH - 1):  # u(t) = z(t) predicts z(t+1)
        u = z[t:t + 1]
        x = (1 - cell.leak) * x + cell.leak * torch.tanh(cell.b + cell.W_in @ u + cell.W @ x)
        features.append(torch.cat([torch.ones(1, dtype=torch.float64), u, x]))
    X = torch.stack(features)  # (1099, F)
    rows = slice(100, TRAIN_LENGTH - 1)  # the washout, then every target up to z(999)
    A, Y = X[rows], z[101:TRAIN_LENGTH]
    W_out = torch.linalg.solve(A.T @ A + 1e-6 * torch.eye(A.shape[1], dtype=torch.float64), A.T @ Y)
    expected = X[TRAIN_LENGTH - 1:] @ W_out  # z(1000..1099) from the true previous values
    assert (one_step - expected).abs().max() < 1e-8
    oracle = manual_closed_loop(build_esn(setting, 5), X[TRAIN_LENGTH - 1, 2:], X[TRAIN_LENGTH - 1] @ W_out,
                                W_out, TEST_LENGTH)
    assert (generated - oracle).abs().max() < 1e-7 and torch.equal(generated, unclipped)
    clipped = esn_predictions(setting, 5, z, clip=(0.45, 0.55)).closed_loop
    assert (clipped - manual_closed_loop(build_esn(setting, 5), X[TRAIN_LENGTH - 1, 2:], X[TRAIN_LENGTH - 1] @ W_out,
                                         W_out, TEST_LENGTH, (0.45, 0.55))).abs().max() < 1e-7
    assert nmse(one_step, z[TRAIN_LENGTH:]) < 0.05  # a smooth series is easy one step ahead


def test_training_input_noise_is_seeded():
    n = torch.arange(TRAIN_LENGTH + TEST_LENGTH, dtype=torch.float64)
    z = 0.5 + 0.3 * torch.sin(0.31 * n)
    noisy = Setting(24, spectral_radius=0.9, leak=0.7, input_scaling=1.3, input_noise=0.05, ridge=1e-6)
    first, second = esn_predictions(noisy, 2, z, None), esn_predictions(noisy, 2, z, None)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    clean = esn_predictions(Setting(24, 0.9, 0.7, 1.3, ridge=1e-6), 2, z, None)
    assert not torch.allclose(first[0], clean[0])


def test_the_packaged_file_gives_the_protocols_training_and_test_segments():
    try:
        raw = santafe_laser()
    except MissingDataError as error:
        require_data(error)
    z, scale = normalise(raw)
    assert scale == 255.0  # the training maximum: the 8-bit digitiser's top
    assert raw[:5].tolist() == [86.0, 141.0, 95.0, 41.0, 22.0]
    assert raw[TRAIN_LENGTH:TRAIN_LENGTH + 3].tolist() == [72.0, 178.0, 122.0]  # the predicted points begin
    test = z[TRAIN_LENGTH:TRAIN_LENGTH + TEST_LENGTH]
    assert abs(nmse(persistence(z, TRAIN_LENGTH, TEST_LENGTH), test) - 0.95196) < 1e-4
