"""``recnets diagnose RUN``: the long-term-dependency diagnostics of a trained char-LM run.

Book: 10.7, eqs. 10.36-10.39.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from recnets.analysis.diagnose import diagnose_model, save_diagnostics
from recnets.analysis.plots import plot_spectral_radius
from recnets.analysis.spectrum import SPECTRUM_FILE, read_spectrum_history
from recnets.experiments.char_lm import load_char_lm
from recnets.tasks.base import Batch
from recnets.tasks.char_corpus import CharLMTask

__all__ = ["diagnose_run"]


def diagnose_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *, batch_size: int = 8,
                 steps: int = 200, lags: Iterable[int] | None = None) -> dict[str, Any]:
    """Diagnose a trained char-LM run on ``batch_size`` windows of ``steps`` held-out characters.

    The windows start at evenly spaced offsets of the run's validation stream. When the run folder holds a
    ``spectrum.jsonl`` (written during training by ``SpectrumTracker``), its spectral radius against the
    step is drawn too.

    Args:
        run_dir: a char-LM run folder (``config.json``, ``vocab.json``, checkpoints).
        out_dir: where to write; ``run_dir/diagnostics`` when None.
        batch_size: B, windows (≥ 1).
        steps: T, characters per window (≥ 1).
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
    config, vocabulary, model, step = load_char_lm(run_dir)
    stream = CharLMTask(config.data, vocabulary=vocabulary).heldout_ids("valid")  # (N,)
    if stream.size < steps + 1:
        raise ValueError(f"steps: expected at most {stream.size - 1} (the validation stream has {stream.size} "
                         f"characters), got {steps}")
    starts = np.linspace(0, stream.size - steps - 1, batch_size).astype(np.int64)  # (B,)
    windows = torch.from_numpy(stream[starts[:, None] + np.arange(steps + 1)])  # (B, T + 1)
    batch = Batch(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "diagnostics"
    summary = diagnose_model(model, batch, out_dir, lags=lags)
    history = read_spectrum_history(run_dir / SPECTRUM_FILE)
    if history:
        plotted = plot_spectral_radius(history, out_dir / "spectral_radius.png")
        summary["files"] += [str(plotted), str(plotted.with_suffix(".json"))]
    summary.update({"run": str(run_dir), "step": step})
    return save_diagnostics(out_dir, summary)
