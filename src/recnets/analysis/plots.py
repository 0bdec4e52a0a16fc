"""PNG plots of the long-term-dependency diagnostics, each with its raw numbers as JSON beside it.

Book: 10.7 (gradient norm against lag; eigenvalues of W and the unit circle, eqs. 10.38-10.39; singular
values of Jacobian products, eq. 10.36).

Every function writes ``name.png`` (matplotlib's Agg canvas, no pyplot state) and ``name.json`` with the
numbers drawn, and returns the PNG's path.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from recnets.analysis.gradients import LagProfile
from recnets.analysis.spectrum import JacobianSpectrum

__all__ = ["plot_gradient_norms", "plot_eigenvalues", "plot_singular_values", "plot_spectral_radius", "plot_prediction",
           "plot_curves"]


def _figure(size: tuple[float, float] = (6.0, 4.0)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _finite(values: Any) -> Any:
    """Non-finite floats as None so that the JSON is strict."""
    if isinstance(values, list):
        return [_finite(v) for v in values]
    if isinstance(values, float) and not math.isfinite(values):
        return None
    return values


def _save(figure: Any, path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write the PNG and its JSON (each through a temporary name and a rename)."""
    path = Path(path)
    if path.suffix != ".png":
        raise ValueError(f"path: expected a file name ending in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    figure.savefig(temporary, format="png")
    os.replace(temporary, path)
    numbers = path.with_suffix(".json")
    temporary = numbers.with_name(numbers.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    os.replace(temporary, numbers)
    return path


def plot_gradient_norms(profiles: Mapping[str, LagProfile], path: str | os.PathLike, *,
                        title: str = "") -> Path:
    """‖∂L/∂h(τ - k)‖ against the lag k, on a log scale, one curve per model.

    Args:
        profiles: ``{label: LagProfile}`` (from ``gradient_norm_by_lag``).
        path: the PNG to write (``.json`` beside it: ``{label: {"lag", "norm", "count"}}``).

    Returns:
        The PNG's path.

    Book: 10.7 (gradients propagated over many steps vanish or explode).
    """
    if not profiles:
        raise ValueError("profiles: expected at least one LagProfile, got none")
    figure = _figure()
    axes = figure.add_subplot()
    data = {}
    for label, profile in profiles.items():
        lags, norms, counts = profile.lags.tolist(), profile.norms.double().tolist(), profile.counts.tolist()
        data[label] = {"lag": lags, "norm": _finite(norms), "count": counts}
        shown = [(k, n) for k, n, c in zip(lags, norms, counts) if c > 0 and n > 0 and math.isfinite(n)]
        if shown:
            axes.plot(*zip(*shown), label=label)
    axes.set_yscale("log")
    axes.set_xlabel("lag k = τ - t")
    axes.set_ylabel("‖∂L(τ)/∂h(t)‖")
    axes.set_title(title or "gradient norm against time lag")
    axes.grid(alpha=0.3, which="both")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.92)
    return _save(figure, path, data)


def plot_eigenvalues(spectra: Mapping[str, Tensor], path: str | os.PathLike, *, title: str = "") -> Path:
    """Eigenvalues in the complex plane with the unit circle; the legend gives each spectral radius.

    Args:
        spectra: ``{block name: eigenvalues (H,) complex}`` (from ``eigenvalues``).
        path: the PNG to write (``.json``: ``{name: {"real", "imag", "spectral_radius"}}``).

    Returns:
        The PNG's path.

    Book: 10.7, eqs. 10.38-10.39 (|λ| < 1 decays, |λ| > 1 explodes).
    """
    if not spectra:
        raise ValueError("spectra: expected at least one block of eigenvalues, got none")
    figure = _figure((5.5, 5.0))
    axes = figure.add_subplot()
    angle = torch.linspace(0, 2 * math.pi, 361, dtype=torch.float64)
    axes.plot(torch.cos(angle).tolist(), torch.sin(angle).tolist(), "k--", linewidth=0.8, label="|λ| = 1")
    data = {}
    for name, values in spectra.items():
        values = values.detach().to(torch.complex128)
        radius = float(values.abs().max())
        data[name] = {"real": values.real.tolist(), "imag": values.imag.tolist(), "spectral_radius": radius}
        axes.scatter(values.real.tolist(), values.imag.tolist(), s=8, label=f"{name}: ρ = {radius:.3f}")
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel("Re λ")
    axes.set_ylabel("Im λ")
    axes.set_title(title or "eigenvalues of W")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.1, top=0.93)
    return _save(figure, path, data)


def plot_singular_values(spectrum: JacobianSpectrum, path: str | os.PathLike, *, title: str = "") -> Path:
    """log σ of ∂h(τ)/∂h(τ-k) against k: the largest, the median and the smallest, averaged over sequences.

    Args:
        spectrum: a :class:`JacobianSpectrum`.
        path: the PNG to write (``.json``: ``lag`` and ``log_singular_values`` (B, L, H) nested lists, with
            ``log_norm``, the batch mean of log σ_max, per lag). Singular values below eps · H · σ_max of
            their product (rounding noise in the SVD) are kept in the JSON but not drawn; the mean of a
            curve is drawn only where every sequence's value is resolved.

    Returns:
        The PNG's path.

    Book: 10.7, eq. 10.36.
    """
    sigma = spectrum.singular_values.detach()
    logs = sigma.double().clamp_min(1e-300).log()  # (B, L, H)
    lags = spectrum.lags.tolist()
    hidden = logs.shape[-1]
    # below eps · σ_max a computed singular value is rounding noise: those points are not drawn
    floor = logs[:, :, :1] + math.log(torch.finfo(sigma.dtype).eps * hidden)  # (B, L, 1)
    resolved = torch.where(logs > floor, logs, torch.full_like(logs, math.nan))
    figure = _figure()
    axes = figure.add_subplot()
    for index, label in ((0, "largest σ (log-norm)"), (hidden // 2, "median σ"), (hidden - 1, "smallest σ")):
        axes.plot(lags, resolved[:, :, index].mean(0).tolist(), "o-" if len(lags) < 30 else "-", markersize=3,
                  label=label)
    axes.set_xlabel("k")
    axes.set_ylabel("log σ(∂h(τ)/∂h(τ-k)), mean over sequences")
    axes.set_title(title or "singular values of Jacobian products")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.92)
    data = {"lag": lags, "log_norm": _finite(logs[:, :, 0].mean(0).tolist()),
            "log_singular_values": _finite(logs.tolist())}
    return _save(figure, path, data)


def plot_spectral_radius(history: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """ρ(W) of each recurrent block against the training step, with ρ = 1 marked.

    Args:
        history: records with ``step`` and ``spectral_radius`` ``{name: ρ}`` (``SpectrumTracker``'s lines).
        path: the PNG to write (``.json``: ``{"step": [...], "spectral_radius": {name: [...]}}``).

    Returns:
        The PNG's path.

    Book: 10.7, eq. 10.39.
    """
    if not history:
        raise ValueError("history: expected at least one record, got none")
    steps = [entry["step"] for entry in history]
    names = list(history[-1]["spectral_radius"])
    radii = {name: [entry["spectral_radius"].get(name) for entry in history] for name in names}
    figure = _figure()
    axes = figure.add_subplot()
    axes.axhline(1.0, color="k", linestyle="--", linewidth=0.8)
    for name, values in radii.items():
        axes.plot(steps, [math.nan if v is None else v for v in values], "o-", markersize=3, label=name)
    axes.set_xlabel("step")
    axes.set_ylabel("spectral radius ρ(W)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.96)
    return _save(figure, path, {"step": steps, "spectral_radius": radii})


def plot_prediction(series: Mapping[str, Any], path: str | os.PathLike, *, title: str = "",
                    start: int = 0, split: int | None = None, xlabel: str = "step", ylabel: str = "value") -> Path:
    """Predictions against the truth over time: one line per named 1-D series (the first is drawn as the truth).

    Args:
        series: label -> values (T,) (tensor, array or list); e.g. ``{"truth": y, "ESN": y_hat}``.
        start: the step number of the first value (the x axis).
        split: a step to mark with a vertical line (e.g. where teacher forcing ends and generation begins).

    Book: 10.8 (what a person would rather see than read: the forecast beside the series).
    """
    figure = _figure((8.0, 3.6))
    axes = figure.add_subplot()
    numbers: dict[str, Any] = {"start": start, "split": split}
    for index, (label, values) in enumerate(series.items()):
        values = [float(v) for v in torch.as_tensor(values).reshape(-1).tolist()]
        steps = list(range(start, start + len(values)))
        axes.plot(steps, values, label=label, linewidth=2.0 if index == 0 else 1.2,
                  color="black" if index == 0 else None, alpha=0.6 if index == 0 else 0.9)
        numbers[label] = _finite(values)
    if split is not None:
        axes.axvline(split, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path, numbers)


def plot_curves(curves: Mapping[str, Any], path: str | os.PathLike, *, title: str = "", xlabel: str = "x",
                ylabel: str = "y", logx: bool = False, logy: bool = False,
                reference: tuple[str, Any, Any] | None = None) -> Path:
    """Named curves y against x on one axes, optionally with error bars and a dashed reference line.

    Args:
        curves: label -> ``(xs, ys)`` or ``(xs, ys, errors)`` (sequences or tensors of the same length;
            ``errors`` are half-widths drawn as error bars, e.g. the standard deviation over seeds).
        path: the PNG to write (``.json`` beside it: ``{"curves": {label: {"x", "y", "error"}}, "reference":
            {"label", "x", "y"} or null}``).
        logx, logy: logarithmic axes (points with a value <= 0 on a log axis are left out of the drawing).
        reference: ``(label, xs, ys)`` drawn as a dashed black line, e.g. ``("MC = N", Ns, Ns)``.

    Returns:
        The PNG's path.

    Book: 10.8 (memory capacity against reservoir size; errors against ensemble size).
    """
    if not curves:
        raise ValueError("curves: expected at least one (xs, ys) curve, got none")
    figure = _figure()
    axes = figure.add_subplot()
    drawn: dict[str, Any] = {}

    def numbers(values: Any) -> list[float]:
        return [float(v) for v in torch.as_tensor(values, dtype=torch.float64).reshape(-1).tolist()]

    def drawable(x: float, y: float) -> bool:
        return math.isfinite(x) and math.isfinite(y) and (x > 0 or not logx) and (y > 0 or not logy)

    for label, curve in curves.items():
        if not isinstance(curve, (tuple, list)) or len(curve) not in (2, 3):
            raise ValueError(f"curves: expected (xs, ys) or (xs, ys, errors) for {label!r}, "
                             f"got {type(curve).__name__}")
        xs, ys = numbers(curve[0]), numbers(curve[1])
        errors = numbers(curve[2]) if len(curve) == 3 else None
        if len(xs) != len(ys) or (errors is not None and len(errors) != len(xs)):
            raise ValueError(f"curves: expected xs, ys (and errors) of one length for {label!r}, got "
                             f"{len(xs)}, {len(ys)}" + (f", {len(errors)}" if errors is not None else ""))
        drawn[label] = {"x": _finite(xs), "y": _finite(ys), "error": _finite(errors) if errors is not None else None}
        keep = [i for i, (x, y) in enumerate(zip(xs, ys)) if drawable(x, y)]
        style = "o-" if len(keep) <= 30 else "-"
        if errors is None:
            axes.plot([xs[i] for i in keep], [ys[i] for i in keep], style, markersize=3, label=label)
        else:
            axes.errorbar([xs[i] for i in keep], [ys[i] for i in keep], yerr=[errors[i] for i in keep], fmt=style,
                          markersize=3, capsize=3, label=label)
    data: dict[str, Any] = {"curves": drawn, "reference": None}
    if reference is not None:
        name, xs, ys = reference[0], numbers(reference[1]), numbers(reference[2])
        keep = [(x, y) for x, y in zip(xs, ys) if drawable(x, y)]
        if keep:
            axes.plot(*zip(*keep), "k--", linewidth=0.9, label=name)
        data["reference"] = {"label": name, "x": _finite(xs), "y": _finite(ys)}
    if logx:
        axes.set_xscale("log")
        positions = sorted({x for curve in drawn.values() for x in curve["x"] if x is not None and x > 0})
        if len(positions) <= 12:  # few sizes on a log axis: mark each one, in plain numbers
            axes.set_xticks(positions, [f"{x:g}" for x in positions])
            axes.minorticks_off()
    if logy:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3, which="both")
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return _save(figure, path, data)
