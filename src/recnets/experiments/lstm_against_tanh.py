"""The protocol of Hochreiter & Schmidhuber's experiments: an LSTM against a tanh RNN on one generated task.

Both models get the same task, seed, optimiser and budget; each is scored on the task's fixed 2,560-sequence
test set by the paper's own criterion (``task.correct``) beside the trivial floor, and the paper's figures
are quoted with their status from ``shared/PAPERS.md``. Used by ``lstm-adding`` (exp. 4) and
``lstm-temporal-order`` (exp. 6a).

Book: 10.7 (the challenge of long-term dependencies), 10.10.1 (LSTM).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from recnets.experiments.compare import Contender, fit_contenders, floor_of, plot_validation_curves
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.tasks.generated import GeneratedTask
from recnets.train.config import TrainConfig

__all__ = ["PaperFigures", "lstm_against_tanh"]


@dataclass(frozen=True)
class PaperFigures:
    """What the paper reports for its LSTM, each with its status in ``shared/PAPERS.md`` (None: no figure)."""

    source: str
    wrong: str | None = None
    wrong_status: str | None = None
    sequences: int | None = None
    sequences_status: str | None = None


def lstm_against_tanh(out_dir: str | Path, *, name: str, title: str, book: str, task: GeneratedTask,
                      train: TrainConfig, lstm: Contender, tanh: Contender | None, paper: PaperFigures,
                      task_words: str, quick: bool, notes: str = "",
                      echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the LSTM (and the tanh RNN, if any), score both, plot their validation curves, write the summary.

    Checks: the LSTM's test loss is below half the floor (always); in a full run also that the LSTM solves
    the task (at most 1% of the test sequences wrong), that the tanh RNN stays near the floor (test loss
    above 0.8 x floor) and that the LSTM gets more sequences right than the tanh RNN.

    Returns:
        The summary, also written to ``out_dir/summary.json`` and ``out_dir/report.md``.
    """
    started = time.monotonic()
    contenders = [lstm] if tanh is None else [lstm, tanh]
    results = fit_contenders(out_dir, task, contenders, train, echo=echo)
    floor = floor_of(task)
    plot_validation_curves(out_dir, results, floor, f"{task.name}, T = {task.config.T}")
    loss_name = "MSE" if floor[0].endswith("_mse") else "cross-entropy (nats)"
    rows = []
    for result in results:
        is_lstm = result["label"] == lstm.label
        success = result["success"]
        rows.append(Row(f"{result['label']} ({result['parameters']} weights): test sequences wrong",
                        success["wrong"], unit=f"of {success['count']}",
                        paper=paper.wrong if is_lstm and paper.wrong else None,
                        source=paper.source if is_lstm and paper.wrong else None,
                        status=paper.wrong_status if is_lstm and paper.wrong else None))
        rows.append(Row(f"{result['label']}: test {loss_name}", result["test"]["loss"]))
        rows.append(Row(f"{result['label']}: training sequences until validation error <= 1%",
                        result["sequences_to_solve"], paper=paper.sequences if is_lstm else None,
                        source=paper.source if is_lstm and paper.sequences else None,
                        status=paper.sequences_status if is_lstm and paper.sequences else None))
    rows.append(Row(f"trivial floor ({floor[0]}, closed form)", floor[1]))
    fitted = results[0]
    checks = {f"the LSTM's test {loss_name} is below half the trivial floor": fitted["test"]["loss"] < 0.5 * floor[1]}
    if not quick:
        checks["the LSTM solves the task: at most 1% of the test sequences wrong"] = (
            fitted["success"]["error_rate"] <= 0.01)
        if tanh is not None:
            other = results[1]
            checks["the tanh RNN stays near the trivial floor (test loss above 0.8 x floor)"] = (
                other["test"]["loss"] > 0.8 * floor[1])
            checks["the LSTM gets more test sequences right than the tanh RNN"] = (
                fitted["success"]["correct"] > other["success"]["correct"])
    options = "".join(f", {key} {value}" for key, value in lstm.options.items())
    budget = (f"{task_words}; {train.steps:,} steps of {task.config.batch_size} sequences, "
              f"{train.optimizer} lr {train.lr} ({train.schedule}), clip {train.clip_norm}; "
              f"{', '.join(f'{c.label} {c.hidden} units' for c in contenders)}{options}; "
              f"test set {task.config.eval_size:,} sequences")
    summary = make_summary(name=name, title=title, book=book, budget=budget, rows=rows, quick=quick,
                           wall_seconds=time.monotonic() - started, checks=checks, notes=notes,
                           extra={"results": results})
    write_summary(out_dir, summary)
    return summary
