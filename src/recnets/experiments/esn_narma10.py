"""``esn-narma10``: one-step prediction of the NARMA-10 system by echo state networks of N = 100, 200, 400 units.

Book: 10.8 (echo state networks). The task (Atiya & Parlos 2000, a standard reservoir benchmark since Jaeger
2003): the network reads the i.i.d. input u(t) ~ U[0, 0.5] and must output y(t + 1) of

    y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1,

so it must hold ten steps of u and compute a product of two of them; it never sees y. The series
(:func:`recnets.tasks.series.narma10`) is split in time into a washout, a training, a validation and a test
segment. For each N, the reservoir's spectral radius, input scaling and leaking rate are chosen on the
validation segment only (one reservoir seed, every ridge of a log grid), then several reservoir seeds are fitted
with that setting (ridge chosen on the validation segment, the readout refitted on training + validation) and
scored once on the test segment. Scores: NRMSE = sqrt(MSE / var(y)) on the test segment, and NMSE = NRMSE²
in a separate row (papers report either; never compare one to the other).

Baselines, fitted on the same segments with the ridge chosen on validation: the mean predictor (NRMSE 1), a
linear filter on the last 10 inputs (the information the reservoir has), and the linear ARX(10) on the last
10 inputs and the last 10 true outputs y(t..t-9), which reads the target's own past: the reservoir does not.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from recnets.analysis.plots import plot_curves, plot_prediction
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.machine import one_torch_thread
from recnets.reservoir import EchoStateNetwork, RidgeAccumulator, ReservoirCell, log_grid, nmse, nrmse
from recnets.tasks.series import narma10

__all__ = ["NAME", "TITLE", "BOOK", "run", "Settings", "Segments", "Reservoir", "settings", "one_step_pairs",
           "lagged_features", "linear_baseline", "evaluate_reservoir", "tune"]

NAME = "esn-narma10"
TITLE = "NARMA-10 one-step prediction: test NRMSE of echo state networks against the reservoir size N"
BOOK = "10.8"
SOURCE = "Rodan & Tino 2011 and others"
LITERATURE = {100: "≈ 0.4", 200: "0.1-0.2", 400: "0.1-0.2"}  # PAPERS.md, status U (NRMSE)


@dataclass(frozen=True)
class Segments:
    """Consecutive steps of the (input, next output) pairs: the washout (never scored), training, validation,
    test. Row t pairs u(t) with the target y(t + 1)."""

    washout: int
    train: int
    validation: int
    test: int

    @property
    def fit_end(self) -> int:
        """Rows before the test segment (washout, training and validation)."""
        return self.washout + self.train + self.validation

    @property
    def total(self) -> int:
        return self.fit_end + self.test


@dataclass(frozen=True)
class Reservoir:
    """The reservoir's tuned hyperparameters: spectral radius ρ, input scaling (W_in ~ U[-s, s]), leak α."""

    spectral_radius: float
    input_scaling: float
    leak: float

    def label(self) -> str:
        return f"ρ {self.spectral_radius:g}, input scaling {self.input_scaling:g}, leak {self.leak:g}"


@dataclass(frozen=True)
class Settings:
    """One run: sizes, reservoir seeds, segments, the tuning grid and the ridge grid.

    ``in_degree`` nonzeros per row of W (connectivity in_degree / N); ``tuning_seeds`` are the reservoirs whose
    mean validation NRMSE chooses the hyperparameters (kept apart from the scored ``seeds``).
    """

    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    segments: Segments
    candidates: tuple[Reservoir, ...]
    ridges: tuple[float, ...] = tuple(log_grid(1e-12, 1.0))
    in_degree: int = 10
    order: int = 10
    tuning_seeds: tuple[int, ...] = (100, 101)
    series_seed: int = 0
    plot_steps: int = 200


def settings(quick: bool) -> Settings:
    """Full: N = 100, 200, 400; ten scored reservoir seeds; 200 washout, 3000 training, 1000 validation, 2000
    test steps; ρ in {0.7, 0.8, 0.9, 1.0} × input scaling in {0.05, 0.1, 0.3} × leak in {0.8, 1} tuned per N on
    two other reservoir seeds. Quick: N = 50, 100; two seeds; 100 + 1000 + 300 + 500 steps; ρ in {0.8, 0.95},
    scaling 0.1, leak 1, tuned on one seed."""
    if quick:
        candidates = tuple(Reservoir(rho, 0.1, 1.0) for rho in (0.8, 0.95))
        return Settings(sizes=(50, 100), seeds=(0, 1), segments=Segments(100, 1000, 300, 500),
                        candidates=candidates, tuning_seeds=(100,), plot_steps=150)
    candidates = tuple(Reservoir(rho, scaling, leak) for rho in (0.7, 0.8, 0.9, 1.0) for scaling in (0.05, 0.1, 0.3)
                       for leak in (0.8, 1.0))
    return Settings(sizes=(100, 200, 400), seeds=tuple(range(10)), segments=Segments(200, 3000, 1000, 2000),
                    candidates=candidates)


# --- data and features ----------------------------------------------------------------------------------------
def one_step_pairs(u: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The one-step prediction pairs of a NARMA series: row t is the input u(t) and the target y(t + 1).

    Args:
        u, y: (T,) from :func:`recnets.tasks.series.narma10`.

    Returns:
        ``(us (T - 1, 1), targets (T - 1, 1))``.
    """
    if u.dim() != 1 or u.shape != y.shape or u.shape[0] < 2:
        raise ValueError(f"u, y: expected two (T,) series of the same length T >= 2, got {tuple(u.shape)} and "
                         f"{tuple(y.shape)}")
    return u[:-1, None], y[1:, None]


def _delayed(series: Tensor, delay: int) -> Tensor:
    """series(t - delay) for every t, zeros before the start: (T,)."""
    return torch.cat([series.new_zeros(delay), series[:series.shape[0] - delay]]) if delay else series


def lagged_features(u: Tensor, y: Tensor, order: int, *, outputs: bool) -> Tensor:
    """Rows of the linear baselines, aligned with :func:`one_step_pairs`: row t is [1, u(t), ..., u(t - k + 1)]
    and, with ``outputs``, y(t), ..., y(t - k + 1) after them (zeros before the series' start).

    Args:
        u, y: (T,).
        order: k >= 1 past steps of each series.
        outputs: also read the true past outputs (the ARX model); else inputs only (a linear FIR filter).

    Returns:
        (T - 1, 1 + k) or (T - 1, 1 + 2k).
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order: expected an integer >= 1, got {order!r}")
    if u.dim() != 1 or u.shape != y.shape:
        raise ValueError(f"u, y: expected two (T,) series of the same length, got {tuple(u.shape)} and "
                         f"{tuple(y.shape)}")
    columns = [torch.ones_like(u)] + [_delayed(u, i) for i in range(order)]
    if outputs:
        columns += [_delayed(y, i) for i in range(order)]
    return torch.stack(columns, 1)[:-1]  # (T - 1, F): the last row has no next output


# --- models ---------------------------------------------------------------------------------------------------
def linear_baseline(features: Tensor, targets: Tensor, segments: Segments,
                    ridges: Sequence[float]) -> tuple[float, Tensor]:
    """A ridge regression on given feature rows: ridge chosen on the validation segment, refitted on training +
    validation, scored on the test segment.

    Returns:
        ``(test NRMSE, test predictions (test, 1))``.
    """
    train = slice(segments.washout, segments.washout + segments.train)
    validation = slice(train.stop, segments.fit_end)
    fitted = RidgeAccumulator(features.shape[1], 1)
    held_out = RidgeAccumulator(features.shape[1], 1)
    fitted.add(features[train], targets[train])
    held_out.add(features[validation], targets[validation])
    ridge, _ = fitted.choose_ridge(held_out, list(ridges))
    fitted.add(features[validation], targets[validation])
    W = fitted.solve(ridge)  # (1, F)
    test = slice(segments.fit_end, segments.total)
    predictions = features[test].double() @ W.t()
    return nrmse(predictions, targets[test]), predictions


def evaluate_reservoir(reservoir: Reservoir, units: int, seed: int, us: Tensor, targets: Tensor,
                       config: Settings, *, test: bool = True) -> dict[str, Any]:
    """Fit one echo state network (ridge chosen on validation, then refitted on training + validation).

    Args:
        reservoir: the hyperparameters; units: N; seed: the reservoir's seed.
        us, targets: the pairs of :func:`one_step_pairs`, at least ``config.segments.total`` rows.
        test: also predict the test segment (False while tuning: the test is never looked at).

    Returns:
        ``validation`` (the best grid ridge's validation NRMSE), ``ridge``, the fitted ``network``, and with
        ``test``: ``nrmse``, ``nmse`` and ``predictions`` (test, 1).
    """
    segments = config.segments
    cell = ReservoirCell(1, units, spectral_radius=reservoir.spectral_radius,
                         connectivity=min(1.0, config.in_degree / units), input_scaling=reservoir.input_scaling,
                         leak=reservoir.leak, seed=seed, dtype=torch.float64)
    esn = EchoStateNetwork(cell, 1)
    end = segments.fit_end
    report = esn.fit(us[:end], targets[:end], washout=segments.washout, ridge=list(config.ridges),
                     validation_steps=segments.validation)
    result: dict[str, Any] = {"validation": min(report.validation.values()), "ridge": report.ridge, "network": esn}
    if test:
        predictions, _ = esn.predict(us[end:segments.total], report.state)  # (test, 1)
        truth = targets[end:segments.total]
        result.update(nrmse=nrmse(predictions, truth), nmse=nmse(predictions, truth), predictions=predictions)
    return result


def tune(units: int, us: Tensor, targets: Tensor, config: Settings) -> tuple[Reservoir, dict[str, float]]:
    """The candidate with the lowest validation NRMSE for N = ``units``, averaged over the reservoirs
    ``config.tuning_seeds``, and every candidate's mean validation NRMSE by its label."""
    scores = {candidate: sum(evaluate_reservoir(candidate, units, seed, us, targets, config, test=False)["validation"]
                             for seed in config.tuning_seeds) / len(config.tuning_seeds)
              for candidate in config.candidates}
    best = min(scores, key=scores.__getitem__)
    return best, {candidate.label(): score for candidate, score in scores.items()}


# --- figures --------------------------------------------------------------------------------------------------
def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Tune each N on validation, fit every seed, score the test segment, write the summary and plots.

    Runs on one torch thread (:func:`recnets.machine.one_torch_thread`, which says why).
    """
    with one_torch_thread():
        return _run(Path(out_dir), quick, echo)


def _run(out_dir: Path, quick: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    config = settings(quick)
    segments = config.segments
    u, y = narma10(segments.total + 1, seed=config.series_seed)
    us, targets = one_step_pairs(u, y)  # (T, 1) each
    truth = targets[segments.fit_end:segments.total]
    fir, _ = linear_baseline(lagged_features(u, y, config.order, outputs=False), targets, segments, config.ridges)
    arx, _ = linear_baseline(lagged_features(u, y, config.order, outputs=True), targets, segments, config.ridges)
    mean = nrmse(torch.full_like(truth, float(targets[segments.washout:segments.fit_end].mean())), truth)
    echo(f"baselines: mean {mean:.3f}, FIR({config.order}) {fir:.3f}, ARX({config.order}) {arx:.3f}")

    results: dict[int, dict[str, Any]] = {}
    for units in config.sizes:
        chosen, scores = tune(units, us, targets, config)
        runs = [evaluate_reservoir(chosen, units, seed, us, targets, config) for seed in config.seeds]
        errors = torch.tensor([r["nrmse"] for r in runs], dtype=torch.float64)
        results[units] = {"reservoir": asdict(chosen), "tuning_validation_nrmse": scores,
                          "nrmse": errors.tolist(), "nmse": [r["nmse"] for r in runs],
                          "ridge": [r["ridge"] for r in runs], "validation_nrmse": [r["validation"] for r in runs],
                          "mean_nrmse": float(errors.mean()),
                          "std_nrmse": float(errors.std()) if len(runs) > 1 else 0.0,
                          "mean_nmse": sum(r["nmse"] for r in runs) / len(runs),
                          "predictions": runs[0]["predictions"]}
        echo(f"N = {units}: {chosen.label()}; test NRMSE {results[units]['mean_nrmse']:.3f} ± "
             f"{results[units]['std_nrmse']:.3f} over {len(runs)} seeds ({time.monotonic() - started:.0f} s)")

    largest = config.sizes[-1]
    plot_prediction({"NARMA-10 y(t + 1)": truth[:config.plot_steps, 0],
                     f"ESN, N = {largest} (seed {config.seeds[0]})":
                         results[largest]["predictions"][:config.plot_steps, 0]},
                    out_dir / "plots" / "prediction.png", start=segments.fit_end,
                    title=f"NARMA-10, first {config.plot_steps} test steps", xlabel="step t", ylabel="y(t + 1)")
    means = [results[N]["mean_nrmse"] for N in config.sizes]
    flat = {"mean predictor": mean, f"linear FIR({config.order}) on u": fir,
            f"linear ARX({config.order}) on u and true y": arx}  # baselines: one value for every N
    plot_curves({"echo state network": (config.sizes, means, [results[N]["std_nrmse"] for N in config.sizes]),
                 **{label: (config.sizes, [value] * len(config.sizes)) for label, value in flat.items()}},
                out_dir / "plots" / "nrmse_against_size.png", logx=True, xlabel="reservoir units N",
                ylabel="test NRMSE", title=f"NARMA-10 test NRMSE, mean ± std over {len(config.seeds)} reservoirs")

    rows = []
    for units in config.sizes:
        rows.append(Row(f"N = {units}: test NRMSE (mean of {len(config.seeds)} reservoirs)",
                        results[units]["mean_nrmse"], paper=LITERATURE.get(units),
                        source=SOURCE if units in LITERATURE else None, status="U" if units in LITERATURE else None))
    for units in config.sizes:
        rows.append(Row(f"N = {units}: test NMSE (= NRMSE², mean of {len(config.seeds)} reservoirs; not an NRMSE)",
                        results[units]["mean_nmse"]))
    rows += [Row(f"linear ARX({config.order}): last {config.order} inputs and true outputs, test NRMSE", arx),
             Row(f"linear FIR({config.order}): last {config.order} inputs, test NRMSE", fir),
             Row("mean predictor, test NRMSE", mean)]
    falling = all(a > b for a, b in zip(means, means[1:]))
    checks = {f"the mean test NRMSE falls as N grows ({', '.join(map(str, config.sizes))})": falling,
              "every N beats the mean predictor (NRMSE 1)": max(means) < mean,
              f"every N beats the linear filter on the last {config.order} inputs (the reservoir's information)":
                  max(means) < fir}
    if not quick:
        checks[f"every N >= 200 beats the linear ARX({config.order}), which also reads the true past outputs"] = \
            all(results[N]["mean_nrmse"] < arx for N in config.sizes if N >= 200)
    beating = [str(N) for N in config.sizes if results[N]["mean_nrmse"] < arx]
    losing = [str(N) for N in config.sizes if results[N]["mean_nrmse"] >= arx]
    budget = (f"N in {list(config.sizes)} (W with {config.in_degree} nonzeros per row), {len(config.seeds)} "
              f"reservoir seeds per N; {segments.washout} washout + {segments.train} training + "
              f"{segments.validation} validation + {segments.test} test steps of one NARMA-10 series; "
              f"{len(config.candidates)} reservoir settings tuned per N on validation (reservoir seeds "
              f"{', '.join(map(str, config.tuning_seeds))}); "
              f"ridge from {len(config.ridges)} values {config.ridges[0]:.0e}..{config.ridges[-1]:.0e} chosen on "
              f"validation; float64")
    chosen_text = "; ".join(f"N = {N}: {Reservoir(**results[N]['reservoir']).label()}" for N in config.sizes)
    notes = (
        f"Tuned on the validation segment only (the test segment is predicted once per seed, after every choice): "
        f"{chosen_text}. The readout reads [1; u(t); x(t)]; the ridge is chosen per seed on validation, then the "
        f"readout is refitted on training + validation. NRMSE normalises by the test segment's variance of y; "
        f"NMSE is its square (per seed, then averaged). The literature figures are unverified (status U) and "
        f"vary with the training length, the input scaling and whether NRMSE or NMSE is meant. The ARX({config.order}) "
        f"baseline reads the true y(t..t-{config.order - 1}), which the reservoir never sees: it is a stronger "
        f"baseline than the task's spirit (here beaten by N = {', '.join(beating) or 'none'}; not by N = "
        f"{', '.join(losing) or 'none'}). "
        f"Deviations: the NARMA input is U[0, 0.5] as in Atiya & Parlos; the reservoir's W_in is U[-s, s] without "
        f"a bias term, and W has a fixed in-degree of {config.in_degree} (connectivity {config.in_degree}/N).")
    summary = make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
        wall_seconds=time.monotonic() - started, checks=checks, notes=notes,
        extra={"settings": {**asdict(config), "candidates": [asdict(c) for c in config.candidates]},
               "baselines": {"mean": mean, "fir": fir, "arx": arx},
               "results": {str(N): {k: v for k, v in value.items() if k != "predictions"}
                           for N, value in results.items()}})
    write_summary(out_dir, summary)
    return summary
