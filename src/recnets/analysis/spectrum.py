"""The eigen-spectrum of W, the spectral radius, and the singular values of Jacobian products ∂h(t)/∂h(t-k).

Book: 10.7, eqs. 10.36-10.39. A linear recurrence h(t) = Wᵀ h(t-1) gives h(t) = (W^t)ᵀ h(0); with
W = Q Λ Qᵀ, h(t) = Qᵀ Λ^t Q h(0): eigenvalues of modulus below one decay, above one explode, and the
component along the largest one dominates. With a nonlinearity the product of per-step Jacobians
∂h(t)/∂h(t-1) plays the role of W^t; its singular values against k show the same decay or growth.

Deviations: the book writes the recurrence with Wᵀ (h(t) = Wᵀ h(t-1)); our cells compute W h(t-1), as torch
does. The eigenvalues of W and Wᵀ are the same, and for a symmetric W so are the two recurrences.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import torch
from torch import Tensor

from recnets.analysis.gradients import StepRecord, flat_state, hidden_columns, state_from_flat_rows
from recnets.cells.book_gru import BookGRUCell
from recnets.cells.book_lstm import BookLSTMCell
from recnets.cells.gru import GRUCell
from recnets.cells.lstm import LSTMCell
from recnets.core.cell import Cell
from recnets.core.state import tree_map

__all__ = ["spectrum_trackers", "recurrent_blocks", "eigenvalues", "spectral_radius", "JacobianSpectrum", "jacobian_singular_values",
           "SpectrumTracker", "read_spectrum_history", "SPECTRUM_FILE"]

SPECTRUM_FILE = "spectrum.jsonl"

# Names of the stacked blocks of the gated cells' recurrent weights, in their row order.
_BLOCK_NAMES: dict[tuple[type, str], tuple[str, ...]] = {
    (LSTMCell, "W"): ("W_input", "W_forget", "W_candidate", "W_output"),
    (GRUCell, "W"): ("W_reset", "W_update", "W_new"),
    (BookLSTMCell, "W"): ("W_f", "W_g", "W", "W_o"),
    (BookGRUCell, "W_gates"): ("W_u", "W_r"),
}


def recurrent_blocks(cell: Cell) -> dict[str, Tensor]:
    """The square hidden-to-hidden matrices of a cell: every parameter named ``W...`` of shape (m·H, H).

    A stacked matrix (the gates of an LSTM or GRU) is cut into its m blocks of (H, H), named after the gate
    for the registered gated cells and ``name[i]`` otherwise.

    Args:
        cell: any cell.

    Returns:
        ``{name: W (H, H)}``, detached, in parameter order.

    Raises:
        ValueError: the cell has no such parameter.

    Book: 10.2, eq. 10.8 (W); 10.10 (the gates' W_f, W_g, W_o, eqs. 10.40-10.44; W_u, W_r, eqs. 10.45-10.47).
    """
    hidden = cell.hidden_size
    blocks: dict[str, Tensor] = {}
    for name, parameter in cell.named_parameters(recurse=False):
        if not name.startswith("W") or parameter.dim() != 2 or parameter.shape[1] != hidden \
                or parameter.shape[0] % hidden:
            continue
        count = parameter.shape[0] // hidden
        names = _BLOCK_NAMES.get((type(cell), name))
        if names is None:
            names = (name,) if count == 1 else tuple(f"{name}[{i}]" for i in range(count))
        for block_name, block in zip(names, parameter.detach().split(hidden, 0)):
            blocks[block_name] = block
    if not blocks:
        raise ValueError(f"cell: expected a parameter named W... of shape (m*H, H) with H = {hidden}, got none in "
                         f"{type(cell).__name__}")
    return blocks


def _square(W: Tensor, name: str = "W") -> Tensor:
    if not isinstance(W, Tensor) or W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{name}: expected a square matrix (H, H), got "
                         f"{tuple(W.shape) if isinstance(W, Tensor) else type(W).__name__}")
    return W.detach()


def eigenvalues(W: Tensor) -> Tensor:
    """The eigenvalues λ of W, complex, sorted by modulus from the largest.

    Shapes:
        W (H, H) -> (H,) complex.

    Book: 10.7, eqs. 10.38-10.39 (W = Q Λ Qᵀ).
    """
    values = torch.linalg.eigvals(_square(W))  # (H,) complex
    return values[values.abs().argsort(descending=True)]


def spectral_radius(W: Tensor) -> float:
    """ρ(W) = max |λ|: the rate at which W^t h(0) grows (ρ > 1) or decays (ρ < 1) along its top direction.

    Book: 10.7, eq. 10.39.
    """
    return float(eigenvalues(W).abs().max())


class JacobianSpectrum(NamedTuple):
    """Singular values of ∂h(τ)/∂h(τ-k) against the lag k.

    Fields:
        lags: the lags k, (L,) int64, increasing, each ≥ 1.
        singular_values: σ_1 ≥ ... ≥ σ_H of ∂h(τ)/∂h(τ-k) for every sequence, (B, L, H).
        products: the Jacobian products themselves, (B, L, H, H), or None unless asked for.
    """

    lags: Tensor
    singular_values: Tensor
    products: Tensor | None


def jacobian_singular_values(cell: Cell, records: list[StepRecord], *, lags: Iterable[int] | None = None,
                             keep_products: bool = False) -> JacobianSpectrum:
    """Singular values of ∂h(τ)/∂h(τ-k), τ the last recorded step, for k = 1..T (or the given lags).

    The products are accumulated backwards, Q_k = Q_{k-1} ∂s(τ-k+1)/∂s(τ-k), where s is the whole state
    (h and, for an LSTM, c), so the h-block of Q_k is ∂h(τ)/∂h(τ-k) through every path. Each step is one
    backward pass of the cell's step on H copies of the batch, one copy per row of h(τ): the cell contract's
    independence of batch rows makes that H vector-Jacobian products at the cost of one large batch
    (measured 3x faster than ``is_grads_batched`` for an LSTM with H = 256).

    Args:
        cell: the cell that made the records.
        records: a dense forward pass (from ``recorded_unroll`` or ``recording_states``), T steps.
        lags: the lags k (1 ≤ k ≤ T) whose singular values are computed; all when None.
        keep_products: also return the products (B, L, H, H).

    Shapes:
        singular_values (B, L, H); products (B, L, H, H).

    Returns:
        :class:`JacobianSpectrum`.

    Book: 10.7, eq. 10.36 (a product of Jacobians over k steps) and eqs. 10.38-10.39 (W^k for a linear one).
    Deviations: ∂h(τ)/∂h(τ-k) holds the other state entries at τ-k (an LSTM's c, a delay line's older
    states) fixed; the book's analysis has h alone.
    """
    if not records:
        raise ValueError("records: expected at least one recorded step, got none")
    steps = len(records)
    chosen = list(range(1, steps + 1)) if lags is None else sorted({int(k) for k in lags})
    if not chosen or chosen[0] < 1 or chosen[-1] > steps:
        raise ValueError(f"lags: expected lags in [1, {steps}], got {chosen}")
    last = records[-1].new_state
    rows = hidden_columns(last)  # (H,)
    reference = flat_state(last)  # (B, S)
    batch, width = reference.shape
    hidden = rows.numel()
    product = reference.new_zeros(hidden, batch, width)  # (H, B, S): ∂h(τ)/∂s(τ), one cotangent per row of h
    product[torch.arange(hidden), :, rows] = 1.0
    values, kept, wanted = [], [], set(chosen)
    for k in range(1, chosen[-1] + 1):
        record = records[steps - k]
        # the H cotangents ride in the batch: the step runs on H copies of the B rows, (H·B, ...)
        repeated = tree_map(lambda leaf: leaf.detach().repeat(hidden, *([1] * (leaf.dim() - 1))), record.state)
        flat_in = flat_state(repeated).requires_grad_()  # (H·B, S)
        with torch.enable_grad():
            _, new_state = cell.step(record.px.detach().repeat(hidden, 1), state_from_flat_rows(flat_in, repeated))
            flat_out = flat_state(new_state)  # (H·B, S)
            product, = torch.autograd.grad(flat_out, flat_in, grad_outputs=product.reshape(hidden * batch, width))
        product = product.view(hidden, batch, width)  # (H, B, S): ∂h(τ)/∂s(τ-k)
        if k in wanted:
            block = product[:, :, hidden_columns(record.state)].transpose(0, 1)  # (B, H, H): ∂h(τ)/∂h(τ-k)
            values.append(torch.linalg.svdvals(block))  # (B, H)
            if keep_products:
                kept.append(block)
    lag_tensor = torch.tensor(chosen, dtype=torch.long)
    return JacobianSpectrum(lag_tensor, torch.stack(values, 1), torch.stack(kept, 1) if keep_products else None)


class SpectrumTracker:
    """Training callback: eigenvalues and spectral radius of the cell's recurrent blocks at every validation.

    Each validation appends one JSON line to ``run_dir/spectrum.jsonl`` (``step``, ``spectral_radius``
    per block, ``eigenvalues`` per block as ``real``/``imag`` lists) and redraws
    ``plots/spectral_radius.png`` and ``plots/eigenvalues.png`` with their JSON beside them. Lines from
    steps at or after the current one (left by a run that was resumed from an earlier checkpoint) are dropped
    first, so the file follows the resumed run.

    Args:
        plots: draw the plots (the JSON lines are always written).

    Book: 10.7, eq. 10.39 (the spectral radius decides between vanishing and exploding).
    """

    def __init__(self, *, plots: bool = True) -> None:
        self.plots = plots

    def on_eval(self, trainer: Any, step: int, record: dict[str, Any]) -> None:
        """Record the spectrum of ``trainer.model.cell`` at ``step`` into ``trainer.run_dir``."""
        from recnets.analysis.plots import plot_eigenvalues, plot_spectral_radius

        cell = getattr(trainer.model, "cell", None)
        if not isinstance(cell, Cell):
            raise TypeError(f"model: expected a network with a Cell as its 'cell' attribute, got "
                            f"{type(trainer.model).__name__}")
        spectra = {name: eigenvalues(W.double()) for name, W in recurrent_blocks(cell).items()}
        line = {"step": step, "spectral_radius": {name: float(v.abs().max()) for name, v in spectra.items()},
                "eigenvalues": {name: {"real": v.real.tolist(), "imag": v.imag.tolist()}
                                for name, v in spectra.items()}}
        path = Path(trainer.run_dir) / SPECTRUM_FILE
        history = [entry for entry in read_spectrum_history(path) if entry["step"] < step] + [line]
        path.write_text("".join(json.dumps(entry) + "\n" for entry in history))
        if self.plots:
            plot_spectral_radius(history, Path(trainer.run_dir) / "plots" / "spectral_radius.png")
            plot_eigenvalues(spectra, Path(trainer.run_dir) / "plots" / "eigenvalues.png", title=f"step {step}")


def spectrum_trackers(model: Any, *, plots: bool = True) -> list[SpectrumTracker]:
    """``[SpectrumTracker(plots=plots)]`` for a network whose ``cell`` has square recurrent blocks to track
    (:func:`recurrent_blocks`), ``[]`` for any other: the callbacks to hand a trainer.

    Book: 10.7, eq. 10.39.
    """
    cell = getattr(model, "cell", None)
    if not isinstance(cell, Cell):
        return []
    try:
        recurrent_blocks(cell)
    except ValueError:
        return []
    return [SpectrumTracker(plots=plots)]


def read_spectrum_history(path: str | Path) -> list[dict[str, Any]]:
    """The complete lines of a ``spectrum.jsonl`` (none when the file does not exist).

    Book: 10.7.
    """
    path = Path(path)
    if not path.exists():
        return []
    history = []
    for text in path.read_text().splitlines():
        try:
            entry = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("step"), int) and math.isfinite(entry["step"]):
            history.append(entry)
    return history

