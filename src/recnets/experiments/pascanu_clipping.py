"""``pascanu-clipping``: without gradient clipping, SGD on a tanh RNN is thrown off more often as T grows.

Book: 10.7 (long-term dependencies: eq. 10.39, the recurrence multiplies by W at every step, so a gradient
through many steps can explode), 10.11.1 (clipping gradients: near a cliff the gradient throws the
parameters far away; clipping keeps its direction and bounds the step). Paper: Pascanu, Mikolov & Bengio
2013, temporal order problem with a 50-unit RNN trained by SGD, with and without clipping, success rate
over 5 seeds against the length.

Protocol: for every length T and seed, two runs from the same initial weights and batches, one with plain
SGD and one with SGD whose gradient is rescaled to a global norm of at most ``clip_norm`` (Pascanu et al.'s
rule). Each run ends as one of three outcomes: *solved* (test error < 1% on the fixed test set),
*diverged* (thrown off: a non-finite loss, or a loss of at least twice chance, 2 ln 4 nats, on any
training batch or on the test set at the end: the model became confidently wrong, worse than guessing by
ln 4, the jump off a cliff of Fig. 10.17), or *failed* (neither).

Deviations:
    - Budget: a few hundred updates of 20 sequences per run, where the paper allowed up to 5M updates;
      at this budget no run is expected to solve the task, so the claim shown is about divergence.
    - Initialisation: W is rescaled to spectral radius ``radius`` (1 in the full run: the linearised
      recurrence neither shrinks nor grows, the edge between the vanishing and exploding regimes of
      eq. 10.39; 1.2 in the quick run), and the learning rate is large, so that explosions occur within the
      short budget; the paper's own initialisations and learning rates were not reproduced.
    - Task: Hochreiter & Schmidhuber's 8-symbol temporal order (exp. 6a, lengths T..T+T/10,
      :mod:`recnets.tasks.temporal_order`), not the 6-symbol variant of Pascanu et al.'s code.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from recnets.experiments.compare import model_for  # noqa: E402
from recnets.experiments.summary import Row, make_summary, write_summary  # noqa: E402
from recnets.machine import one_torch_thread
from recnets.tasks.generated import success_rate  # noqa: E402
from recnets.tasks.temporal_order import TemporalOrder2BitTask, TemporalOrderConfig  # noqa: E402
from recnets.train.config import TrainConfig  # noqa: E402
from recnets.train.loop import Trainer  # noqa: E402

__all__ = ["NAME", "TITLE", "BOOK", "run", "Settings", "settings", "outcome", "outcome_rates",
           "rescale_spectral_radius", "fit_grid", "OUTCOMES", "SOLVED_ERROR", "DIVERGED_FACTOR"]

NAME = "pascanu-clipping"
TITLE = "SGD with and without gradient clipping on temporal order against length (Pascanu et al. 2013)"
BOOK = "10.7, 10.11.1"
PAPER = "Pascanu, Mikolov & Bengio 2013"

OUTCOMES = ("solved", "diverged", "failed")
SOLVED_ERROR = 0.01  # a run is solved below 1% test error
DIVERGED_FACTOR = 2.0  # a run diverged at a training or test loss >= 2 x chance (or a non-finite one)


@dataclass(frozen=True)
class Settings:
    """One reproduction's grid and budget.

    Attributes:
        lengths: the minimal sequence lengths T (sequences are T..T+T/10 long).
        seeds: one pair of runs (unclipped, clipped) per seed and length; the seed fixes the task's batches,
            its test set and the initial weights.
        steps: SGD updates per run, on batches of ``batch_size`` sequences.
        lr: the SGD learning rate (no momentum).
        clip_norm: the clipped runs' bound on the gradient's global norm.
        radius: spectral radius W is rescaled to after its default initialisation (uniform in ±1/√H).
        hidden: H, tanh units.
        batch_size: sequences per update.
        eval_size: sequences in the test set (and the validation set, read once at the end).
    """

    lengths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    lr: float
    clip_norm: float
    radius: float
    hidden: int = 50
    batch_size: int = 20
    eval_size: int = 1000


def settings(quick: bool) -> Settings:
    """Full: T = 50, 100, 150, 200, 5 seeds, 200 updates, lr 0.2, clip 1, radius 1.0, 50 units.
    Quick: T = 10 and 20, one seed, 40 updates at lr 0.7 (large enough for unclipped runs to diverge within
    40 updates), clip 1; one seed because every run's trainer draws its loss plot twice (most of the time)."""
    if quick:
        return Settings(lengths=(10, 20), seeds=(0,), steps=40, lr=0.7, clip_norm=1.0, radius=1.2,
                        eval_size=500)
    return Settings(lengths=(50, 100, 150, 200), seeds=(0, 1, 2, 3, 4), steps=200, lr=0.2, clip_norm=1.0,
                    radius=1.0)


def rescale_spectral_radius(W: torch.Tensor, radius: float) -> None:
    """Scale the square matrix ``W`` (H, H) in place so that its largest |eigenvalue| is ``radius``.

    Book: 10.7 (eq. 10.39: powers of W grow like the spectral radius to the power t), 10.8 (echo state
    networks set the spectral radius the same way).
    """
    if W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W: expected a square matrix (H, H), got shape {tuple(W.shape)}")
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius: expected a finite number > 0, got {radius!r}")
    with torch.no_grad():
        current = torch.linalg.eigvals(W.double()).abs().max().item()
        W.mul_(radius / current)


def outcome(test_loss: float | None, error_rate: float | None, chance_loss: float,
            max_train_loss: float | None = None) -> str:
    """A run's outcome: "solved" (test error < 1%), "diverged" (no finite test loss, or a test loss or a
    largest training-batch loss ``max_train_loss`` of at least ``DIVERGED_FACTOR`` x ``chance_loss``), else
    "failed"."""
    if error_rate is not None and test_loss is not None and math.isfinite(test_loss) and error_rate < SOLVED_ERROR:
        return "solved"
    if test_loss is None or not math.isfinite(test_loss) or test_loss >= DIVERGED_FACTOR * chance_loss:
        return "diverged"
    if max_train_loss is not None and not max_train_loss < DIVERGED_FACTOR * chance_loss:  # NaN counts too
        return "diverged"
    return "failed"


def outcome_rates(runs: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, float]]]:
    """The fraction of runs of each outcome per condition and length.

    Args:
        runs: dicts with ``condition`` (str), ``T`` (int) and ``outcome`` (one of :data:`OUTCOMES`).

    Returns:
        ``{condition: {T: {"solved": f, "diverged": f, "failed": f, "runs": n}}}``, lengths in increasing order.
    """
    grouped: dict[str, dict[int, list[str]]] = {}
    for one in runs:
        if one["outcome"] not in OUTCOMES:
            raise ValueError(f"outcome: expected one of {OUTCOMES}, got {one['outcome']!r}")
        grouped.setdefault(one["condition"], {}).setdefault(one["T"], []).append(one["outcome"])
    return {condition: {T: {**{name: found.count(name) / len(found) for name in OUTCOMES}, "runs": len(found)}
                        for T, found in sorted(by_length.items())}
            for condition, by_length in grouped.items()}


class _TrainingTrace:
    """Callback: the training loss and the gradient norm before clipping of every logged step (the full
    curves stay in each run's ``metrics.jsonl``)."""

    def __init__(self) -> None:
        self.losses: list[tuple[int, float]] = []
        self.grad_norms: list[tuple[int, float]] = []

    def on_step(self, trainer: Trainer, step: int, record: dict[str, Any]) -> None:
        self.losses.append((step, record["loss"]))
        self.grad_norms.append((step, record["grad_norm"]))


def _fit_one(folder: Path, T: int, seed: int, clip_norm: float, setup: Settings) -> dict[str, Any]:
    """Train one tanh RNN on temporal order at length T and score it; a non-finite loss ends the run."""
    task = TemporalOrder2BitTask(TemporalOrderConfig(T=T, batch_size=setup.batch_size, eval_size=setup.eval_size,
                                                     eval_batch_size=setup.eval_size, seed=seed))
    torch.manual_seed(seed)
    model: nn.Module = model_for(task, "elman", setup.hidden)
    rescale_spectral_radius(model.cell.W, setup.radius)
    train = TrainConfig(steps=setup.steps, lr=setup.lr, optimizer="sgd", clip_norm=clip_norm, eval_every=0,
                        checkpoint_every=0, log_every=1, seed=seed, device="cpu", progress=False)
    trace = _TrainingTrace()
    started, cpu_started = time.monotonic(), time.process_time()
    trainer = Trainer(model, task, train, folder, callbacks=[trace],
                      run_config={"train": asdict(train), "task": task.describe(), "radius": setup.radius})
    try:
        trainer.fit()
        nonfinite = None
    except ValueError as error:  # the Trainer's non-finite loss: the run diverged
        if "non-finite" not in str(error):
            raise
        nonfinite = str(error)
    if nonfinite is None:
        test_loss = trainer.evaluate("test")["loss"]
        error_rate = success_rate(trainer.model, task, "test")["error_rate"]
    else:
        test_loss = error_rate = None
    chance = task.baselines()["chance_loss"]
    max_train_loss = max((loss for _, loss in trace.losses), default=None)
    result = outcome(test_loss, error_rate, chance, max_train_loss)
    if test_loss is not None and not math.isfinite(test_loss):
        test_loss = None  # JSON has no infinity; the outcome already says "diverged"
    norms = [n for _, n in trace.grad_norms if math.isfinite(n)]
    return {"T": T, "seed": seed, "clip_norm": clip_norm, "condition": "clipped" if clip_norm else "unclipped",
            "outcome": result, "test_loss": test_loss, "error_rate": error_rate,
            "nonfinite": nonfinite, "steps": trainer.step, "max_grad_norm": max(norms) if norms else None,
            "max_train_loss": max_train_loss, "seconds": time.monotonic() - started,
            "cpu_seconds": time.process_time() - cpu_started}


def _plot(out_dir: Path, runs: list[dict[str, Any]], rates: dict[str, dict[int, dict[str, float]]],
          chance: float, setup: Settings) -> Path:
    """Left: the fraction of runs diverged (solid) and solved (dotted) against T, clipped and unclipped.
    Right: every run's test loss against T, with chance and the divergence threshold. Writes
    ``plots/clipping.png`` and ``plots/clipping.json``."""
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"unclipped": "tab:red", "clipped": "tab:blue"}
    offset = {"unclipped": -0.015, "clipped": 0.015}
    width = max(setup.lengths) - min(setup.lengths) or 1
    for condition, by_length in rates.items():
        lengths = list(by_length)
        left.plot(lengths, [by_length[T]["diverged"] for T in lengths], marker="o", color=colours[condition],
                  label=f"{condition}: diverged")
        left.plot(lengths, [by_length[T]["solved"] for T in lengths], marker="s", linestyle=":",
                  color=colours[condition], label=f"{condition}: solved")
        points = [(one["T"] + offset[condition] * width, one["test_loss"]) for one in runs
                  if one["condition"] == condition]
        finite = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
        right.scatter([x for x, _ in finite], [y for _, y in finite], color=colours[condition], s=18,
                      label=f"{condition} ({sum(1 for _, y in points if y is None)} non-finite)")
    left.set_xlabel("minimal sequence length T")
    left.set_ylabel(f"fraction of {len(setup.seeds)} seeds")
    left.set_ylim(-0.05, 1.05)
    left.set_title(f"temporal order, tanh RNN {setup.hidden} units, SGD lr {setup.lr}")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.axhline(chance, color="black", linestyle="--", linewidth=1, label="chance ln 4")
    right.axhline(DIVERGED_FACTOR * chance, color="grey", linestyle=":", linewidth=1,
                  label=f"diverged above {DIVERGED_FACTOR:g} ln 4")
    right.set_yscale("log")
    right.set_xlabel("minimal sequence length T")
    right.set_ylabel("test loss (nats)")
    right.set_title(f"after {setup.steps} updates, clip norm {setup.clip_norm:g}")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    figure.tight_layout()
    path = plots / "clipping.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    plotted = {"rates": rates, "chance_loss": chance, "diverged_above": DIVERGED_FACTOR * chance,
               "test_losses": [{k: one[k] for k in ("condition", "T", "seed", "test_loss")} for one in runs]}
    (plots / "clipping.json").write_text(json.dumps(plotted, indent=2))
    return path


def _median(values: list[float | None]) -> float | None:
    """The median of the values that are not None (inf counts as a value; None when there are none)."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(present) if present else None


def fit_grid(out_dir: str | Path, setup: Settings, *, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every (length, seed, unclipped then clipped) run of ``setup``, each in ``out_dir/T{T}/seed{s}-{condition}``.

    Returns:
        One dict per run: T, seed, clip_norm, condition, outcome, test_loss (None if non-finite), error_rate,
        nonfinite (the Trainer's message or None), steps, max_grad_norm, max_train_loss, seconds.
    """
    runs = []
    for T in setup.lengths:
        for seed in setup.seeds:
            for clip_norm in (0.0, setup.clip_norm):
                condition = "clipped" if clip_norm else "unclipped"
                one = _fit_one(Path(out_dir) / f"T{T}" / f"seed{seed}-{condition}", T, seed, clip_norm, setup)
                runs.append(one)
                loss = "non-finite" if one["test_loss"] is None else f"{one['test_loss']:.3g}"
                echo(f"T = {T}, seed {seed}, {condition}: {one['outcome']} (test loss {loss}, largest gradient "
                     f"norm {one['max_grad_norm']:.3g}, {one['seconds']:.0f} s)")
    return runs


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every (length, seed, clipped or not) run, count the outcomes, plot them, write the summary.

    Runs on one torch thread (:func:`recnets.machine.one_torch_thread`, which says why).
    """
    with one_torch_thread():
        return _run(Path(out_dir), quick, echo)


def _run(out_dir: Path, quick: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    setup = settings(quick)
    runs = fit_grid(out_dir, setup, echo=echo)
    chance = math.log(TemporalOrder2BitTask.num_classes)
    rates = outcome_rates(runs)
    _plot(out_dir, runs, rates, chance, setup)
    unclipped, clipped = rates["unclipped"], rates["clipped"]
    median_loss = {(condition, T): _median([one["test_loss"] if one["test_loss"] is not None else math.inf
                                            for one in runs if one["condition"] == condition and one["T"] == T])
                   for condition in ("unclipped", "clipped") for T in setup.lengths}
    rows = []
    for T in setup.lengths:
        for condition in ("unclipped", "clipped"):
            name = f"T = {T}, {condition}" + (f" (norm {setup.clip_norm:g})" if condition == "clipped" else "")
            mine = [one for one in runs if one["T"] == T and one["condition"] == condition]
            quoted = condition == "clipped" and 50 <= T <= 200  # the paper's lengths
            rows.append(Row(f"{name}: runs solved (test error < 1%)", rates[condition][T]["solved"],
                            unit=f"(fraction of {len(mine)} runs)", paper="1.0 (5 of 5)" if quoted else None,
                            source=PAPER if quoted else None, status="S" if quoted else None))
            rows.append(Row(f"{name}: runs diverged (a training or test loss >= {DIVERGED_FACTOR:g} ln 4, or "
                            f"non-finite)",
                            rates[condition][T]["diverged"], unit=f"(fraction of {len(mine)} runs)"))
            median = median_loss[condition, T]
            rows.append(Row(f"{name}: median test loss (a non-finite run counts as infinite)",
                            median if median is not None and math.isfinite(median) else None, unit="nats"))
            rows.append(Row(f"{name}: median of each run's largest gradient norm before clipping",
                            _median([one["max_grad_norm"] for one in mine])))
    rows.append(Row("chance: test loss ln 4", chance, unit="nats"))
    shortest, longest = min(setup.lengths), max(setup.lengths)
    twins = {(one["T"], one["seed"]): one for one in runs if one["condition"] == "clipped"}
    checks = {
        "at every length, unclipped runs diverge at least as often as clipped runs":
            all(unclipped[T]["diverged"] >= clipped[T]["diverged"] for T in setup.lengths),
        f"at the longest length (T = {longest}), unclipped runs diverge more often than clipped runs":
            unclipped[longest]["diverged"] > clipped[longest]["diverged"],
        "at every length, the unclipped runs' median test loss is above the clipped runs'":
            all(median_loss["unclipped", T] > median_loss["clipped", T] for T in setup.lengths),
    }
    if quick:
        checks["every unclipped run ends with a higher test loss (or a non-finite one) than its clipped twin "
               "(same seed, weights and batches)"] = all(
            one["test_loss"] is None or (twins[one["T"], one["seed"]]["test_loss"] is not None
                                         and one["test_loss"] > twins[one["T"], one["seed"]]["test_loss"])
            for one in runs if one["condition"] == "unclipped")
    else:
        checks[f"unclipped runs diverge more often at T = {longest} than at T = {shortest}"] = (
            unclipped[longest]["diverged"] > unclipped[shortest]["diverged"])
    solved = sum(one["outcome"] == "solved" for one in runs)
    budget = (f"T in {list(setup.lengths)} (lengths T..T+T/10), seeds {list(setup.seeds)}; {setup.steps} SGD updates "
              f"of {setup.batch_size} sequences per run (the paper allowed up to 5M), lr {setup.lr}, no momentum, "
              f"clip norm {setup.clip_norm:g} or none; tanh RNN {setup.hidden} units, W rescaled to spectral radius "
              f"{setup.radius:g}; test set {setup.eval_size:,} sequences")
    summary = make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
        wall_seconds=time.monotonic() - started, checks=checks,
        notes=f"{solved} of {len(runs)} runs solved the task (test error < 1%): at this budget the paper's success "
              f"rates are not what is measured; what is measured is how often a run is thrown off: a training "
              f"batch's or the final test loss at least {DIVERGED_FACTOR:g} x chance (confidently wrong), or a "
              f"non-finite loss. The large learning "
              f"rate and the initial W rescaled to spectral radius {setup.radius:g} were chosen so that gradient "
              f"explosions happen within {setup.steps} updates; both are ours, not the paper's.",
        extra={"settings": asdict(setup), "rates": {c: {str(T): r for T, r in v.items()} for c, v in rates.items()},
               "runs": runs})
    write_summary(out_dir, summary)
    return summary
