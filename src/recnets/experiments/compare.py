"""Train several models on one generated task and read each against the task's trivial floor.

The shared protocol of the long-term-dependency reproductions: the same task, seed and trainer settings for
every contender, each in its own run folder; scored by the task's loss and its paper's success criterion on
the fixed test set; validation curves of all contenders on one plot, with the floor drawn in.

Book: 10.7 (the challenge of long-term dependencies), 10.10 (gated RNNs), 10.11 (clipping).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from recnets.analysis.spectrum import spectrum_trackers  # noqa: E402
from recnets.cells.registry import make_cell  # noqa: E402
from recnets.nets.patterns import OutputEveryStep, SequenceToOne  # noqa: E402
from recnets.tasks.generated import (EndClassificationTask, EndRegressionTask, GeneratedTask,  # noqa: E402
                                     StepClassificationTask, StepRegressionTask, success_rate)
from recnets.train.config import TrainConfig  # noqa: E402
from recnets.train.loop import Trainer  # noqa: E402

__all__ = ["Contender", "model_for", "floor_of", "fit_contenders", "plot_validation_curves"]


@dataclass(frozen=True)
class Contender:
    """One model of a comparison: a label for tables and plots, a registered cell, its width H and the
    cell's keyword options (e.g. ``{"forget_bias": 3.0}`` for the LSTM, ``{"delay": 10}`` for skip-time)."""

    label: str
    cell: str
    hidden: int
    options: dict[str, Any] = field(default_factory=dict)


def model_for(task: GeneratedTask, cell: str, hidden: int, **options: Any) -> nn.Module:
    """The design pattern the task needs around a registered cell: one output at the end (Fig. 10.5) or
    an output every step (Fig. 10.3), sized by the task's inputs and targets; ``options`` go to the cell.

    Raises:
        ValueError: a skip connection through time longer than the task's sequences (``delay`` > T).
    """
    delay = options.get("delay")
    if delay is not None and not isinstance(delay, bool) and isinstance(delay, int) and delay > task.config.T:
        raise ValueError(f"delay: expected an integer <= T ({task.config.T}), got {delay}: the skip connection "
                         f"would reach before the sequence starts")
    sample = task.train_batch(0)
    width = sample.inputs.shape[-1]
    core = make_cell(cell, width, hidden, **options)
    if isinstance(task, EndClassificationTask):
        return SequenceToOne(core, task.num_classes)
    if isinstance(task, EndRegressionTask):
        return SequenceToOne(core, sample.targets.shape[-1])
    if isinstance(task, StepClassificationTask):
        return OutputEveryStep(core, task.num_classes)
    if isinstance(task, StepRegressionTask):
        return OutputEveryStep(core, sample.targets.shape[-1])
    raise TypeError(f"task: expected a generated task of a known loss family, got {type(task).__name__}")


def floor_of(task: GeneratedTask) -> tuple[str, float]:
    """The task's trivial floor in the units of its loss: (name, value) of the first ``*_mse``/``*_loss``."""
    for name, value in task.baselines().items():
        if name.endswith(("_mse", "_loss")):
            return name, float(value)
    raise ValueError(f"task: expected a baseline named *_mse or *_loss, got {sorted(task.baselines())}")


class _SuccessOnValid:
    """Callback: the paper's success rate on the validation set at every evaluation, and the first step at
    which the error rate fell below ``target``."""

    def __init__(self, task: GeneratedTask, target: float) -> None:
        self.task, self.target = task, target
        self.history: list[tuple[int, float]] = []
        self.solved_at: int | None = None

    def on_eval(self, trainer: Trainer, step: int, record: dict[str, Any]) -> None:
        error = success_rate(trainer.model, self.task, "valid")["error_rate"]
        self.history.append((step, error))
        if self.solved_at is None and error <= self.target:
            self.solved_at = step


def fit_contenders(out_dir: str | Path, task: GeneratedTask, contenders: list[Contender], train: TrainConfig, *,
                   solved_error: float = 0.01, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train every contender on ``task`` with ``train`` (same seed), then score it on the test set.

    Returns:
        One dict per contender: label, cell, hidden, parameters, steps, seconds, ``test`` (the task's
        metrics), ``success`` (correct/wrong/count/error_rate), ``solved_step`` (first validation with an
        error rate <= ``solved_error``, or None), ``sequences_to_solve`` and the validation error history.
    """
    out_dir = Path(out_dir)
    results = []
    for contender in contenders:
        torch.manual_seed(train.seed)
        model = model_for(task, contender.cell, contender.hidden, **contender.options)
        tracker = _SuccessOnValid(task, solved_error)
        started = time.monotonic()
        callbacks = [tracker, *spectrum_trackers(model, plots=False)]  # W's eigenvalues for `recnets diagnose`
        trainer = Trainer(model, task, train, out_dir / contender.label.replace(" ", "-"), callbacks=callbacks,
                          run_config={"contender": contender.__dict__, "task": task.describe()})
        fitted = trainer.fit()
        test = trainer.evaluate("test")
        success = success_rate(trainer.model, task, "test")
        batch = task.config.batch_size
        results.append({
            "label": contender.label, "cell": contender.cell, "hidden": contender.hidden,
            "parameters": sum(p.numel() for p in model.parameters()), "steps": fitted["step"],
            "seconds": time.monotonic() - started, "test": test, "success": success,
            "solved_step": tracker.solved_at,
            "sequences_to_solve": None if tracker.solved_at is None else tracker.solved_at * batch,
            "valid_error_history": tracker.history, "run_dir": str(trainer.run_dir)})
        echo(f"{contender.label}: test loss {test['loss']:.4g}, {success['wrong']} wrong of {success['count']}"
             f" ({time.monotonic() - started:.0f} s)")
    return results


def plot_validation_curves(out_dir: str | Path, results: list[dict[str, Any]], floor: tuple[str, float],
                           title: str) -> Path:
    """Validation loss against training sequences for every contender, with the trivial floor dashed.
    Writes ``plots/validation.png`` and ``plots/validation.json`` (the plotted numbers)."""
    plots = Path(out_dir) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.5, 4))
    curves = {}
    for result in results:
        records = [json.loads(line) for line in (Path(result["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
        valid = [(r["step"], r["loss"]) for r in records if r["split"] == "valid"]
        curves[result["label"]] = valid
        axes.plot([s for s, _ in valid], [v for _, v in valid], marker=".", label=result["label"])
    axes.axhline(floor[1], color="black", linestyle="--", linewidth=1, label=f"floor ({floor[0]})")
    axes.set_xlabel("training step")
    axes.set_ylabel("validation loss")
    axes.set_yscale("log")
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path = plots / "validation.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    (plots / "validation.json").write_text(json.dumps({"curves": curves, "floor": floor}, indent=2))
    return path
