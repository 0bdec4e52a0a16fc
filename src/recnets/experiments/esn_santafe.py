"""``esn-santafe``: an echo state network predicts the Santa Fe laser (data set A) 100 steps past its first 1,000.

Book: 10.8 (echo state networks). Data: Santa Fe competition data set A, a far-infrared laser in a chaotic
regime (Weigend & Gershenfeld 1993), read from the file reservoirpy 0.4.2 ships
(:func:`recnets.tasks.series.santafe_laser`, 10,093 points of 8-bit intensity 0..255). Protocol: everything is
fitted on the first 1,000 points; the score is the NMSE (normalised mean squared error, mean((ŷ - y)²) / var(y)
over the 100 points 1,001..1,100: NOT the NRMSE, its square root) in two modes:

- **one-step**: teacher-forced, the true y(n-1) is the input when predicting y(n);
- **closed-loop**: free running from the end of the training data, each prediction is the next input.

The series is normalised by its training maximum (y / 255: the raw intensity is spiky, from 0 to 255), and every
figure is computed on that scale (NMSE does not depend on it). Hyper-parameters (N, spectral radius, leak, input
scaling, training input noise, ridge on a log grid) are chosen on validation inside the first 1,000 points only:
readouts fitted on points 1..600, scored one-step on 601..1,000, and closed-loop on 100-step windows starting
every 25 points from 601 to 901 (the mean of their NMSEs); each mode gets its own setting, chosen on the mean
score over reservoir seeds that are not the test seeds. The test NMSE is then given for several fresh reservoir
seeds (median and range), beside persistence (ŷ(n) = y(n-1); closed loop: the last training value held) and a
linear AR(k) model fitted on the same 1,000 points (k chosen on the same validation).

Deviations: closed-loop outputs (of the ESN and of the AR model) are clipped to the digitiser's range 0..255
before they are fed back; the training inputs of a setting may carry Gaussian noise (its level chosen on
validation), a common regulariser for closed-loop generation; the series is divided by 255.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import torch
from torch import Tensor

from recnets.analysis.plots import plot_prediction
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.machine import one_torch_thread
from recnets.reservoir import EchoStateNetwork, ReservoirCell, RidgeAccumulator, log_grid, nmse
from recnets.tasks.series import packaged_file, santafe_laser

__all__ = ["NAME", "TITLE", "BOOK", "run", "Setting", "normalise", "persistence", "fit_ar", "ar_one_step",
           "ar_closed_loop", "build_esn", "teacher_forced_features", "closed_loop", "esn_predictions", "Predictions",
           "TRAIN_LENGTH", "TEST_LENGTH"]

NAME = "esn-santafe"
TITLE = "Santa Fe laser A: one-step and closed-loop prediction of the 100 points after the first 1,000 (NMSE)"
BOOK = "10.8"

TRAIN_LENGTH = 1000  # the competition's training series: points 1..1,000
TEST_LENGTH = 100  # predicted: points 1,001..1,100
WASHOUT = 100  # reservoir steps left out of every regression
VALIDATION_FROM = 600  # validation readouts see targets before this index; scored on [600, 1000)
VALIDATION_STARTS = tuple(range(600, 901, 25))  # closed-loop validation windows [t, t + 100)
DIGITISER = (0.0, 255.0)  # the recorded intensity is an 8-bit count: closed-loop outputs are clipped to it
CONNECTIVITY, BIAS_SCALING = 0.1, 0.2  # fixed, not searched
SELECTION_SEEDS = (1000, 1001)  # reservoirs that choose the hyper-parameters, disjoint from the test seeds
AR_ORDERS = (1, 2, 4, 8, 12, 16, 24, 32, 48)


@dataclass(frozen=True)
class Setting:
    """One reservoir's hyper-parameters: N, spectral radius, leak α, input scaling, the standard deviation of
    the Gaussian noise added to the training inputs (0: none), and the readout's ridge λ."""

    units: int
    spectral_radius: float
    leak: float
    input_scaling: float
    input_noise: float = 0.0
    ridge: float = 1e-8


def normalise(series: Tensor, train_length: int = TRAIN_LENGTH) -> tuple[Tensor, float]:
    """The series divided by its maximum over the first ``train_length`` points, and that maximum.

    Shapes: series (T,) -> (T,).
    """
    if not isinstance(series, Tensor) or series.dim() != 1 or series.shape[0] < train_length:
        raise ValueError(f"series: expected a 1-D tensor of at least {train_length} points, "
                         f"got {tuple(getattr(series, 'shape', ()))}")
    scale = float(series[:train_length].abs().max())
    if scale == 0.0:
        raise ValueError("series: expected a training segment that is not all zeros, got zeros")
    return series.double() / scale, scale


def persistence(z: Tensor, start: int, length: int) -> Tensor:
    """ŷ(n) = y(n-1) for n in [start, start + length): the one-step persistence forecast, (length,)."""
    if not 1 <= start <= z.shape[0] - length:
        raise ValueError(f"start: expected an index in [1, {z.shape[0] - length}], got {start}")
    return z[start - 1:start - 1 + length].clone()


def fit_ar(z: Tensor, order: int, end: int) -> Tensor:
    """Least-squares AR(k): y(n+1) = c + Σ_{j=1..k} a_j y(n+1-j), fitted on the pairs with targets in [k, end).

    Returns:
        ``[c, a_1, ..., a_k]`` (k + 1,) float64.
    """
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order < end - 1:
        raise ValueError(f"order: expected an integer in [1, {end - 2}], got {order!r}")
    z = z.double()
    lags = [z[order - j:end - j] for j in range(1, order + 1)]  # column j-1: y(n+1-j), targets y(n+1), n+1 in [k, end)
    design = torch.stack([torch.ones_like(lags[0]), *lags], 1)  # (end - k, k + 1)
    return torch.linalg.lstsq(design, z[order:end, None]).solution[:, 0]


def ar_one_step(coefficients: Tensor, z: Tensor, start: int, length: int) -> Tensor:
    """Teacher-forced AR predictions of y(n) for n in [start, start + length) from the true past, (length,)."""
    order = coefficients.shape[0] - 1
    if start < order:
        raise ValueError(f"start: expected an index >= the order {order}, got {start}")
    z = z.double()
    lags = torch.stack([z[start - j:start - j + length] for j in range(1, order + 1)], 1)  # (length, k)
    return coefficients[0] + lags @ coefficients[1:]


def ar_closed_loop(coefficients: Tensor, z: Tensor, start: int, length: int,
                   clip: tuple[float, float] | None = None) -> Tensor:
    """AR predictions of y(start..start+length-1) fed back as the next inputs; clipped to ``clip`` if given."""
    order = coefficients.shape[0] - 1
    history = [float(v) for v in z[start - order:start]]  # oldest first
    a = coefficients.tolist()
    outputs = []
    for _ in range(length):
        value = a[0] + sum(a[j] * history[-j] for j in range(1, order + 1))
        if clip is not None:
            value = min(max(value, clip[0]), clip[1])
        outputs.append(value)
        history.append(value)
    return torch.tensor(outputs, dtype=torch.float64)


def build_esn(setting: Setting, seed: int) -> EchoStateNetwork:
    """A float64 ESN with one input u(n) = y(n) and one output ŷ(n) predicting y(n+1), readout on [1; u; x].

    Book: 10.8.
    """
    reservoir = ReservoirCell(1, setting.units, spectral_radius=setting.spectral_radius, connectivity=CONNECTIVITY,
                              input_scaling=setting.input_scaling, bias_scaling=BIAS_SCALING, leak=setting.leak,
                              seed=seed, dtype=torch.float64)
    return EchoStateNetwork(reservoir, 1)


def teacher_forced_features(esn: EchoStateNetwork, inputs: Tensor) -> tuple[Tensor, Tensor]:
    """Drive the reservoir with u(n) = inputs[n] from x = 0: states x(n) (T, N) and features [1; u(n); x(n)] (T, F)."""
    us = inputs.double().view(1, -1, 1)  # (1, T, 1)
    states, _ = esn.reservoir.run(us)  # (1, T, N)
    return states[0], esn.features(us, states)[0]


def closed_loop(esn: EchoStateNetwork, x: Tensor, y: Tensor, W_out: Tensor, steps: int,
                clip: tuple[float, float] | None = None) -> Tensor:
    """Free-running generation with one readout per batch row: ŷ is fed back as the next input u.

    Args:
        esn: gives the reservoir (its own W_out is not used).
        x: the state after the last teacher-forced input, (B, N).
        y: the readout's output at that state, ŷ of the first predicted point, (B, 1).
        W_out: each row's readout, (B, F).
        steps: points returned, the first being ``y``.
        clip: (low, high) bounds every output is clipped to before it is fed back (None: no clipping).

    Returns:
        (B, steps): y, then steps - 1 generated outputs.

    Book: 10.2.3 (a model that generates its own next input), 10.8.
    """
    reservoir = esn.reservoir
    outputs = torch.empty(x.shape[0], steps, dtype=x.dtype)
    y = y if clip is None else y.clamp(*clip)
    outputs[:, 0] = y[:, 0]
    with torch.no_grad():
        for n in range(1, steps):
            x = reservoir.transition(x, reservoir.project(y))  # (B, N)
            y = (torch.cat([torch.ones_like(y), y, x], -1) * W_out).sum(-1, keepdim=True)  # (B, 1)
            if clip is not None:
                y = y.clamp(*clip)
            outputs[:, n] = y[:, 0]
    return outputs


def _readouts(esn: EchoStateNetwork, setting: Setting, seed: int, z: Tensor, fit_end: int,
              ridges: Sequence[float], features: Tensor) -> Tensor:
    """W_out (R, F) for each ridge, fitted on targets y(n+1) in [WASHOUT + 1, fit_end) (noisy inputs if asked)."""
    if setting.input_noise:
        generator = torch.Generator().manual_seed(seed + 7919)
        noisy = z[:fit_end - 1] + setting.input_noise * torch.randn(fit_end - 1, generator=generator,
                                                                    dtype=torch.float64)
        _, features = teacher_forced_features(esn, noisy)
    accumulator = RidgeAccumulator(features.shape[1], 1)
    accumulator.add(features[WASHOUT:fit_end - 1], z[WASHOUT + 1:fit_end, None])
    return torch.stack([accumulator.solve(ridge)[0] for ridge in ridges])  # (R, F)


def validation_scores(setting: Setting, seed: int, z: Tensor, ridges: Sequence[float],
                      clip: tuple[float, float]) -> tuple[list[float], list[float]]:
    """For each ridge: the one-step NMSE on [VALIDATION_FROM, TRAIN_LENGTH) and the mean closed-loop NMSE
    of the 100-step windows at VALIDATION_STARTS, with readouts fitted on targets before VALIDATION_FROM."""
    esn = build_esn(setting, seed)
    states, features = teacher_forced_features(esn, z[:TRAIN_LENGTH - 1])  # u(0..998) -> y(1..999)
    W = _readouts(esn, setting, seed, z, VALIDATION_FROM, ridges, features)  # (R, F)
    rows = features[VALIDATION_FROM - 1:]  # predicting y(600..999)
    one_step = [nmse(rows @ w, z[VALIDATION_FROM:TRAIN_LENGTH]) for w in W]
    R, S = len(ridges), len(VALIDATION_STARTS)
    before = [t - 1 for t in VALIDATION_STARTS]
    W_batch = W.repeat_interleave(S, 0)  # (R S, F)
    x = states[before].repeat(R, 1)  # (R S, N)
    y = (features[before].repeat(R, 1) * W_batch).sum(-1, keepdim=True)  # (R S, 1)
    generated = closed_loop(esn, x, y, W_batch, TEST_LENGTH, clip).view(R, S, TEST_LENGTH)
    closed = [statistics.fmean(_nmse_or_inf(generated[r, i], z[t:t + TEST_LENGTH])
                               for i, t in enumerate(VALIDATION_STARTS)) for r in range(R)]
    return one_step, closed


def _nmse_or_inf(predictions: Tensor, targets: Tensor) -> float:
    return nmse(predictions, targets) if bool(torch.isfinite(predictions).all()) else math.inf


class Predictions(NamedTuple):
    """Test predictions of y(1000..1099), each (100,): teacher-forced; free running with its outputs clipped;
    free running without clipping."""

    one_step: Tensor
    closed_loop: Tensor
    unclipped: Tensor


def esn_predictions(setting: Setting, seed: int, z: Tensor, clip: tuple[float, float] | None) -> Predictions:
    """Test predictions of y(1000..1099) from a readout fitted on the first 1,000 points.

    Returns:
        :class:`Predictions`: teacher-forced, and free running from the state after y(999), with its outputs
        clipped to ``clip`` and without.

    Book: 10.8 (the readout by linear regression), 10.2.3 (generation).
    """
    esn = build_esn(setting, seed)
    states, features = teacher_forced_features(esn, z[:TRAIN_LENGTH + TEST_LENGTH - 1])
    W = _readouts(esn, setting, seed, z, TRAIN_LENGTH, [setting.ridge], features[:TRAIN_LENGTH - 1])  # (1, F)
    one_step = features[TRAIN_LENGTH - 1:] @ W[0]  # (100,)
    last = TRAIN_LENGTH - 1
    y = (features[last] @ W[0]).view(1, 1)
    generated = closed_loop(esn, states[last:last + 1], y, W, TEST_LENGTH, clip)[0]
    unclipped = closed_loop(esn, states[last:last + 1], y, W, TEST_LENGTH, None)[0]
    return Predictions(one_step, generated, unclipped)


def settings(quick: bool) -> dict[str, Any]:
    """Full: N in {200, 400}, spectral radius {0.8, 0.95, 1.1}, leak {0.5, 1}, input scaling {0.5, 2}, input
    noise {0, 0.01}, ridge 1e-10..10 (one per decade); two selection seeds, ten test seeds.
    Quick: the full run's closed-loop choice without its ridge, at N = 300 (spectral radius 0.95, leak 1, input
    scaling 0.5, noise 0.01), ridge 1e-10..1e-2 every two decades, one selection seed, three test seeds."""
    if quick:
        return {"units": (300,), "spectral_radius": (0.95,), "leak": (1.0,), "input_scaling": (0.5,),
                "input_noise": (0.01,), "ridges": log_grid(1e-10, 1e-2)[::2],
                "selection_seeds": SELECTION_SEEDS[:1], "test_seeds": (0, 1, 2)}
    return {"units": (200, 400), "spectral_radius": (0.8, 0.95, 1.1), "leak": (0.5, 1.0),
            "input_scaling": (0.5, 2.0), "input_noise": (0.0, 0.01), "ridges": log_grid(1e-10, 1e1),
            "selection_seeds": SELECTION_SEEDS, "test_seeds": tuple(range(10))}


def select(grid: dict[str, Any], z: Tensor, clip: tuple[float, float],
           echo: Callable[[str], None]) -> tuple[Setting, Setting, list[dict[str, Any]]]:
    """The best setting for one-step and for closed-loop prediction on validation (mean over selection seeds)."""
    table = []
    keys = ("units", "spectral_radius", "leak", "input_scaling", "input_noise")
    combinations = list(itertools.product(*(grid[key] for key in keys)))
    for index, values in enumerate(combinations):
        base = Setting(*values)
        scores = [validation_scores(base, seed, z, grid["ridges"], clip) for seed in grid["selection_seeds"]]
        for r, ridge in enumerate(grid["ridges"]):
            table.append({**asdict(replace(base, ridge=ridge)),
                          "one_step": statistics.fmean(one[r] for one, _ in scores),
                          "closed_loop": statistics.fmean(closed[r] for _, closed in scores)})
        if (index + 1) % max(1, len(combinations) // 4) == 0:
            echo(f"  validated {index + 1} of {len(combinations)} reservoir settings")
    fields = set(asdict(Setting(1, 1.0, 1.0, 1.0)))
    best = {mode: Setting(**{k: v for k, v in min(table, key=lambda row: row[mode]).items() if k in fields})
            for mode in ("one_step", "closed_loop")}
    return best["one_step"], best["closed_loop"], table


def choose_ar_order(z: Tensor, clip: tuple[float, float]) -> tuple[int, int]:
    """AR orders with the best one-step and closed-loop validation NMSE (fitted on targets before 600)."""
    one, closed = {}, {}
    for order in AR_ORDERS:
        coefficients = fit_ar(z, order, VALIDATION_FROM)
        one[order] = nmse(ar_one_step(coefficients, z, VALIDATION_FROM, TRAIN_LENGTH - VALIDATION_FROM),
                          z[VALIDATION_FROM:TRAIN_LENGTH])
        closed[order] = statistics.fmean(
            _nmse_or_inf(ar_closed_loop(coefficients, z, t, TEST_LENGTH, clip), z[t:t + TEST_LENGTH])
            for t in VALIDATION_STARTS)
    return min(one, key=one.get), min(closed, key=closed.get)


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _provenance() -> dict[str, Any]:
    path = packaged_file("reservoirpy", "datasets", "santafe_laser.npy")
    try:
        package_version = version("reservoirpy")
    except PackageNotFoundError:  # a folder on the path without metadata
        package_version = None
    return {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "reservoirpy": package_version}


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Choose the hyper-parameters on validation, score both modes on points 1,001..1,100, plot, summarise.

    Runs on one torch thread (:func:`recnets.machine.one_torch_thread`, which says why).
    """
    with one_torch_thread():
        return _run(Path(out_dir), quick, echo)


def _run(out_dir: Path, quick: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    raw = santafe_laser()
    z, scale = normalise(raw)
    clip = (DIGITISER[0] / scale, DIGITISER[1] / scale)
    test = z[TRAIN_LENGTH:TRAIN_LENGTH + TEST_LENGTH]
    half = TEST_LENGTH // 2
    grid = settings(quick)
    one_setting, closed_setting, table = select(grid, z, clip, echo)
    echo(f"chosen: one-step {one_setting}; closed-loop {closed_setting}")

    per_seed = []
    for seed in grid["test_seeds"]:
        one_step = esn_predictions(one_setting, seed, z, clip).one_step
        _, generated, free = esn_predictions(closed_setting, seed, z, clip)
        per_seed.append({"seed": seed, "one_step": one_step, "closed_loop": generated,
                         "one_step_nmse": nmse(one_step, test), "closed_loop_nmse": nmse(generated, test),
                         "closed_loop_first_half_nmse": nmse(generated[:half], test[:half]),
                         "unclipped_nmse": _nmse_or_inf(free, test),
                         "unclipped_first_half_nmse": _nmse_or_inf(free[:half], test[:half])})
        latest = per_seed[-1]
        echo(f"seed {seed}: one-step NMSE {latest['one_step_nmse']:.4f}, closed-loop NMSE "
             f"{latest['closed_loop_nmse']:.3f} (first {half}: {latest['closed_loop_first_half_nmse']:.3f})")

    # How much the test figure depends on the choice: the next best closed-loop settings on validation.
    fields = set(asdict(closed_setting))
    runners_up = []
    for row in [] if quick else sorted(table, key=lambda row: row["closed_loop"])[1:3]:
        setting = Setting(**{k: v for k, v in row.items() if k in fields})
        generated = [esn_predictions(setting, seed, z, clip).closed_loop for seed in grid["test_seeds"]]
        runners_up.append({**asdict(setting), "validation_nmse": row["closed_loop"],
                           "test_nmse_median": statistics.median(nmse(g, test) for g in generated),
                           "test_first_half_nmse_median": statistics.median(nmse(g[:half], test[:half])
                                                                            for g in generated)})

    one_order, closed_order = choose_ar_order(z, clip)
    ar_one = ar_one_step(fit_ar(z, one_order, TRAIN_LENGTH), z, TRAIN_LENGTH, TEST_LENGTH)
    ar_closed = ar_closed_loop(fit_ar(z, closed_order, TRAIN_LENGTH), z, TRAIN_LENGTH, TEST_LENGTH, clip)
    held = torch.full((TEST_LENGTH,), float(z[TRAIN_LENGTH - 1]), dtype=torch.float64)
    baselines = {"persistence_one_step": nmse(persistence(z, TRAIN_LENGTH, TEST_LENGTH), test),
                 f"ar{one_order}_one_step": nmse(ar_one, test),
                 "last_value_closed_loop": nmse(held, test),
                 "last_value_closed_loop_first_half": nmse(held[:half], test[:half]),
                 f"ar{closed_order}_closed_loop": nmse(ar_closed, test),
                 f"ar{closed_order}_closed_loop_first_half": nmse(ar_closed[:half], test[:half])}

    spreads = {key: _spread([row[key] for row in per_seed])
               for key in ("one_step_nmse", "closed_loop_nmse", "closed_loop_first_half_nmse")}
    diverged = sum(1 for row in per_seed if not math.isfinite(row["unclipped_nmse"]) or row["unclipped_nmse"] > 10)
    count = len(per_seed)

    # Plots of the seed with the median NMSE in each mode, in raw intensity units, from point 901.
    context = 100
    truth = raw[TRAIN_LENGTH - context:TRAIN_LENGTH + TEST_LENGTH]
    pad = torch.full((context,), math.nan, dtype=torch.float64)
    for mode, key, baseline, label in (("one_step", "one_step_nmse", ar_one, f"AR({one_order})"),
                                       ("closed_loop", "closed_loop_nmse", ar_closed, f"AR({closed_order})")):
        ranked = sorted(per_seed, key=lambda row: row[key])
        shown = ranked[(len(ranked) - 1) // 2]
        series = {"truth": truth, f"ESN (seed {shown['seed']}, NMSE {shown[key]:.3g})":
                  torch.cat([pad, shown[mode] * scale]),
                  f"{label} (NMSE {nmse(baseline, test):.3g})": torch.cat([pad, baseline * scale])}
        if mode == "one_step":
            series[f"persistence (NMSE {baselines['persistence_one_step']:.3g})"] = torch.cat(
                [pad, persistence(z, TRAIN_LENGTH, TEST_LENGTH) * scale])
        plot_prediction(series, out_dir / "plots" / f"{mode}.png", start=TRAIN_LENGTH - context, split=TRAIN_LENGTH,
                        title=f"Santa Fe laser A, points {TRAIN_LENGTH + 1}-{TRAIN_LENGTH + TEST_LENGTH}: "
                              f"{mode.replace('_', '-')} prediction", xlabel="point (0-based)",
                        ylabel="intensity")

    def median_range(key: str) -> str:
        spread = spreads[key]
        return f"median of {count} reservoirs, range {spread['min']:.3g}-{spread['max']:.3g}"

    rows = [
        Row(f"one-step NMSE, ESN ({median_range('one_step_nmse')})", spreads["one_step_nmse"]["median"],
            unit="NMSE"),
        Row("one-step NMSE, persistence ŷ(n) = y(n-1)", baselines["persistence_one_step"], unit="NMSE"),
        Row(f"one-step NMSE, linear AR({one_order})", baselines[f"ar{one_order}_one_step"], unit="NMSE"),
        Row(f"closed-loop NMSE over 100 steps, ESN ({median_range('closed_loop_nmse')})",
            spreads["closed_loop_nmse"]["median"], unit="NMSE",
            paper=0.028, source="Weigend & Gershenfeld 1993 (competition winner, closed-loop 100 steps)",
            status="U"),
        Row("closed-loop NMSE over 100 steps, last training value held", baselines["last_value_closed_loop"],
            unit="NMSE"),
        Row(f"closed-loop NMSE over 100 steps, linear AR({closed_order})",
            baselines[f"ar{closed_order}_closed_loop"], unit="NMSE"),
        Row(f"closed-loop NMSE over the first {half} steps, ESN ({median_range('closed_loop_first_half_nmse')})",
            spreads["closed_loop_first_half_nmse"]["median"], unit="NMSE"),
        Row(f"closed-loop NMSE over the first {half} steps, linear AR({closed_order})",
            baselines[f"ar{closed_order}_closed_loop_first_half"], unit="NMSE"),
    ]
    checks = {
        "one-step ESN NMSE (median over reservoirs) beats persistence":
            spreads["one_step_nmse"]["median"] < baselines["persistence_one_step"],
        f"one-step ESN NMSE (median over reservoirs) beats the linear AR({one_order})":
            spreads["one_step_nmse"]["median"] < baselines[f"ar{one_order}_one_step"],
        f"closed-loop ESN NMSE over the first {half} steps is below 1 for every reservoir":
            spreads["closed_loop_first_half_nmse"]["max"] < 1.0,
        f"closed-loop ESN NMSE over the first {half} steps (median) beats the linear AR({closed_order})":
            spreads["closed_loop_first_half_nmse"]["median"] < baselines[f"ar{closed_order}_closed_loop_first_half"],
    }
    sizes = grid["units"]
    budget = (f"fit on points 1-{TRAIN_LENGTH}, predict {TRAIN_LENGTH + 1}-{TRAIN_LENGTH + TEST_LENGTH}; "
              f"{len(table)} validated (setting, ridge) pairs over N in {list(sizes)} with "
              f"{len(grid['selection_seeds'])} selection seed(s); {count} test reservoirs; washout {WASHOUT}, "
              f"connectivity {CONNECTIVITY}, bias scaling {BIAS_SCALING}, float64")
    notes = (
        "NMSE = mean((ŷ - y)²) / var(y) over the predicted points (the variance of those points), not the NRMSE. "
        "Normalisation: y / max(y over points 1-1,000) = y / 255. "
        f"Chosen on validation: one-step {asdict(one_setting)}; closed-loop {asdict(closed_setting)}. "
        f"The 100 test points hold a collapse of the intensity (near point {TRAIN_LENGTH + 60}): in closed loop the "
        "growing pulses before it are followed closely (the first-50-steps rows), while the low, slow oscillation "
        "after it is not, and those steps dominate the 100-step NMSE. The 100-step figure is sensitive to the "
        "choice among settings that validate about equally well (extra.closed_loop_runners_up: the next two "
        "settings' test medians). "
        "Deviations: closed-loop outputs are clipped to the digitiser's range 0-255 before they are fed back "
        f"(without clipping, {diverged} of {count} test reservoirs diverge after the collapse, NMSE > 10); "
        "training inputs may carry Gaussian noise (chosen on validation), a common regulariser for closed-loop "
        "generation. Literature: PAPERS.md has no row for Santa Fe; the competition "
        "(Weigend & Gershenfeld 1993) scored the 100-step continuation of its 1,000 training points, and its "
        "winner's NMSE is quoted as about 0.028 — unverified (no source checked here states it). reservoirpy's "
        "file (10,093 points) starts with the same 1,000 points as the widely copied competition series and its "
        "next 100 points hold a collapse, as the competition's continuation is described to; whether they are "
        "exactly the competition's test points is unverified, so the row is marked U.")
    summary = make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
        wall_seconds=time.monotonic() - started, checks=checks, notes=notes,
        extra={"data": _provenance(), "scale": scale, "one_step_setting": asdict(one_setting),
               "closed_loop_setting": asdict(closed_setting), "ar_orders": {"one_step": one_order,
                                                                           "closed_loop": closed_order},
               "baselines": baselines, "spreads": spreads, "unclipped_diverged": diverged,
               "closed_loop_runners_up": runners_up,
               "per_seed": [{k: v for k, v in row.items() if not isinstance(v, Tensor)} for row in per_seed],
               "validation_best": sorted(table, key=lambda row: row["closed_loop"])[:5]
               + sorted(table, key=lambda row: row["one_step"])[:5]})
    write_summary(out_dir, summary)
    return summary
