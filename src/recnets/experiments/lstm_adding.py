"""``lstm-adding``: the LSTM solves Hochreiter & Schmidhuber's adding problem at T=100; a tanh RNN does not.

Book: 10.7 (long-term dependencies), 10.10.1 (LSTM). Paper: Hochreiter & Schmidhuber 1997, exp. 4.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from recnets.experiments.compare import Contender, fit_contenders, floor_of, plot_validation_curves
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.tasks.arithmetic import AddingTask, ArithmeticConfig
from recnets.train.config import TrainConfig

__all__ = ["NAME", "TITLE", "BOOK", "run"]

NAME = "lstm-adding"
TITLE = "LSTM against a tanh RNN on the adding problem (Hochreiter & Schmidhuber 1997, exp. 4)"
BOOK = "10.7, 10.10.1"
PAPER = "Hochreiter & Schmidhuber 1997, exp. 4"


def settings(quick: bool, progress: bool) -> tuple[ArithmeticConfig, TrainConfig, list[Contender]]:
    """Full: T=100, 5,000 steps of 32 sequences (160,000 sequences, the paper solved it after 74,000),
    Adam 3e-3, clip 1, 32 units each. Quick: T=10, 300 steps, 16 units."""
    if quick:
        task = ArithmeticConfig(T=10, batch_size=32, eval_size=512, eval_batch_size=256)
        train = TrainConfig(steps=300, lr=1e-2, clip_norm=1.0, eval_every=100, checkpoint_every=0, progress=progress,
                            device="cpu")
        hidden = 16
    else:
        task = ArithmeticConfig(T=100, batch_size=32)
        train = TrainConfig(steps=5000, lr=3e-3, clip_norm=1.0, eval_every=250, checkpoint_every=1000,
                            progress=progress)
        hidden = 32
    return task, train, [Contender("LSTM", "lstm", hidden), Contender("tanh RNN", "elman", hidden)]


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train both models, score them on the 2,560-sequence test set (|error| < 0.04), write the summary."""
    started = time.monotonic()
    task_config, train, contenders = settings(quick, progress)
    task = AddingTask(task_config)
    results = fit_contenders(out_dir, task, contenders, train, echo=echo)
    floor = floor_of(task)
    plot_validation_curves(out_dir, results, floor, f"adding problem, T = {task_config.T}")
    lstm, tanh = results
    rows = []
    for result in results:
        success = result["success"]
        rows.append(Row(f"{result['label']} ({result['parameters']} weights): test sequences wrong",
                        success["wrong"], unit=f"of {success['count']}",
                        paper="1 of 2,560" if result is lstm else None,
                        source=PAPER if result is lstm else None, status="U" if result is lstm else None))
        rows.append(Row(f"{result['label']}: test MSE", result["test"]["mse"]))
        rows.append(Row(f"{result['label']}: training sequences until validation error <= 1%",
                        result["sequences_to_solve"], paper=74_000 if result is lstm else None,
                        source=PAPER if result is lstm else None, status="S" if result is lstm else None))
    rows.append(Row("best constant predictor: MSE (closed form)", floor[1]))
    checks = {"the LSTM's test MSE is below half the constant predictor's": lstm["test"]["mse"] < 0.5 * floor[1]}
    if not quick:
        checks["the LSTM gets more test sequences right than the tanh RNN"] = (
            lstm["success"]["correct"] > tanh["success"]["correct"])
    budget = (f"T = {task_config.T} (lengths T..T+T/10), {train.steps:,} steps of {task_config.batch_size} "
              f"sequences, Adam lr {train.lr}, clip {train.clip_norm}, {contenders[0].hidden} units each; test set "
              f"{task_config.eval_size:,} sequences, solved when |error| < 0.04")
    summary = make_summary(name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
                           wall_seconds=time.monotonic() - started, checks=checks,
                           notes="The paper trained one sequence at a time with its own LSTM variant and "
                                 "learning rate; ours uses minibatches and Adam, so 'sequences until solved' is "
                                 "comparable only in order of magnitude.",
                           extra={"results": results})
    write_summary(out_dir, summary)
    return summary
