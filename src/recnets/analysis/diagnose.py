"""One call that writes every long-term-dependency diagnostic of a model (``recnets diagnose RUN`` reads a
run folder with ``recnets.experiments.diagnose.diagnose_run`` and calls it).

Book: 10.7 (eqs. 10.36-10.39): the gradient norm ‖∂L(τ)/∂h(t)‖ against the lag τ - t, the singular values
of the Jacobian products ∂h(τ)/∂h(τ-k), and the eigenvalues of W with the unit circle.
"""
from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from recnets.analysis.gradients import gradient_norm_by_lag, hidden_gradients, last_step_loss, recording_states
from recnets.analysis.plots import plot_eigenvalues, plot_gradient_norms, plot_singular_values
from recnets.analysis.spectrum import eigenvalues, jacobian_singular_values, recurrent_blocks

__all__ = ["diagnose_model", "save_diagnostics", "DIAGNOSTICS_FILE"]

DIAGNOSTICS_FILE = "diagnostics.json"


def _default_lags(steps: int, count: int = 24) -> list[int]:
    """About ``count`` lags from 1 to ``steps``, evenly spaced on a log scale (always 1 and ``steps``)."""
    points = np.unique(np.round(np.geomspace(1, steps, num=min(count, steps))).astype(int))
    return sorted({int(k) for k in points} | {1, steps})


def _decay_per_step(lags: list[int], values: list[float]) -> float | None:
    """The least-squares slope of log(value) against the lag: < 0 vanishing, > 0 exploding."""
    points = [(k, math.log(v)) for k, v in zip(lags, values) if v > 0 and math.isfinite(v)]
    if len(points) < 2:
        return None
    ks, logs = np.array(points).T
    return float(np.polyfit(ks, logs, 1)[0])


def diagnose_model(model: nn.Module, batch: Any, out_dir: str | os.PathLike, *,
                   lags: Iterable[int] | None = None, jacobian_sequences: int = 2) -> dict[str, Any]:
    """Gradient norm against lag, Jacobian singular values and the eigenvalues of W of one model on one batch.

    L is the loss of each sequence's last real step (:func:`~recnets.analysis.gradients.last_step_loss`),
    so ‖∂L/∂h(τ - k)‖ is what reaches k steps back. The Jacobian products run over the first
    ``min(lengths)`` steps of the first ``jacobian_sequences`` sequences, back from the last of those steps
    (they cost H vector-Jacobian products per step and an SVD per lag: the whole call measured 19 s for an
    LSTM of H = 256, T = 200 on one thread of a busy 2-core CPU, and 80 s with two threads competing with
    other processes there).

    Deviations: the Jacobian products are taken in float64 on a copy of the model, whatever its dtype: over
    a hundred steps the singular values spread over many more than float32's seven digits.

    Args:
        model: a design-pattern network (``OutputEveryStep``, ``SequenceToOne``, ...) whose cell's state has
            an ``h``; it runs in eval mode here and is put back as it was.
        batch: a :class:`recnets.tasks.base.Batch` (or any object with the same ``inputs``, ``targets``,
            ``lengths`` and ``to(device)``): targets are class ids or real values, per step or one per sequence.
        out_dir: where the PNGs, their JSON and ``diagnostics.json`` go (created if needed).
        lags: the lags k of the Jacobian products; about 24 log-spaced lags from 1 to T when None.
        jacobian_sequences: how many sequences (the first ones) the Jacobian products are taken on.

    Returns:
        What ``diagnostics.json`` holds: ``files`` (paths written), ``spectral_radius`` per recurrent block,
        ``gradient_norm`` (at lag 0, at the largest lag, and the fitted slope of its log per step),
        ``jacobian_log_norm`` (lags and the mean log σ_max) and the batch's shape.

    Book: 10.7, eqs. 10.36-10.39.
    """
    if not all(hasattr(batch, name) for name in ("inputs", "targets", "lengths", "to")):
        raise TypeError(f"batch: expected a recnets.tasks.base.Batch, got {type(batch).__name__}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(jacobian_sequences, bool) or not isinstance(jacobian_sequences, int) or jacobian_sequences < 1:
        raise ValueError(f"jacobian_sequences: expected an integer >= 1, got {jacobian_sequences!r}")
    device = next(model.parameters()).device
    batch = batch.to(device)
    was_training = model.training
    model.eval()
    try:
        gradients = hidden_gradients(model, batch.inputs, lambda o: last_step_loss(o, batch.targets, batch.lengths),
                                     lengths=batch.lengths, targets=batch.targets)
        profile = gradient_norm_by_lag(gradients.grad_h, batch.lengths)
        dense = batch.inputs.shape[1] if batch.lengths is None else int(batch.lengths.min())
        exact = copy.deepcopy(model).double()  # float64: products of hundreds of Jacobians span > 1e7
        inputs = batch.inputs[:jacobian_sequences, :dense]
        with torch.no_grad(), recording_states(exact) as records:
            exact(inputs.double() if inputs.is_floating_point() else inputs)
        chosen = _default_lags(dense) if lags is None else list(lags)
        jacobians = jacobian_singular_values(exact.cell, records, lags=chosen)
    finally:
        model.train(was_training)
    spectra = {name: eigenvalues(W.double()) for name, W in recurrent_blocks(model.cell).items()}

    files = [plot_gradient_norms({type(model.cell).__name__: profile}, out_dir / "gradient_norms.png"),
             plot_singular_values(jacobians, out_dir / "jacobian_singular_values.png"),
             plot_eigenvalues(spectra, out_dir / "eigenvalues.png")]
    files += [path.with_suffix(".json") for path in files]
    norms, counts = profile.norms.double().tolist(), profile.counts.tolist()
    lag_list = [k for k, c in zip(profile.lags.tolist(), counts) if c > 0]
    log_norm = jacobians.singular_values.double().clamp_min(1e-300).log()[:, :, 0].mean(0).tolist()  # (L,)
    summary = {
        "files": sorted(str(path) for path in files),
        "batch": {"sequences": int(batch.inputs.shape[0]), "steps": int(batch.inputs.shape[1]),
                  "jacobian_sequences": min(jacobian_sequences, int(batch.inputs.shape[0])), "jacobian_steps": dense},
        "cell": type(model.cell).__name__,
        "spectral_radius": {name: float(values.abs().max()) for name, values in spectra.items()},
        "gradient_norm": {"lag_0": norms[0], "largest_lag": lag_list[-1], "at_largest_lag": norms[lag_list[-1]],
                          "log_slope_per_step": _decay_per_step(lag_list, norms[:len(lag_list)])},
        "jacobian_log_norm": {"lag": jacobians.lags.tolist(), "mean_log_sigma_max": log_norm},
    }
    return save_diagnostics(out_dir, summary)


def save_diagnostics(out_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Add ``diagnostics.json`` to the files and write the summary there."""
    summary["files"] = sorted(set(summary["files"]) | {str(out_dir / DIAGNOSTICS_FILE)})
    (out_dir / DIAGNOSTICS_FILE).write_text(json.dumps(_strict(summary), indent=2) + "\n")
    return summary


def _strict(value: Any) -> Any:
    """Non-finite floats as None, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
