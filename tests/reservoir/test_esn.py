"""EchoStateNetwork against manual float64 loops: fit's W_out is ridge regression on [1; u; x] after the washout
(chunked or not, batched or not, with the targets fed back one step late), the ridge grid's validation choice
and refit on all steps, teacher-forced prediction, closed-loop generation; bad input."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.reservoir import EchoStateNetwork, ESNState, ReservoirCell, log_grid, nrmse

F64 = {"dtype": torch.float64}
D, N, O = 2, 30, 2


def manual_states(cell, us, x0=None, feedback=None):
    """x(n) = (1-α) x(n-1) + α tanh(b + W_in u(n) + W x(n-1) + W_fb y(n-1)), float64: (B, T, N)."""
    B, steps, _ = us.shape
    x = torch.zeros(B, cell.hidden_size, **F64) if x0 is None else x0
    states = []
    for n in range(steps):
        pre = cell.b + us[:, n] @ cell.W_in.T + x @ cell.W.T
        if feedback is not None:
            pre = pre + feedback[:, n] @ cell.W_fb.T
        x = (1 - cell.leak) * x + cell.leak * torch.tanh(pre)
        states.append(x)
    return torch.stack(states, 1)


def shifted(targets, first=None):
    """y(n-1) for every n: the targets one step late, ``first`` (zeros by default) before the first."""
    first = torch.zeros_like(targets[:, :1]) if first is None else first[:, None]
    return torch.cat([first, targets[:, :-1]], 1)


def features(us, states):
    """[1; u(n); x(n)] rows: (B, T, 1 + D + N)."""
    return torch.cat([torch.ones(*states.shape[:-1], 1, **F64), us, states], -1)


def ridge_solution(X, Y, ridge):
    """W_out (O, F) = Yᵀ X (XᵀX + λI)⁻¹ on the rows of X (R, F), Y (R, O)."""
    return torch.linalg.solve(X.T @ X + ridge * torch.eye(X.shape[1], **F64), X.T @ Y).T


def direct_nrmse(predictions, targets):
    variance = ((targets - targets.mean(0)) ** 2).mean(0)
    return float((((predictions - targets) ** 2).mean(0) / variance).sqrt().mean())


def make(feedback=False, input_size=D, **overrides):
    options = {"spectral_radius": 0.9, "connectivity": 0.2, "input_scaling": 0.5, "bias_scaling": 0.2,
               "leak": 0.6, "feedback_size": O if feedback else 0, "feedback_scaling": 0.3, "seed": 7, **F64}
    options.update(overrides)
    return EchoStateNetwork(ReservoirCell(input_size, N, **options), O)


def series(batch, steps, input_size=D):
    """Inputs and nonlinear targets with memory: y(n) = [sin(u1(n) + u2(n-2)), u1(n-1) u2(n)]."""
    us = torch.rand(batch, steps, input_size, **F64) * 2 - 1
    late = torch.roll(us, 2, dims=1)
    targets = torch.stack([torch.sin(us[..., 0] + late[..., -1]), torch.roll(us, 1, 1)[..., 0] * us[..., -1]], -1)
    return us, targets


@pytest.mark.parametrize("chunk_size", [4096, 7, 1], ids=["whole", "chunks7", "chunks1"])
@pytest.mark.parametrize("batch", [1, 3], ids=["B1", "B3"])
def test_fit_is_ridge_regression_on_manual_features(batch, chunk_size):
    esn = make()
    T, washout, ridge = 40, 6, 1e-5
    us, targets = series(batch, T)
    report = esn.fit(us, targets, washout=washout, ridge=ridge, chunk_size=chunk_size)
    states = manual_states(esn.reservoir, us)
    X = features(us, states)[:, washout:].reshape(-1, 1 + D + N)  # (B (T - washout), F)
    Y = targets[:, washout:].reshape(-1, O)
    expected = ridge_solution(X, Y, ridge)
    assert_exact(esn.W_out, expected, tol=1e-8 * max(1.0, float(expected.abs().max())))
    assert report.ridge == ridge and report.rows == batch * (T - washout) and report.validation == {}
    assert abs(report.train_nrmse - direct_nrmse(X @ esn.W_out.T, Y)) <= 1e-9
    assert_exact(report.state.x, states[:, -1])
    assert_exact(report.state.y, targets[:, -1])
    if batch == 1:  # a single (T, D) series is the batch of one
        single = make()
        single.fit(us[0], targets[0], washout=washout, ridge=ridge, chunk_size=chunk_size)
        assert_exact(single.W_out, esn.W_out, tol=1e-10)


@pytest.mark.parametrize("chunk_size", [4096, 9], ids=["whole", "chunks9"])
def test_fit_feeds_back_the_targets_one_step_late(chunk_size):
    esn = make(feedback=True)
    T, washout, ridge = 45, 5, 1e-6
    us, targets = series(2, T)
    esn.fit(us, targets, washout=washout, ridge=ridge, chunk_size=chunk_size)
    states = manual_states(esn.reservoir, us, feedback=shifted(targets))
    X = features(us, states)[:, washout:].reshape(-1, 1 + D + N)
    expected = ridge_solution(X, targets[:, washout:].reshape(-1, O), ridge)
    assert_exact(esn.W_out, expected, tol=1e-8 * max(1.0, float(expected.abs().max())))
    unfed = manual_states(esn.reservoir, us)
    assert float((states - unfed).abs().max()) > 1e-2  # the feedback changes the features


def test_fit_continues_from_a_given_state():
    esn = make(feedback=True)
    us, targets = series(2, 30)
    start = ESNState(torch.rand(2, N, **F64) - 0.5, torch.randn(2, O, **F64))
    esn.fit(us, targets, ridge=1e-6, state=start, chunk_size=8)
    states = manual_states(esn.reservoir, us, start.x, feedback=shifted(targets, start.y))
    expected = ridge_solution(features(us, states).reshape(-1, 1 + D + N), targets.reshape(-1, O), 1e-6)
    assert_exact(esn.W_out, expected, tol=1e-8 * max(1.0, float(expected.abs().max())))


def test_a_singular_refit_moves_to_the_next_larger_ridge_of_the_grid(monkeypatch):
    from recnets.reservoir.readout import RidgeAccumulator

    esn, solve = make(), RidgeAccumulator.solve
    us, targets = series(1, 60)
    rows = 60 - 5

    def singular_refit_below_1e_4(self, ridge):  # the refit (all rows) fails below 1e-4; scoring never does
        if self.count == rows and ridge < 1e-4:
            raise ValueError("ridge: the readout's normal equations are singular at ridge ...")
        return solve(self, ridge)

    monkeypatch.setattr(RidgeAccumulator, "solve", singular_refit_below_1e_4)
    report = esn.fit(us, targets, washout=5, ridge=[1e-8, 1e-6, 1e-4, 1e-2], validation_steps=20)
    assert report.ridge >= 1e-4 and report.rows == rows
    assert_exact(esn.W_out, solve(_accumulated(esn, us, targets, 5), report.ridge))
    with pytest.raises(ValueError, match="singular"):
        esn.fit(us, targets, washout=5, ridge=[1e-8, 1e-6], validation_steps=20)


def _accumulated(esn, us, targets, washout):
    from recnets.reservoir.readout import RidgeAccumulator

    accumulator = RidgeAccumulator(esn.feature_size, esn.output_size)
    X = features(us, manual_states(esn.reservoir, us))  # (B, T, F)
    accumulator.add(X[:, washout:], targets[:, washout:])
    return accumulator


def test_ridge_grid_picks_the_best_validation_ridge_and_refits_on_all_steps():
    esn = make()
    T, washout, validation_steps, batch = 70, 5, 25, 2
    us, targets = series(batch, T)
    targets = targets + 0.3 * torch.randn(batch, T, O, **F64)  # noise: an overfit readout validates badly
    grid = log_grid(1e-8, 1e2)
    report = esn.fit(us, targets, washout=washout, ridge=grid, validation_steps=validation_steps, chunk_size=16)
    X = features(us, manual_states(esn.reservoir, us))  # (B, T, F)
    split = T - validation_steps
    X_train, Y_train = X[:, washout:split].reshape(-1, 1 + D + N), targets[:, washout:split].reshape(-1, O)
    X_valid, Y_valid = X[:, split:].reshape(-1, 1 + D + N), targets[:, split:].reshape(-1, O)
    scores = {ridge: direct_nrmse(X_valid @ ridge_solution(X_train, Y_train, ridge).T, Y_valid) for ridge in grid}
    best = min(scores, key=scores.get)
    assert grid[0] < best < grid[-1]  # an interior minimum: the choice is not an accident of the grid's ends
    assert report.ridge == best
    assert set(report.validation) == set(grid)
    for ridge in grid:
        assert abs(report.validation[ridge] - scores[ridge]) <= 1e-8 * max(1.0, scores[ridge])
    X_all, Y_all = X[:, washout:].reshape(-1, 1 + D + N), targets[:, washout:].reshape(-1, O)
    assert_exact(esn.W_out, ridge_solution(X_all, Y_all, best), tol=1e-8)
    assert report.rows == batch * (T - washout)


def test_predict_with_a_teacher_is_the_teacher_forced_loop():
    esn = make(feedback=True)
    us, targets = series(2, 50)
    report = esn.fit(us, targets, washout=5, ridge=1e-6)
    new_us, teacher = series(2, 20)
    outputs, state = esn.predict(new_us, report.state, teacher=teacher)
    states = manual_states(esn.reservoir, new_us, report.state.x, feedback=shifted(teacher, report.state.y))
    expected = features(new_us, states) @ esn.W_out.T  # (B, T, O)
    assert_exact(outputs, expected)
    assert_exact(state.x, states[:, -1])
    assert_exact(state.y, teacher[:, -1])  # generation continues from the truth, as after fit


def test_predict_without_feedback_is_the_open_loop_readout():
    esn = make()
    us, targets = series(3, 40)
    esn.fit(us, targets, washout=5, ridge=1e-6)
    x0 = torch.rand(3, N, **F64) - 0.5
    outputs, state = esn.predict(us, ESNState(x0, torch.zeros(3, O, **F64)))
    states = manual_states(esn.reservoir, us, x0)
    assert_exact(outputs, features(us, states) @ esn.W_out.T)
    assert_exact(state.x, states[:, -1])
    single, _ = esn.predict(us[1])  # (T, D) in, (T, O) out, from zeros
    assert single.shape == (40, O)
    assert_exact(single, features(us[1:2], manual_states(esn.reservoir, us[1:2]))[0] @ esn.W_out.T)


def closed_loop(esn, x, y, steps, inputs=None):
    """The manual closed loop: u(n) = inputs or y(n-1) (when D = O) or nothing (D = 0); W_fb y(n-1) when the
    reservoir has feedback; y(n) = W_out [1; u(n); x(n)]."""
    cell = esn.reservoir
    outputs = []
    for n in range(steps):
        u = inputs[:, n] if inputs is not None else (y if cell.input_size else torch.zeros(y.shape[0], 0, **F64))
        pre = cell.b + u @ cell.W_in.T + x @ cell.W.T
        if cell.feedback_size:
            pre = pre + y @ cell.W_fb.T
        x = (1 - cell.leak) * x + cell.leak * torch.tanh(pre)
        y = torch.cat([torch.ones(x.shape[0], 1, **F64), u, x], -1) @ esn.W_out.T
        outputs.append(y)
    return torch.stack(outputs, 1), x, y


@pytest.mark.parametrize("feedback", [False, True], ids=["input", "input+W_fb"])
def test_generate_feeds_the_output_back_as_the_next_input(feedback):
    esn = make(feedback=feedback, input_size=O)
    t = torch.arange(300, **F64)
    wave = torch.stack([torch.sin(t / 5), torch.cos(t / 7)], -1)[None]  # (1, T, 2)
    report = esn.fit(wave[:, :-1], wave[:, 1:], washout=20, ridge=1e-6)  # one-step-ahead predictor
    outputs, state = esn.generate(30, report.state)
    expected, x, y = closed_loop(esn, report.state.x, report.state.y, 30)
    assert_exact(outputs, expected)
    assert_exact(state.x, x)
    assert_exact(state.y, y)
    inputs = torch.randn(1, 12, O, **F64)  # given inputs replace the fed-back output as u(n)
    outputs, _ = esn.generate(12, report.state, inputs=inputs)
    assert_exact(outputs, closed_loop(esn, report.state.x, report.state.y, 12, inputs)[0])


def test_generate_without_input_runs_on_the_feedback_alone():
    esn = make(feedback=True, input_size=0, bias_scaling=0.5)
    t = torch.arange(200, **F64)
    wave = torch.stack([torch.sin(t / 6), 0.5 * torch.sin(t / 3)], -1)[None]  # (1, T, 2)
    report = esn.fit(torch.zeros(1, 200, 0, **F64), wave, washout=20, ridge=1e-6)
    outputs, state = esn.generate(25, report.state)
    expected, x, y = closed_loop(esn, report.state.x, report.state.y, 25)
    assert_exact(outputs, expected)
    assert_exact(state.x, x)
    outputs, _ = esn.predict(torch.zeros(1, 25, 0, **F64), report.state)  # no teacher: the same closed loop
    assert_exact(outputs, expected)


def test_predict_with_feedback_and_no_teacher_feeds_back_its_own_outputs():
    esn = make(feedback=True)
    us, targets = series(2, 60)
    report = esn.fit(us, targets, washout=5, ridge=1e-6)
    new_us = series(2, 15)[0]
    outputs, state = esn.predict(new_us, report.state)
    expected, x, y = closed_loop(esn, report.state.x, report.state.y, 15, new_us)
    assert_exact(outputs, expected)
    assert_exact(state.y, y)


def test_bad_input_is_one_line():
    esn, fed, wide = make(), make(feedback=True), make(input_size=3)
    us, targets = series(2, 20)
    nan_targets = targets.clone()
    nan_targets[1, 4, 0] = math.nan
    nan_us = us.clone()
    nan_us[0, 2, 1] = math.nan
    cases = [
        (lambda: esn.fit(us, targets, washout=20), "us: expected more than washout \\+ validation_steps \\(20\\)"),
        (lambda: esn.fit(us, targets, washout=15, ridge=[1e-6, 1e-3], validation_steps=5), "us: expected more than"),
        (lambda: esn.fit(us, targets[:, :-1]), "targets: expected shape \\(2, 20, 2\\) to match us"),
        (lambda: esn.fit(us, targets[..., :1]), "targets: expected shape"),
        (lambda: esn.fit(us, nan_targets), "targets: expected finite values"),
        (lambda: esn.fit(nan_us, targets), "us: expected finite values"),
        (lambda: esn.fit(us, targets, washout=-1), "washout: expected an integer >= 0"),
        (lambda: esn.fit(us, targets, ridge=[1e-6, 1e-3]), "validation_steps: expected an integer > 0"),
        (lambda: esn.fit(us, targets, chunk_size=0), "chunk_size: expected an integer >= 1"),
        (lambda: esn.fit(us[0, 0], targets), "us: expected a tensor \\(B, T, width\\)"),
        (lambda: fed.predict(us, teacher=targets[:, 1:]), "teacher: expected shape \\(2, 20, 2\\)"),
        (lambda: esn.generate(0, esn.initial_state(2)), "steps: expected an integer >= 1"),
        (lambda: wide.generate(5, wide.initial_state(2)), "inputs: expected the \\(B, 5, 3\\) inputs"),
        (lambda: esn.generate(5, esn.initial_state(2), inputs=us[:, :4]), "inputs: expected shape \\(B, 5, 2\\)"),
        (lambda: EchoStateNetwork(esn.reservoir, 0), "output_size: expected an integer >= 1"),
        (lambda: EchoStateNetwork(make(feedback=True).reservoir, 3), "reservoir: expected feedback_size 0 or"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
    with pytest.raises(TypeError, match="reservoir: expected a ReservoirCell"):
        EchoStateNetwork(torch.nn.Linear(2, 2), O)


@pytest.mark.parametrize("feedback", [False, True], ids=["open-loop", "teacher-forced"])
def test_predict_leaves_out_the_training_noise(feedback):
    """State noise regularises training only: predict is the noise-free loop, the same on every call."""
    esn = make(feedback=feedback, noise=0.05)
    us, targets = series(2, 30)
    esn.fit(us, targets, washout=3, ridge=1e-4, generator=torch.Generator().manual_seed(0))
    teacher = targets if feedback else None
    first, _ = esn.predict(us, teacher=teacher)
    second, _ = esn.predict(us, teacher=teacher)
    assert_exact(first, second)
    states = manual_states(esn.reservoir, us, feedback=shifted(targets, torch.zeros(2, O, **F64)) if feedback else None)
    assert_exact(first, features(us, states) @ esn.W_out.T)


def test_the_qr_solver_fits_the_same_readout_and_an_unknown_solver_is_one_line():
    us, targets = series(2, 60)
    normal, qr = make(), make()
    grid = log_grid(1e-8, 1e-2)
    report_normal = normal.fit(us, targets, washout=5, ridge=grid, validation_steps=15, chunk_size=16)
    report_qr = qr.fit(us, targets, washout=5, ridge=grid, validation_steps=15, chunk_size=16, solver="qr")
    assert report_qr.ridge == report_normal.ridge and report_qr.rows == report_normal.rows
    assert_exact(qr.W_out, normal.W_out, tol=1e-7)
    assert abs(report_qr.train_nrmse - report_normal.train_nrmse) < 1e-9
    with pytest.raises(ValueError, match="^solver: expected one of normal, qr, got 'svd'$"):
        make().fit(us, targets, solver="svd")


def test_fit_online_without_feedback_is_ridge_regression_on_the_same_rows():
    """RLS from P(0) = I / α over the rows after the washout equals the closed-form ridge solution at α."""
    from recnets.reservoir.readout import RidgeAccumulator

    esn = make()
    us, targets = series(1, 80)
    errors, state = esn.fit_online(us[0], targets[0], washout=6, alpha=1e-3)
    X = features(us, manual_states(esn.reservoir, us))[0, 6:]  # (T - 6, F)
    accumulator = RidgeAccumulator(esn.feature_size, O)
    accumulator.add(X, targets[0, 6:])
    assert_exact(esn.W_out, accumulator.solve(1e-3), tol=1e-7)
    assert errors.shape == (74, O)
    assert_exact(state.x, manual_states(esn.reservoir, us)[:, -1])


def test_force_learns_to_generate_a_sine_with_its_own_output_fed_back():
    """FORCE (Sussillo & Abbott 2009): trained while feeding back its own output, then run closed loop."""
    cell = ReservoirCell(0, 100, spectral_radius=1.2, connectivity=0.2, feedback_size=1, leak=0.3, seed=1, **F64)
    esn = EchoStateNetwork(cell, 1)
    steps = torch.arange(2200, **F64)
    wave = (0.5 * torch.sin(0.1 * steps))[:, None]  # (T, 1)
    errors, state = esn.fit_online(torch.zeros(2000, 0, **F64), wave[:2000], washout=100)
    assert float(errors[-200:].abs().max()) < 0.02  # small errors while learning in the closed loop
    generated, _ = esn.generate(200, state)
    assert nrmse(generated[0], wave[2000:]) < 0.05  # measured: 0.01-level


def test_fit_online_bad_input_is_one_line():
    esn = make()
    us, targets = series(2, 20)
    with pytest.raises(ValueError, match="^us, targets: expected one series"):
        esn.fit_online(us, targets)
    with pytest.raises(ValueError, match=r"^washout: expected an integer in \[0, 20\), got 20$"):
        esn.fit_online(us[0], targets[0], washout=20)
