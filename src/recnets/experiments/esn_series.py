"""The ``esn`` job: an echo state network forecasts the user's own series (``recnets train esn --data FILE``).

Book: 10.8 (echo state networks: a fixed reservoir, a linear readout learned by regression), 10.2.3 (a model
that generates its own next input).

The series is a ``.csv`` or ``.npy`` file, one row per step, one column per variable
(:func:`recnets.tasks.series.load_series`). Its T steps are cut in time into a training part, a validation
tail and a test tail (``fit.validation_fraction``, ``fit.test_fraction`` of T). Every column is standardised
with the training part's mean and standard deviation; the reservoir reads all columns u(n) and the readout
W_out [1; u(n); x(n)] predicts the target columns (``task.targets``, all by default):

- ``task.mode forecast``: y(n + h) from u up to n, h = ``task.horizon`` (1: one step ahead; h > 1: a direct
  multi-step forecast); the true inputs drive the reservoir, and the score is over every target in the tail;
- ``task.mode generate``: closed loop, one step ahead on all columns, the output fed back as the next input:
  the test tail is generated from the state at its start, with no true value seen inside it.

``train`` fits W_out by ridge regression on the training rows after the washout, chooses the ridge of the
grid (``fit.ridges``) with the lowest validation NRMSE (in generate mode: of the validation tail generated in
closed loop), refits on training and validation rows with it, and reports the NRMSE on the test tail beside
persistence (forecast: ŷ(n + h) = y(n); generate: the last value before the tail, held). The run folder holds
``model.safetensors`` (W, W_in, b, W_fb, W_out and the standardisation, never pickle), ``config.json``,
``summary.json``, ``metrics.json`` and ``plots/forecast.png``; ``recnets eval RUN`` reloads it and re-scores.

Deviations: no output feedback W_fb (saved with width 0, so the file has the layout of one that has it); in
generate mode the output reaches the reservoir as its next input u instead; the columns are standardised.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, NamedTuple

import safetensors.torch
import torch
from torch import Tensor

from recnets.analysis.plots import plot_prediction
from recnets.config import config_from_dict, config_to_dict
from recnets.files import write_atomically, write_json
from recnets.reservoir import EchoStateNetwork, ESNState, ReservoirCell, RidgeAccumulator, log_grid, nrmse
from recnets.tasks.series import check_series, load_series

__all__ = ["JOB", "ReservoirConfig", "TaskConfig", "FitConfig", "ESNRunConfig", "Split", "split_points",
           "train_esn", "load_esn", "evaluate_esn", "eval_report", "is_esn_run", "LoadedESN"]

JOB = "esn"
FORMAT_VERSION = 1
MODEL_FILE, CONFIG_FILE, SUMMARY_FILE, METRICS_FILE = "model.safetensors", "config.json", "summary.json", "metrics.json"
CHUNK = 4096  # reservoir steps per chunk: memory does not grow with the series' length
DTYPE = torch.float64


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ReservoirConfig:
    """The fixed reservoir (``reservoir.*``): N units, spectral radius of W, fraction of nonzero entries of W,
    leaking rate α in (0, 1], input scaling (W_in ~ U[-s, s]), bias scaling (b ~ U[-s, s]) and the seed that
    draws W, W_in and b."""

    units: int = 300
    spectral_radius: float = 0.9
    connectivity: float = 0.1
    leak: float = 0.5
    input_scaling: float = 1.0
    bias_scaling: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not _integer(self.units) or self.units < 1:
            raise ValueError(f"reservoir.units: expected an integer >= 1, got {self.units!r}")
        if not _number(self.spectral_radius) or self.spectral_radius <= 0:
            raise ValueError(f"reservoir.spectral_radius: expected a number > 0, got {self.spectral_radius!r}")
        for name in ("connectivity", "leak"):
            value = getattr(self, name)
            if not _number(value) or not 0 < value <= 1:
                raise ValueError(f"reservoir.{name}: expected a number in (0, 1], got {value!r}")
        for name in ("input_scaling", "bias_scaling"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                raise ValueError(f"reservoir.{name}: expected a number >= 0, got {value!r}")
        if not _integer(self.seed):
            raise ValueError(f"reservoir.seed: expected an integer, got {self.seed!r}")


@dataclass(frozen=True)
class TaskConfig:
    """What is predicted (``task.*``): ``mode`` forecast (y(n + horizon) from u up to n) or generate (closed
    loop, horizon 1, all columns); ``targets``: 0-based target column indices, empty for all columns."""

    mode: Literal["forecast", "generate"] = "forecast"
    horizon: int = 1
    targets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not _integer(self.horizon) or self.horizon < 1:
            raise ValueError(f"task.horizon: expected an integer >= 1, got {self.horizon!r}")
        if any(not _integer(c) or c < 0 for c in self.targets) or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"task.targets: expected distinct column indices >= 0, got {list(self.targets)}")
        if self.mode == "generate" and (self.horizon != 1 or self.targets):
            raise ValueError(f"task.mode: generate feeds every output back as the next input, so it expects "
                             f"task.horizon 1 and all columns as targets, got horizon {self.horizon} and targets "
                             f"{list(self.targets)}")


@dataclass(frozen=True)
class FitConfig:
    """The readout's fit (``fit.*``): steps dropped from the start, ridge grid (log-spaced by default), and the
    validation and test tails as fractions of the series' length."""

    washout: int = 100
    ridges: tuple[float, ...] = tuple(log_grid(1e-10, 1e1))
    validation_fraction: float = 0.15
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not _integer(self.washout) or self.washout < 0:
            raise ValueError(f"fit.washout: expected an integer >= 0, got {self.washout!r}")
        if not self.ridges or any(not _number(r) or r < 0 for r in self.ridges):
            raise ValueError(f"fit.ridges: expected one or more numbers >= 0, got {list(self.ridges)}")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not _number(value) or not 0 < value < 1:
                raise ValueError(f"fit.{name}: expected a number in (0, 1), got {value!r}")
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError(f"fit.test_fraction: expected validation_fraction + test_fraction < 1, got "
                             f"{self.validation_fraction} + {self.test_fraction}")


@dataclass(frozen=True)
class ESNRunConfig:
    """Everything an ``esn`` run needs: ``data`` (the series file) and ``reservoir.*``, ``task.*``, ``fit.*``."""

    data: str = ""
    reservoir: ReservoirConfig = field(default_factory=ReservoirConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    fit: FitConfig = field(default_factory=FitConfig)


class Split(NamedTuple):
    """Where the series is cut, as target indices: training targets before ``train_end``, validation targets in
    [train_end, validation_end), the test tail in [validation_end, length)."""

    train_end: int
    validation_end: int
    length: int


def split_points(length: int, fit: FitConfig, horizon: int = 1) -> Split:
    """The cut of a series of ``length`` steps: tails of round(fraction · T) steps (at least 1 each).

    Raises:
        ValueError: too few steps for the washout, the horizon and both tails to leave a training row.
    """
    test = max(1, round(length * fit.test_fraction))
    validation = max(1, round(length * fit.validation_fraction))
    train_end = length - test - validation
    if train_end - horizon <= fit.washout:
        raise ValueError(f"data: expected more than washout + horizon + validation + test tails "
                         f"({fit.washout} + {horizon} + {validation} + {test}) steps, got {length}")
    return Split(train_end, length - test, length)


# ------------------------------------------------------------------------------------------ the model


class LoadedESN(NamedTuple):
    """A trained ESN with the standardisation of its inputs (mean (D,), scale (D,)) and its target columns."""

    esn: EchoStateNetwork
    mean: Tensor
    scale: Tensor
    targets: list[int]


def build_esn(config: ReservoirConfig, inputs: int, outputs: int, *, W: Tensor | None = None) -> EchoStateNetwork:
    """A float64 ESN with D inputs and O outputs, readout on [1; u; x] (W given: used as is, no rescaling).

    Book: 10.8.
    """
    reservoir = ReservoirCell(inputs, config.units, spectral_radius=config.spectral_radius,
                              connectivity=config.connectivity, input_scaling=config.input_scaling,
                              bias_scaling=config.bias_scaling, leak=config.leak, seed=config.seed, W=W, dtype=DTYPE)
    return EchoStateNetwork(reservoir, outputs)


def _drive(esn: EchoStateNetwork, us: Tensor) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Run the reservoir over us (T, D) from x = 0 chunk by chunk: (first step, states (t, N), features (t, F))."""
    state = esn.reservoir.initial_state(1)
    for start in range(0, us.shape[0], CHUNK):
        chunk = us[None, start:start + CHUNK]  # (1, t, D)
        states, state = esn.reservoir.run(chunk, state)
        yield start, states[0], esn.features(chunk, states)[0]


def _rows(esn: EchoStateNetwork, us: Tensor, low: int, high: int) -> tuple[Tensor, Tensor]:
    """States (high - low, N) and features (high - low, F) of rows [low, high), driving over us[:high]."""
    kept_states, kept_features = [], []
    for start, states, features in _drive(esn, us[:high]):
        begin = max(low - start, 0)
        if begin < states.shape[0]:
            kept_states.append(states[begin:])
            kept_features.append(features[begin:])
    return torch.cat(kept_states), torch.cat(kept_features)


class Scored(NamedTuple):
    """Predictions, persistence and truth (K, O) in the series' units, and the first target index."""

    predictions: Tensor
    persistence: Tensor
    truth: Tensor
    start: int


def predict_segment(model: LoadedESN, series: Tensor, mode: str, horizon: int, start: int, end: int) -> Scored:
    """Predictions of the target columns at target indices [start, end) of ``series`` (T, D).

    forecast: rows n = t - h of the reservoir driven by the true inputs; generate: teacher-forced up to
    step start - 1, then free running for the rest (the first output is ŷ(start) from the state there).

    Shapes: series (T, D) -> predictions, persistence, truth (end - start, O).

    Book: 10.8, 10.2.3 (generation).
    """
    esn, targets = model.esn, model.targets
    z = (series - model.mean) / model.scale  # (T, D)
    truth = series[start:end][:, targets]  # (K, O)
    if mode == "forecast":
        _, features = _rows(esn, z, start - horizon, end - horizon)
        outputs = features @ esn.W_out.t()  # (K, O)
        persistence = series[start - horizon:end - horizon][:, targets]
    else:
        states, features = _rows(esn, z, start - 1, start)
        first = features @ esn.W_out.t()  # (1, O): ŷ(start)
        rest = esn.generate(end - start - 1, ESNState(states, first))[0][0] if end - start > 1 else first[:0]
        outputs = torch.cat([first, rest])  # (K, O)
        persistence = series[start - 1:start].expand(end - start, -1)[:, targets]
    predictions = outputs * model.scale[targets] + model.mean[targets]
    return Scored(predictions, persistence.clone(), truth, start)


def _score(predictions: Tensor, truth: Tensor) -> float | None:
    """NRMSE averaged over the target columns; None when the predictions are not finite (a diverged loop)."""
    return nrmse(predictions, truth) if bool(torch.isfinite(predictions).all()) else None


def _per_column(predictions: Tensor, truth: Tensor) -> list[float | None]:
    return [_score(predictions[:, [j]], truth[:, [j]]) for j in range(truth.shape[1])]


# ------------------------------------------------------------------------------------------ training



def _read_series(path: str, washout: int) -> tuple[Tensor, dict[str, Any]]:
    """The series (T, D) float64 and its provenance (path, SHA-256, shape)."""
    if not path:
        raise ValueError("data: expected a .csv or .npy series file (--data FILE), got none")
    series = load_series(path)
    check_series(series, name="data", washout=washout)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return series.to(DTYPE), {"path": str(Path(path).resolve()), "sha256": digest, "steps": series.shape[0],
                              "columns": series.shape[1]}


def _target_columns(task: TaskConfig, columns: int) -> list[int]:
    if any(c >= columns for c in task.targets):
        raise ValueError(f"task.targets: expected column indices in [0, {columns}), got {list(task.targets)}")
    return list(task.targets) or list(range(columns))


def _fit(esn: EchoStateNetwork, z: Tensor, targets: list[int], task: TaskConfig, fit: FitConfig, split: Split
         ) -> tuple[float, dict[float, float | None], float]:
    """Ridge regression on the training rows, ridge chosen on validation, refitted on both; W_out is set.

    Returns:
        (chosen ridge, validation NRMSE of every ridge (None: generation diverged), training NRMSE).
    """
    h = task.horizon
    features_count, outputs = esn.feature_size, len(targets)
    training = RidgeAccumulator(features_count, outputs)
    validation = RidgeAccumulator(features_count, outputs)
    both = RidgeAccumulator(features_count, outputs)
    last = split.train_end - 1  # generate mode: the validation tail is generated from this row's state
    state_row = feature_row = None
    for start, states, features in _drive(esn, z[:split.validation_end - h]):  # rows n < validation_end - h
        if start <= last < start + features.shape[0]:
            state_row, feature_row = states[last - start:last - start + 1], features[last - start:last - start + 1]
        for accumulator, low, high in ((training, fit.washout, split.train_end - h),
                                       (validation, split.train_end - h, split.validation_end - h)):
            low, high = max(low, start), min(high, start + features.shape[0])
            if low < high:
                rows, wanted = features[low - start:high - start], z[low + h:high + h][:, targets]
                accumulator.add(rows, wanted)
                both.add(rows, wanted)
    if task.mode == "forecast":
        chosen, scores = training.choose_ridge(validation, list(fit.ridges))
        validation_scores: dict[float, float | None] = dict(scores)
    else:
        validation_scores = {}
        for ridge in fit.ridges:
            try:
                W_out = training.solve(ridge)
            except ValueError:
                validation_scores[float(ridge)] = None
                continue
            esn.W_out.copy_(W_out)
            first = feature_row @ W_out.t()  # (1, O): ŷ(train_end)
            steps = split.validation_end - split.train_end
            rest = esn.generate(steps - 1, ESNState(state_row, first))[0][0] if steps > 1 else first[:0]
            validation_scores[float(ridge)] = _score(torch.cat([first, rest]),
                                                     z[split.train_end:split.validation_end][:, targets])
        finite = {r: s for r, s in validation_scores.items() if s is not None and math.isfinite(s)}
        if not finite:
            training.solve(max(fit.ridges))  # raises the singular-system error if that is the cause
            raise ValueError(f"fit.ridges: closed-loop generation diverged on the validation tail for every ridge in "
                             f"{list(fit.ridges)}; expected a larger ridge or a smaller spectral radius")
        chosen = min(finite, key=lambda r: (finite[r], -r))
    W_out = both.solve(chosen)
    esn.W_out.copy_(W_out)
    clean = {r: (s if s is not None and math.isfinite(s) else None) for r, s in validation_scores.items()}
    return chosen, clean, both.nrmse(W_out)


def _model_tensors(model: LoadedESN) -> dict[str, Tensor]:
    cell = model.esn.reservoir
    tensors = {"W": cell.W, "W_in": cell.W_in, "b": cell.b, "W_fb": cell.W_fb, "W_out": model.esn.W_out,
               "input_mean": model.mean, "input_scale": model.scale}
    return {name: t.detach().to("cpu", DTYPE).contiguous().clone() for name, t in tensors.items()}


def train_esn(config: ESNRunConfig, run_dir: str | os.PathLike, *, echo: Callable[[str], None] = print
              ) -> dict[str, Any]:
    """Fit, choose the ridge on validation, score the test tail, and write the run folder.

    Returns:
        The summary also written to ``run_dir/summary.json``.

    Book: 10.8.
    """
    started = time.monotonic()
    run_dir = Path(run_dir)
    series, provenance = _read_series(config.data, config.fit.washout)  # checked before anything is written
    T, D = series.shape
    targets = _target_columns(config.task, D)
    split = split_points(T, config.fit, config.task.horizon)
    training = series[:split.train_end]
    mean, scale = training.mean(0), training.std(0, unbiased=False)  # (D,), (D,)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant column is only centred
    esn = build_esn(config.reservoir, D, len(targets))
    model = LoadedESN(esn, mean, scale, targets)
    echo(f"data: {config.data}, {T:,} steps x {D} column(s); targets {targets}; train {split.train_end}, "
         f"validation {split.validation_end - split.train_end}, test {T - split.validation_end} steps")
    ridge, validation, train_nrmse = _fit(esn, (series - mean) / scale, targets, config.task, config.fit, split)
    echo(f"reservoir N={config.reservoir.units}, spectral radius {config.reservoir.spectral_radius}, leak "
         f"{config.reservoir.leak}; ridge {ridge:.0e} chosen on validation (NRMSE {validation[ridge]:.4g})")
    scored = predict_segment(model, series, config.task.mode, config.task.horizon, split.validation_end, T)
    by_ridge = {f"{r:.3g}": score for r, score in validation.items()}
    metrics = {"test": _metrics(scored), "validation": {"chosen_ridge": ridge, "nrmse_by_ridge": by_ridge},
               "train_nrmse": train_nrmse}

    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, {"job": JOB, "format": FORMAT_VERSION, "config": config_to_dict(config),
                                        "input_size": D, "output_size": len(targets), "target_columns": targets,
                                        "data": provenance})
    write_atomically(run_dir / MODEL_FILE, safetensors.torch.save(_model_tensors(model)))
    write_json(run_dir / METRICS_FILE, metrics)
    plot = _plot(scored, series, targets, config.task, run_dir / "plots" / "forecast.png")
    summary = {"job": JOB, "run_dir": str(run_dir), "data": provenance, "split": split._asdict(),
               "target_columns": targets, "metrics": metrics, "config": config_to_dict(config),
               "files": [CONFIG_FILE, MODEL_FILE, METRICS_FILE, SUMMARY_FILE, str(plot.relative_to(run_dir))],
               "seconds": time.monotonic() - started}
    write_json(run_dir / SUMMARY_FILE, summary)
    echo(eval_report({"run": str(run_dir), "data": "the held-out test tail", **metrics["test"],
                      "mode": config.task.mode, "horizon": config.task.horizon}))
    return summary


def _metrics(scored: Scored) -> dict[str, Any]:
    return {"nrmse": _score(scored.predictions, scored.truth),
            "nrmse_per_column": _per_column(scored.predictions, scored.truth),
            "persistence_nrmse": _score(scored.persistence, scored.truth),
            "persistence_per_column": _per_column(scored.persistence, scored.truth),
            "steps": scored.truth.shape[0], "first_target_index": scored.start}


def _plot(scored: Scored, series: Tensor, targets: list[int], task: TaskConfig, path: Path) -> Path:
    """Truth (with some context before the tail), ESN and persistence for the first target column."""
    steps = scored.truth.shape[0]
    context = min(scored.start, max(steps // 2, 10))
    column = targets[0]
    truth = series[scored.start - context:scored.start + steps, column]
    pad = torch.full((context,), math.nan, dtype=DTYPE)
    what = ("closed-loop generation" if task.mode == "generate"
            else f"{task.horizon}-step-ahead forecast" if task.horizon > 1 else "one-step-ahead forecast")
    finite = torch.isfinite(scored.predictions[:, 0])
    esn_values = torch.where(finite, scored.predictions[:, 0], torch.full_like(scored.predictions[:, 0], math.nan))
    baseline = "last value held" if task.mode == "generate" else "persistence"
    return plot_prediction({"truth": truth, "ESN": torch.cat([pad, esn_values]),
                            baseline: torch.cat([pad, scored.persistence[:, 0]])},
                           path, start=scored.start - context, split=scored.start, ylabel=f"column {column}",
                           title=f"test tail: {what}, column {column}")


# ------------------------------------------------------------------------------------------ loading and eval


def is_esn_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir/config.json`` names an ``esn`` run (False for anything unreadable)."""
    try:
        saved = json.loads((Path(run_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and saved.get("job") == JOB


def _read_run(run_dir: Path) -> tuple[ESNRunConfig, dict[str, Any]]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"run: expected a run folder with {CONFIG_FILE}, got {run_dir}")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"run: {path} is not valid JSON ({' '.join(str(error).split())})") from None
    if not isinstance(saved, dict) or saved.get("job") != JOB:
        raise ValueError(f"run: expected an {JOB} run, got {path} with job "
                         f"{saved.get('job') if isinstance(saved, dict) else None!r}")
    if saved.get("format") != FORMAT_VERSION:
        raise ValueError(f"run: expected {CONFIG_FILE} format {FORMAT_VERSION}, got {saved.get('format')!r}")
    try:
        config = config_from_dict(ESNRunConfig, saved["config"])
        D, O, targets = int(saved["input_size"]), int(saved["output_size"]), [int(c) for c in saved["target_columns"]]
        str(saved["data"]["path"]), str(saved["data"]["sha256"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"run: {path} lacks a field ({error})") from None
    if len(targets) != O:
        raise ValueError(f"run: {path}: expected {O} target columns, got {targets}")
    return config, saved


def load_esn(run_dir: str | os.PathLike, *, device: str = "cpu") -> tuple[ESNRunConfig, dict[str, Any], LoadedESN]:
    """The run's config, its saved ``config.json`` record, and the model read from ``model.safetensors``.

    Raises:
        ValueError: one line: not an esn run, a missing or corrupt model file, or tensors whose names or
            shapes do not match the config.

    Book: 10.8.
    """
    run_dir = Path(run_dir)
    config, saved = _read_run(run_dir)
    D, O, N = saved["input_size"], saved["output_size"], config.reservoir.units
    expected = {"W": (N, N), "W_in": (N, D), "b": (N,), "W_fb": (N, 0), "W_out": (O, 1 + D + N),
                "input_mean": (D,), "input_scale": (D,)}
    path = run_dir / MODEL_FILE
    try:
        tensors = safetensors.torch.load(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"run: {path}: missing") from None
    except Exception as error:  # safetensors raises its own SafetensorError on a bad header or a truncated file
        raise ValueError(f"run: {path}: not a valid safetensors file ({' '.join(str(error).split())})") from None
    if set(tensors) != set(expected):
        raise ValueError(f"run: {path}: expected tensors {sorted(expected)}, got {sorted(tensors)}")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f"run: {path}: expected {name} of shape {shape} from {CONFIG_FILE} (units {N}, "
                             f"{D} input and {O} target column(s)), got {tuple(tensors[name].shape)}")
        if not bool(torch.isfinite(tensors[name]).all()):
            raise ValueError(f"run: {path}: expected finite values in {name}, got NaN or inf")
    esn = build_esn(config.reservoir, D, O, W=tensors["W"].to(DTYPE))
    with torch.no_grad():
        for name in ("W_in", "b", "W_fb"):
            getattr(esn.reservoir, name).copy_(tensors[name])
        esn.W_out.copy_(tensors["W_out"])
    esn = esn.to(device)
    model = LoadedESN(esn, tensors["input_mean"].to(device, DTYPE), tensors["input_scale"].to(device, DTYPE),
                      [int(c) for c in saved["target_columns"]])
    return config, saved, model


def evaluate_esn(run_dir: str | os.PathLike, *, data: str | None = None, split: str = "test",
                 device: str = "cpu") -> dict[str, Any]:
    """Re-score a trained ESN: its own test (or validation) tail, or another series ``data``.

    For another series (the same columns), forecast mode scores every target after the washout; generate mode
    generates that series' test tail (the same ``fit.test_fraction``) from the state its earlier part leads to.

    Returns:
        ``{"run", "data", "mode", "horizon", "nrmse", "nrmse_per_column", "persistence_nrmse",
        "persistence_per_column", "steps", "first_target_index"}``.

    Book: 10.8.
    """
    if split not in ("valid", "test"):
        raise ValueError(f"split: expected valid or test, got {split!r}")
    config, saved, model = load_esn(run_dir, device=device)
    task, fit = config.task, config.fit
    if data is None:
        path = saved["data"]["path"]
        series, provenance = _read_series(path, fit.washout)
        if provenance["sha256"] != saved["data"]["sha256"]:
            raise ValueError(f"data: expected the run's series {path} as trained on, got a file whose SHA-256 "
                             f"differs; to score it anyway pass --data {path}")
        cut = split_points(series.shape[0], fit, task.horizon)
        start, end = (cut.validation_end, cut.length) if split == "test" else (cut.train_end, cut.validation_end)
        where = f"the run's {'test' if split == 'test' else 'validation'} tail"
    else:
        series, provenance = _read_series(data, fit.washout)
        if series.shape[1] != saved["input_size"]:
            raise ValueError(f"data: expected {saved['input_size']} column(s) like the run's series, got "
                             f"{series.shape[1]} in {data}")
        T = series.shape[0]
        if task.mode == "forecast":
            start, end = fit.washout + task.horizon, T
        else:
            start, end = T - max(1, round(T * fit.test_fraction)), T
            if start <= fit.washout:
                raise ValueError(f"data: expected more than washout + test tail ({fit.washout} + {T - start}) "
                                 f"steps, got {T}")
        where = str(data)
    scored = predict_segment(model, series.to(device), task.mode, task.horizon, start, end)
    return {"run": str(run_dir), "data": where, "mode": task.mode, "horizon": task.horizon, **_metrics(scored)}


def eval_report(result: dict[str, Any]) -> str:
    """The held-out NRMSE of the ESN beside persistence, as printed by ``train`` and ``eval``."""
    what = ("closed-loop generation" if result["mode"] == "generate" else "one-step-ahead forecast"
            if result["horizon"] == 1 else f"{result['horizon']}-step-ahead forecast")
    lines = [f"run {result['run']}: {what}, NRMSE on {result['steps']:,} steps of {result['data']} "
             f"(lower is better; 1 = predicting the mean):"]

    def shown(value: float | None) -> str:
        return "diverged" if value is None else f"{value:.4g}"

    baseline = "last value held" if result["mode"] == "generate" else "persistence y(n + h) = y(n)"
    lines.append(f"  {'echo state network':<30} {shown(result['nrmse'])}")
    lines.append(f"  {baseline:<30} {shown(result['persistence_nrmse'])}")
    if len(result["nrmse_per_column"]) > 1:
        lines.append("  per target column: " + ", ".join(shown(v) for v in result["nrmse_per_column"]))
    return "\n".join(lines)
