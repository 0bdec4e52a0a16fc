"""``recnets train esn`` and ``recnets eval`` on the user's own series, in-process: the run folder, a reload that
reproduces the test NRMSE, the forecasts against a reservoir loop and ridge solution written from the
equations (one-step, multi-step, closed loop), and every user mistake as one line and exit status 2."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from conftest import one_line_error
from recnets.cli import main
from recnets.config import apply_overrides
from recnets.experiments.esn_series import (ESNRunConfig, FitConfig, evaluate_esn, load_esn, split_points,
                                            train_esn)
from recnets.reservoir import nrmse

SMALL = ["--reservoir.units", "40", "--fit.washout", "20", "--fit.ridges", "1e-8,1e-6,1e-4,1e-2"]


def write_series(path: Path, length: int = 500, columns: int = 2, seed: int = 0) -> Path:
    """A noisy two-frequency series, one row per step, with a header line."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = np.stack([np.sin(0.13 * t + c) * (1 + 0.3 * np.cos(0.021 * t)) + 0.02 * rng.standard_normal(length)
                       for c in range(columns)], 1)
    np.savetxt(path, values, delimiter=",", header=",".join(f"c{c}" for c in range(columns)), comments="")
    return path


@pytest.fixture(scope="module")
def series_file(tmp_path_factory) -> Path:
    return write_series(tmp_path_factory.mktemp("data") / "series.csv")


@pytest.fixture(scope="module")
def trained(series_file, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "esn"
    assert main(["train", "esn", "--data", str(series_file), "--run", str(run), *SMALL]) == 0
    return run


def test_train_writes_the_run_folder_and_eval_reproduces_the_test_nrmse(trained, capsys):
    for name in ("config.json", "model.safetensors", "summary.json", "metrics.json", "plots/forecast.png"):
        assert (trained / name).is_file(), name
    assert not list(trained.rglob("*.tmp"))
    metrics = json.loads((trained / "metrics.json").read_text())
    test = metrics["test"]
    assert test["steps"] == 100 and test["first_target_index"] == 400  # the last 20% of 500 steps
    assert test["nrmse"] < 0.5 * test["persistence_nrmse"]
    assert metrics["validation"]["chosen_ridge"] in (1e-8, 1e-6, 1e-4, 1e-2)
    capsys.readouterr()
    assert main(["eval", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "echo state network" in out and "persistence" in out and f"{test['nrmse']:.4g}" in out
    again = evaluate_esn(trained)
    assert abs(again["nrmse"] - test["nrmse"]) < 1e-12
    assert again["nrmse_per_column"] == pytest.approx(test["nrmse_per_column"], abs=1e-12)
    tensors = safetensors.torch.load((trained / "model.safetensors").read_bytes())
    assert {name: tuple(t.shape) for name, t in tensors.items()} == {
        "W": (40, 40), "W_in": (40, 2), "b": (40,), "W_fb": (40, 0), "W_out": (2, 43), "input_mean": (2,),
        "input_scale": (2,)}
    assert abs(float(torch.linalg.eigvals(tensors["W"]).abs().max()) - 0.9) < 1e-9


def test_eval_scores_another_series_and_the_validation_tail(trained, tmp_path, capsys):
    other = write_series(tmp_path / "other.npy.csv", length=300, seed=1)
    result = evaluate_esn(trained, data=str(other))
    assert result["steps"] == 300 - 20 - 1 and result["first_target_index"] == 21  # after washout and horizon
    assert result["nrmse"] < 0.5 * result["persistence_nrmse"]
    array = tmp_path / "other.npy"
    np.save(array, np.loadtxt(other, delimiter=",", skiprows=1))
    assert main(["eval", str(trained), "--data", str(array)]) == 0
    assert f"{result['nrmse']:.4g}" in capsys.readouterr().out
    valid = evaluate_esn(trained, split="valid")
    assert valid["steps"] == 75 and valid["first_target_index"] == 325


def manual_features(model, z: torch.Tensor) -> torch.Tensor:
    """[1; u(n); x(n)] with x(n) = (1 - α) x(n-1) + α tanh(b + W_in u(n) + W x(n-1)), x(0) = 0, one row per n."""
    cell = model.esn.reservoir
    x = torch.zeros(cell.hidden_size, dtype=torch.float64)
    rows = []
    for u in z:
        x = (1 - cell.leak) * x + cell.leak * torch.tanh(cell.b + cell.W_in @ u + cell.W @ x)
        rows.append(torch.cat([torch.ones(1, dtype=torch.float64), u, x]))
    return torch.stack(rows)


def ridge_solution(X: torch.Tensor, Y: torch.Tensor, ridge: float) -> torch.Tensor:
    return torch.linalg.solve(X.T @ X + ridge * torch.eye(X.shape[1], dtype=torch.float64), X.T @ Y).T


@pytest.mark.parametrize("horizon, targets", [(1, ()), (4, (1,))])
def test_forecasts_match_a_reservoir_loop_and_ridge_solution_written_from_the_equations(
        series_file, tmp_path, horizon, targets):
    config = apply_overrides(ESNRunConfig(), {"data": str(series_file), "reservoir.units": 30, "fit.washout": 20,
                                              "fit.ridges": "1e-6,1e-3", "task.horizon": horizon,
                                              "task.targets": ",".join(map(str, targets)),
                                              "reservoir.leak": 0.7})
    summary = train_esn(config, tmp_path / "run", echo=lambda _: None)
    _, _, model = load_esn(tmp_path / "run")
    series = torch.from_numpy(np.loadtxt(series_file, delimiter=",", skiprows=1))  # (500, 2)
    columns = list(targets) or [0, 1]
    train_end, validation_end = 325, 400  # 500 - 100 (test) - 75 (validation)
    mean, scale = series[:train_end].mean(0), series[:train_end].std(0, unbiased=False)
    assert torch.allclose(model.mean, mean, atol=1e-14) and torch.allclose(model.scale, scale, atol=1e-14)
    z = (series - mean) / scale
    X = manual_features(model, z)  # (500, F)
    rows = slice(20, validation_end - horizon)  # the washout, then training and validation targets
    ridge = summary["metrics"]["validation"]["chosen_ridge"]
    W_out = ridge_solution(X[rows], z[20 + horizon:validation_end][:, columns], ridge)
    assert (model.esn.W_out - W_out).abs().max() < 1e-7 * max(1.0, float(W_out.abs().max()))
    predictions = X[validation_end - horizon:500 - horizon] @ W_out.T * scale[columns] + mean[columns]
    expected = nrmse(predictions, series[validation_end:, columns])
    assert abs(summary["metrics"]["test"]["nrmse"] - expected) < 1e-8


def test_generation_matches_a_closed_loop_written_from_the_equations(series_file, tmp_path):
    config = apply_overrides(ESNRunConfig(), {"data": str(series_file), "reservoir.units": 30, "fit.washout": 20,
                                              "fit.ridges": "1e-4", "task.mode": "generate"})
    summary = train_esn(config, tmp_path / "run", echo=lambda _: None)
    _, _, model = load_esn(tmp_path / "run")
    series = torch.from_numpy(np.loadtxt(series_file, delimiter=",", skiprows=1))
    z = (series - model.mean) / model.scale
    X = manual_features(model, z[:400])  # teacher forced up to step 399
    cell, W_out = model.esn.reservoir, model.esn.W_out
    x, y = X[399, 3:], X[399] @ W_out.T  # ŷ(400)
    outputs = [y]
    for _ in range(99):  # u(n) = ŷ(n): the output is the next input
        x = (1 - cell.leak) * x + cell.leak * torch.tanh(cell.b + cell.W_in @ y + cell.W @ x)
        y = torch.cat([torch.ones(1, dtype=torch.float64), y, x]) @ W_out.T
        outputs.append(y)
    predictions = torch.stack(outputs) * model.scale + model.mean
    expected = nrmse(predictions, series[400:])
    assert abs(summary["metrics"]["test"]["nrmse"] - expected) < 1e-8
    held = series[399].expand(100, -1)
    assert abs(summary["metrics"]["test"]["persistence_nrmse"] - nrmse(held, series[400:])) < 1e-12


def test_split_points():
    fit = FitConfig(washout=10, validation_fraction=0.15, test_fraction=0.2)
    assert tuple(split_points(500, fit)) == (325, 400, 500)
    assert tuple(split_points(500, fit, horizon=3)) == (325, 400, 500)
    with pytest.raises(ValueError, match=r"^data: expected more than washout \+ horizon \+ validation \+ test tails "
                                         r"\(10 \+ 1 \+ 2 \+ 3\) steps, got 15$"):
        split_points(15, fit)


def test_bad_input_is_one_line_and_exit_2(series_file, tmp_path, capsys):
    data = ["--data", str(series_file), "--run", str(tmp_path / "never")]
    assert main(["train", "esn", "--data", str(tmp_path / "missing.csv")]) == 2
    one_line_error(capsys, "missing.csv: no such file")
    nan = tmp_path / "nan.csv"
    nan.write_text("x\n1\n2\nnan\n4\n")
    assert main(["train", "esn", "--data", str(nan)]) == 2
    one_line_error(capsys, "line 4, column 1: expected a finite number, got 'nan'")
    short = tmp_path / "short.csv"
    short.write_text("x\n" + "\n".join(str(i) for i in range(50)) + "\n")
    assert main(["train", "esn", "--data", str(short)]) == 2
    one_line_error(capsys, "data: expected more than washout (100) steps, got 50")
    assert main(["train", "esn", *data, "--reservoir.unit", "3"]) == 2
    one_line_error(capsys, "config key: expected a known key, got 'reservoir.unit' (did you mean reservoir.units?)")
    assert main(["train", "esn", *data, "--reservoir.spectral_radius", "-1"]) == 2
    one_line_error(capsys, "reservoir.spectral_radius: expected a number > 0, got -1.0")
    assert main(["train", "esn", *data, "--reservoir.spectral_radius", "0"]) == 2
    one_line_error(capsys, "reservoir.spectral_radius: expected a number > 0, got 0.0")
    assert main(["train", "esn", *data, "--task.mode", "generate", "--task.horizon", "2"]) == 2
    one_line_error(capsys, "task.mode: generate feeds every output back")
    assert main(["train", "esn", *data, "--task.targets", "2"]) == 2
    one_line_error(capsys, "task.targets: expected column indices in [0, 2), got [2]")
    assert main(["train", "esn"]) == 2
    one_line_error(capsys, "data: expected a .csv or .npy series file")
    assert main(["train", "esn", *data, "--resume"]) == 2
    one_line_error(capsys, "--resume: expected no such flag for job esn")
    assert not (tmp_path / "never").exists()


def copy_run(run: Path, to: Path) -> Path:
    (to / "plots").mkdir(parents=True)
    for item in run.iterdir():
        if item.is_file():
            (to / item.name).write_bytes(item.read_bytes())
    return to


def test_a_corrupt_or_mismatched_model_file_is_one_line(trained, tmp_path, capsys):
    truncated = copy_run(trained, tmp_path / "truncated")
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[:len(data) // 2])
    assert main(["eval", str(truncated)]) == 2
    one_line_error(capsys, "model.safetensors: not a valid safetensors file")

    missing = copy_run(trained, tmp_path / "missing")
    (missing / "model.safetensors").unlink()
    assert main(["eval", str(missing)]) == 2
    one_line_error(capsys, "model.safetensors: missing")

    resized = copy_run(trained, tmp_path / "resized")
    saved = json.loads((resized / "config.json").read_text())
    saved["config"]["reservoir"]["units"] = 41
    (resized / "config.json").write_text(json.dumps(saved))
    assert main(["eval", str(resized)]) == 2
    one_line_error(capsys, "expected W of shape (41, 41) from config.json", "got (40, 40)")

    renamed = copy_run(trained, tmp_path / "renamed")
    tensors = safetensors.torch.load((renamed / "model.safetensors").read_bytes())
    tensors["W_output"] = tensors.pop("W_out")
    (renamed / "model.safetensors").write_bytes(safetensors.torch.save(tensors))
    assert main(["eval", str(renamed)]) == 2
    one_line_error(capsys, "expected tensors", "W_output")

    assert main(["eval", str(trained), "--data", str(write_series(tmp_path / "one.csv", columns=1))]) == 2
    one_line_error(capsys, "data: expected 2 column(s) like the run's series, got 1")


def test_eval_refuses_a_changed_series_unless_given_explicitly(tmp_path, capsys):
    path = write_series(tmp_path / "moving.csv")
    run = tmp_path / "run"
    assert main(["train", "esn", "--data", str(path), "--run", str(run), *SMALL]) == 0
    write_series(path, seed=5)
    assert main(["eval", str(run)]) == 2
    one_line_error(capsys, "SHA-256 differs", f"--data {path}")
    assert main(["eval", str(run), "--data", str(path)]) == 0
    assert math.isfinite(evaluate_esn(run, data=str(path))["nrmse"])
