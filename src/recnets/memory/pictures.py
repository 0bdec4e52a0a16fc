"""Pictures of a neural Turing machine at work: where its heads read and wrote, what it wrote, and what came out.

Book: 10.12 (explicit memory: the soft weightings over memory rows are the mechanism; drawn over time they
show a learned algorithm, e.g. a write head that steps down the rows while the input comes in and a read
head that walks the same rows afterwards: Graves, Wayne & Danihelka 2014, Fig. 6).

:func:`record_ntm` steps the cell of a trained model over one batch itself (``cell.project`` then
``cell.step``, the states frozen past each sequence's length as :func:`~recnets.core.unroll.unroll` freezes
them) and keeps every step's :class:`~recnets.memory.ntm.NTMState` with the erase and add vectors, which the
state does not hold. :func:`plot_memory_access` draws Graves et al.'s panels (inputs and outputs, add and read
vectors, write and read weightings: time on x, memory row on y); :func:`plot_sequence` draws the inputs,
targets and output probabilities of one sequence with its wrong bits. Every PNG has its numbers beside it as
JSON (:func:`recnets.analysis.plots._save`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

from recnets.analysis.plots import _figure, _save
from recnets.core.lengths import check_lengths, step_masks, zero_past_lengths
from recnets.core.state import mask_state
from recnets.memory.ntm import NTMCell, NTMState
from recnets.nets.readout import embed_inputs
from recnets.tasks.base import Batch

__all__ = ["NTMRecording", "record_ntm", "head_vectors", "used_rows", "plot_memory_access", "plot_sequence"]


class NTMRecording(NamedTuple):
    """One batch run through an NTM model, step by step.

    Attributes:
        batch: the batch (inputs (B, T, D), targets (B, T, O), lengths (B,) or None, mask (B, T) or None).
        outputs: the model's logits (B, T, O), zero past each length (as the model's own call returns them).
        states: the state after every step, T :class:`NTMState` s (frozen past each sequence's length).
        read_weights: (B, T, R, N); write_weights: (B, T, Wh, N); reads: (B, T, R, W).
        erase: σ(e) (B, T, Wh, W); add: tanh(a) (B, T, Wh, W), the write heads' vectors at every step.
    """

    batch: Batch
    outputs: Tensor
    states: tuple[NTMState, ...]
    read_weights: Tensor
    write_weights: Tensor
    reads: Tensor
    erase: Tensor
    add: Tensor

    def length(self, index: int) -> int:
        """The number of real steps of sequence ``index``."""
        lengths = self.batch.lengths
        return int(lengths[index]) if lengths is not None else self.outputs.shape[1]


def head_vectors(cell: NTMCell, h: Tensor) -> tuple[Tensor, Tensor]:
    """The write heads' erase σ(e) and add tanh(a) vectors that the cell emits from its controller output.

    Shapes:
        h (B, H) -> erase (B, Wh, W), add (B, Wh, W).

    Book: 10.12 (Graves et al. eqs. 3-4: M(i) ← M(i)(1 - w(i) e) + w(i) a).
    """
    emitted = cell.heads(h)  # (B, ...): every head's addressing parameters, then the write vectors
    addressing = (cell.read_heads + cell.write_heads) * cell.address_size
    vectors = emitted[:, addressing:].reshape(h.shape[0], cell.write_heads, 2, cell.memory_width)
    erase, add = vectors.unbind(2)  # (B, Wh, W) each
    return torch.sigmoid(erase), torch.tanh(add)


def record_ntm(model: nn.Module, batch: Batch) -> NTMRecording:
    """Run ``model`` (an output-every-step model around an :class:`NTMCell`) over ``batch`` one step at a time
    and keep every step's state, without gradients.

    Args:
        model: has ``cell`` (an :class:`NTMCell`), ``readout`` and ``embedding`` (None for real inputs), as
            :class:`~recnets.nets.patterns.OutputEveryStep` does.
        batch: inputs (B, T, D), with ``lengths`` for a padded batch.

    Returns:
        An :class:`NTMRecording`; its last state equals ``unroll``'s final state and its outputs the model's.

    Raises:
        TypeError: the model's ``cell`` is not an :class:`NTMCell`.
    """
    cell = getattr(model, "cell", None)
    if not isinstance(cell, NTMCell):
        raise TypeError(f"model: expected a model whose cell is an NTMCell, got cell {type(cell).__name__}")
    was_training = model.training
    model.eval()
    parameter = next(model.parameters())
    batch = batch.to(parameter.device)
    try:
        with torch.no_grad():
            xs = embed_inputs(getattr(model, "embedding", None), batch.inputs, cell.input_size)  # (B, T, D)
            size, steps = xs.shape[:2]
            lengths = check_lengths(batch.lengths, size, steps, xs.device)
            masks = step_masks(lengths, steps) if lengths is not None else None  # (T, B)
            state = cell.initial_state(size, device=xs.device, dtype=xs.dtype)
            states, ys, erases, adds = [], [], [], []
            for t, px_t in enumerate(cell.project(xs).unbind(1)):  # px_t (B, P)
                y_t, new = cell.step(px_t, state)  # (B, H + R·W)
                erase, add = head_vectors(cell, y_t[:, :cell.controller_size])  # (B, Wh, W) each
                state = new if masks is None else mask_state(new, state, masks[t])
                states.append(state)
                ys.append(y_t)
                erases.append(erase)
                adds.append(add)
            outputs = zero_past_lengths(model.readout(torch.stack(ys, 1)), lengths)  # (B, T, O)
    finally:
        model.train(was_training)
    return NTMRecording(batch, outputs, tuple(states), torch.stack([s.read_weights for s in states], 1),
                        torch.stack([s.write_weights for s in states], 1), torch.stack([s.reads for s in states], 1),
                        torch.stack(erases, 1), torch.stack(adds, 1))


def used_rows(weights: Tensor, *, threshold: float = 0.05, margin: int = 2) -> list[int]:
    """The memory rows worth drawing, in the order to draw them: the shortest circular run of rows that holds
    every row some weighting touched (weight >= ``threshold`` at some step), widened by ``margin`` rows each
    side. The memory is a ring (the shift wraps around), so a head that steps back from row 0 to row N - 1 gives
    a run like ``[N - 2, N - 1, 0, 1, ...]``; the whole memory when nothing or nearly everything is touched.

    Shapes:
        weights (T, Hd, N) or (T, N).
    """
    rows = weights.shape[-1]
    touched = (weights.reshape(-1, rows) >= threshold).any(0).nonzero().flatten().tolist()  # sorted rows
    if not touched:
        return list(range(rows))
    # the longest circular gap of untouched rows: the drawn run is everything else
    gaps = [(touched[(i + 1) % len(touched)] - row - 1) % rows for i, row in enumerate(touched)]
    widest = max(range(len(touched)), key=lambda i: gaps[i])
    size = rows - gaps[widest] + 2 * margin
    if len(touched) == 1:
        size = 1 + 2 * margin
    if size >= rows:
        return list(range(rows))
    first = touched[(widest + 1) % len(touched)] - margin
    return [(first + k) % rows for k in range(size)]


def _check_index(size: int, index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ValueError(f"index: expected a sequence in 0..{size - 1}, got {index!r}")


def _heatmap(axes: Any, values: Tensor, title: str, ylabel: str, *, cmap: str, limits: tuple[float, float],
             row_labels: list[int] | None = None) -> None:
    """``values (rows, T)`` as an image: time on x, rows on y (the first at the top), the y ticks labelled
    with ``row_labels`` (e.g. memory rows in ring order) when given; the colour scale is fixed by ``limits``
    (named in the figure's titles, no colour bar: drawing is the slow part)."""
    steps, rows = values.shape[1], values.shape[0]
    axes.imshow(values.numpy(), aspect="auto", interpolation="nearest", cmap=cmap, vmin=limits[0], vmax=limits[1],
                extent=(-0.5, steps - 0.5, rows - 0.5, -0.5))
    axes.set_title(title, fontsize=9)
    axes.set_ylabel(ylabel, fontsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if row_labels is None:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        positions = sorted({round(k * (rows - 1) / 7) for k in range(8)}) if rows > 8 else list(range(rows))
        axes.set_yticks(positions, [str(row_labels[p]) for p in positions])
    axes.tick_params(labelsize=7)


def plot_memory_access(recording: NTMRecording, path: str | os.PathLike, *, index: int = 0, read_head: int = 0,
                       write_head: int = 0, title: str = "") -> Path:
    """Graves et al.'s Fig. 6 for one sequence: inputs and output probabilities; the add vectors written and
    the vectors read; the write and read weightings over the memory rows they touched. Time on x.

    Args:
        recording: from :func:`record_ntm`.
        path: the PNG (``.json`` beside it: the drawn arrays; ``rows`` the memory rows drawn, top to bottom,
            as :func:`used_rows` picks them).
        index: which sequence of the batch; read_head, write_head: which heads' weightings and vectors.

    Returns:
        The PNG's path.

    Book: 10.12.
    """
    _check_index(recording.outputs.shape[0], index)
    length = recording.length(index)
    inputs = recording.batch.inputs[index, :length].float().cpu().t()  # (D, T)
    outputs = torch.sigmoid(recording.outputs[index, :length].float()).cpu().t()  # (O, T)
    add = recording.add[index, :length, write_head].float().cpu().t()  # (W, T)
    reads = recording.reads[index, :length, read_head].float().cpu().t()  # (W, T)
    write_w = recording.write_weights[index, :length, write_head].float().cpu()  # (T, N)
    read_w = recording.read_weights[index, :length, read_head].float().cpu()  # (T, N)
    rows = used_rows(torch.stack([write_w, read_w], 1))
    write_w, read_w = write_w[:, rows].t(), read_w[:, rows].t()  # (drawn rows, T)
    figure = _figure((11.0, 8.5))
    grid = figure.subplots(3, 2, sharex=True)
    _heatmap(grid[0, 0], inputs, "inputs (white 0, black 1)", "channel", cmap="Greys", limits=(0.0, 1.0))
    _heatmap(grid[0, 1], outputs, "outputs: probability of 1 (white 0, black 1)", "bit", cmap="Greys",
             limits=(0.0, 1.0))
    _heatmap(grid[1, 0], add, f"add vectors tanh(a), write head {write_head} (blue -1, red +1)", "element",
             cmap="RdBu_r", limits=(-1.0, 1.0))
    _heatmap(grid[1, 1], reads, f"read vectors r, read head {read_head} (blue -1, red +1)", "element",
             cmap="RdBu_r", limits=(-1.0, 1.0))
    _heatmap(grid[2, 0], write_w, "write weightings (white 0, black 1)", "memory row", cmap="Greys",
             limits=(0.0, 1.0), row_labels=rows)
    _heatmap(grid[2, 1], read_w, "read weightings (white 0, black 1)", "memory row", cmap="Greys",
             limits=(0.0, 1.0), row_labels=rows)
    for axes in grid[2]:
        axes.set_xlabel("time step", fontsize=8)
    figure.suptitle(title or f"memory access, sequence of {length} steps")
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.07, top=0.91, wspace=0.15, hspace=0.3)
    data = {"index": index, "length": length, "rows": rows, "inputs": inputs.tolist(),
            "outputs": outputs.tolist(), "add": add.tolist(), "reads": reads.tolist(),
            "write_weights": write_w.tolist(), "read_weights": read_w.tolist()}
    return _save(figure, path, data)


def plot_sequence(batch: Batch, outputs: Tensor, path: str | os.PathLike, *, index: int = 0,
                  title: str = "") -> Path:
    """One sequence's inputs, targets and output probabilities side by side over time, and the scored bits
    the output gets wrong (probability on the wrong side of 1/2). Any model's outputs: the NTM's
    (``recording.batch, recording.outputs``) or a baseline's.

    Args:
        batch: inputs (B, T, D), targets (B, T, O), lengths (B,) or None, mask (B, T) of the scored steps
            (None: every step is scored).
        outputs: the model's logits (B, T, O).
        path: the PNG (``.json``: the drawn arrays and ``wrong_bits``).
        index: which sequence of the batch.

    Returns:
        The PNG's path.

    Raises:
        ValueError: outputs not shaped like the targets; ``index`` outside the batch.

    Book: 10.12.
    """
    if tuple(outputs.shape) != tuple(batch.targets.shape):
        raise ValueError(f"outputs: expected the targets' shape {tuple(batch.targets.shape)}, "
                         f"got {tuple(outputs.shape)}")
    _check_index(outputs.shape[0], index)
    length = int(batch.lengths[index]) if batch.lengths is not None else outputs.shape[1]
    inputs = batch.inputs[index, :length].float().cpu().t()  # (D, T)
    targets = batch.targets[index, :length].float().cpu().t()  # (O, T)
    probabilities = torch.sigmoid(outputs[index, :length].detach().float()).cpu().t()  # (O, T)
    scored = (batch.mask[index, :length].cpu() if batch.mask is not None
              else torch.ones(length, dtype=torch.bool))  # (T,)
    wrong = ((probabilities > 0.5) != (targets > 0.5)) & scored.unsqueeze(0)  # (O, T)
    figure = _figure((9.0, 7.0))
    grid = figure.subplots(4, 1, sharex=True)
    _heatmap(grid[0], inputs, "inputs (white 0, black 1)", "channel", cmap="Greys", limits=(0.0, 1.0))
    _heatmap(grid[1], targets * scored, "targets on the scored steps (white 0, black 1)", "bit", cmap="Greys",
             limits=(0.0, 1.0))
    _heatmap(grid[2], probabilities, "outputs: probability of 1 (white 0, black 1)", "bit", cmap="Greys",
             limits=(0.0, 1.0))
    _heatmap(grid[3], wrong.float(), f"wrong bits (red): {int(wrong.sum())} of {int(scored.sum()) * len(targets)}",
             "bit", cmap="Reds", limits=(0.0, 1.0))
    grid[3].set_xlabel("time step", fontsize=8)
    figure.suptitle(title or f"inputs, targets and outputs, sequence of {length} steps")
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.9, hspace=0.45)
    data = {"index": index, "length": length, "inputs": inputs.tolist(), "targets": targets.tolist(),
            "outputs": probabilities.tolist(), "scored": scored.tolist(), "wrong_bits": int(wrong.sum())}
    return _save(figure, path, data)
