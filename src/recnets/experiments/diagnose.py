"""``recnets diagnose RUN``: the long-term-dependency diagnostics of a trained run: a char-LM run, or one
model of a reproduction on a generated task (a ``fit_contenders`` folder such as ``runs/X/LSTM``).

Book: 10.7, eqs. 10.36-10.39.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from recnets.analysis.diagnose import diagnose_model, save_diagnostics
from recnets.analysis.plots import plot_spectral_radius
from recnets.analysis.spectrum import SPECTRUM_FILE, read_spectrum_history
from recnets.experiments.char_lm import load_char_lm
from recnets.experiments.compare import model_for
from recnets.tasks.base import Batch
from recnets.tasks.char_corpus import CharLMTask
from recnets.tasks.long_term import make_task
from recnets.train.checkpoint import latest_checkpoint, load_checkpoint

__all__ = ["diagnose_run"]


def diagnose_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *, batch_size: int = 8,
                 steps: int = 200, lags: Iterable[int] | None = None) -> dict[str, Any]:
    """Diagnose a trained run: a char-LM run on ``batch_size`` windows of ``steps`` held-out characters, or
    a reproduction's model on the first ``batch_size`` sequences of its task's test set.

    The char-LM windows start at evenly spaced offsets of the run's validation stream. When the run folder
    holds a ``spectrum.jsonl`` (written during training by ``SpectrumTracker``), its spectral radius against
    the step is drawn too.

    Args:
        run_dir: a char-LM run folder (``config.json``, ``vocab.json``, checkpoints), or a model's folder of a
            reproduction on a generated task (``config.json`` naming its contender and task, checkpoints).
        out_dir: where to write; ``run_dir/diagnostics`` when None.
        batch_size: B, windows or test sequences (≥ 1).
        steps: T, characters per window (≥ 1); a generated task's sequences keep their own lengths.
        lags: the Jacobian products' lags; about 24 log-spaced lags from 1 to T when None.

    Returns:
        :func:`diagnose_model`'s summary, with ``run`` and the checkpoint's ``step`` added.

    Raises:
        ValueError: a folder that is not a char-LM run, bad sizes, or a validation stream shorter than
            ``steps + 1`` characters.

    Book: 10.7, eqs. 10.36-10.39.
    """
    for name, value in (("batch_size", batch_size), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "diagnostics"
    saved = _saved_config(run_dir)
    if "contender" in saved and "task" in saved:
        model, batch, step = _task_model_and_batch(run_dir, saved, batch_size)
        return _finish(run_dir, out_dir, diagnose_model(model, batch, out_dir, lags=lags), step)
    config, vocabulary, model, step = load_char_lm(run_dir)
    stream = CharLMTask(config.data, vocabulary=vocabulary).heldout_ids("valid")  # (N,)
    if stream.size < steps + 1:
        raise ValueError(f"steps: expected at most {stream.size - 1} (the validation stream has {stream.size} "
                         f"characters), got {steps}")
    starts = np.linspace(0, stream.size - steps - 1, batch_size).astype(np.int64)  # (B,)
    windows = torch.from_numpy(stream[starts[:, None] + np.arange(steps + 1)])  # (B, T + 1)
    batch = Batch(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())
    return _finish(run_dir, out_dir, diagnose_model(model, batch, out_dir, lags=lags), step)


def _saved_config(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.json`` (an empty dict when there is none or it is not a JSON object: the char-LM
    loader then says what is wrong)."""
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _task_model_and_batch(run_dir: Path, saved: dict[str, Any], batch_size: int) -> tuple[Any, Batch, int]:
    """A reproduction's model rebuilt from its saved contender and task, its latest weights, and the first
    ``batch_size`` test sequences of the task."""
    contender, described = saved["contender"], saved["task"]
    try:
        task = make_task(described["name"], **described["config"])
        model = model_for(task, contender["cell"], contender["hidden"], **contender.get("options", {}))
    except (KeyError, TypeError) as error:
        raise ValueError(f"run: expected a contender and task in {run_dir / 'config.json'}, got a malformed one "
                         f"({error!r})") from None
    step = load_checkpoint(latest_checkpoint(run_dir), model).step
    test = next(iter(task.eval_batches("test")))
    rows = slice(0, batch_size)
    lengths = None if test.lengths is None else test.lengths[rows]
    return model.eval(), Batch(test.inputs[rows], test.targets[rows], lengths), step


def _finish(run_dir: Path, out_dir: Path, summary: dict[str, Any], step: int) -> dict[str, Any]:
    """Add the spectral radius tracked during training (if any), the run and its step; save."""
    history = read_spectrum_history(run_dir / SPECTRUM_FILE)
    if history:
        plotted = plot_spectral_radius(history, out_dir / "spectral_radius.png")
        summary["files"] += [str(plotted), str(plotted.with_suffix(".json"))]
    summary.update({"run": str(run_dir), "step": step})
    return save_diagnostics(out_dir, summary)
