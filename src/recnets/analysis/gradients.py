"""How far back the gradient reaches: ‖∂L/∂h(t)‖ against the time lag, and Pascanu's norm-preserving Ω.

Book: 10.7 (the challenge of long-term dependencies: gradients through many steps vanish or explode,
eqs. 10.36-10.39), 10.11.2 (regularising to encourage information flow, Pascanu et al. 2013).

The states h(t) of a model are read without touching its cell: while :func:`recording_states` is active,
the model's ``cell`` is wrapped by a recorder that keeps, for every step, the projected input, the state it
received and the state it returned, so that autograd can differentiate the loss with respect to each h(t).
The model runs the eager loop of ``unroll`` meanwhile (the fused kernels expose no per-step states).

h(t) is the tensor the cell emits at step t, y(t), which is h(t) for every registered cell and the node
through which h(t) reaches both the outputs and the next state (an LSTM's ``state.h``, or the newest entry
of a skip-in-time cell's delay line); a cell that emits something else is read through its state's ``h``.
Within a state, h may be a field or a view of one (a delay line's newest entry): :func:`hidden_columns`
finds its coordinates among the state's floating leaves laid side by side.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, NamedTuple

import torch
from torch import Tensor, nn

from recnets.core.cell import Cell
from recnets.core.state import tree_leaves, tree_map
from recnets.core.unroll import unroll

__all__ = ["StepRecord", "HiddenGradients", "LagProfile", "recording_states", "recorded_unroll", "hidden_gradients",
           "last_step_loss", "gradient_norm_by_lag", "norm_preserving_penalty", "flat_state", "state_from_flat_rows",
           "hidden_columns"]


class StepRecord(NamedTuple):
    """One recorded transition: ``px`` (B, P) the projected input, ``state`` s(t-1), ``new_state`` s(t), and
    ``y`` what the cell emitted (h(t) for every registered cell)."""

    px: Tensor
    state: Any
    new_state: Any
    y: Any


class HiddenGradients(NamedTuple):
    """The loss, the hidden states and the loss's total derivative with respect to each of them.

    Fields:
        loss: L, ().
        h: h(1..T), (B, T, H): each step's h as the cell emitted it (before masking by lengths).
        grad_h: ∂L/∂h(t), (B, T, H): through every later step and the outputs; zero past each length.
        outputs: the model's outputs, detached.
    """

    loss: Tensor
    h: Tensor
    grad_h: Tensor
    outputs: Any


class LagProfile(NamedTuple):
    """‖∂L/∂h(τ - k)‖ against the lag k, averaged over the sequences long enough to have that lag.

    Fields:
        lags: k = 0..K-1, (K,) int64.
        norms: mean over sequences of ‖∂L/∂h(τ_b - k)‖, (K,).
        per_sequence: ‖∂L/∂h(τ_b - k)‖ of each sequence, (B, K); 0 where k ≥ the sequence's length.
        counts: how many sequences have lag k, (K,) int64.
    """

    lags: Tensor
    norms: Tensor
    per_sequence: Tensor
    counts: Tensor


class _RecordingCell(Cell):
    """Wraps a cell; every ``step`` is appended to ``records``. Not registered for the fused kernels."""

    def __init__(self, inner: Cell, records: list[StepRecord]) -> None:
        super().__init__()
        self.inner = inner
        self.input_size, self.hidden_size = inner.input_size, inner.hidden_size
        self.records = records

    def __getattr__(self, name: str) -> Any:
        """Attributes other than the wrapper's own come from the wrapped cell (its parameters, settings)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Any:
        return self.inner.initial_state(batch_size, device=device, dtype=dtype)

    def project(self, xs: Tensor) -> Tensor:
        return self.inner.project(xs)

    def step(self, px_t: Tensor, state: Any, context: Any = None) -> tuple[Any, Any]:
        y_t, new_state = self.inner.step(px_t, state, context)
        self.records.append(StepRecord(px_t, state, new_state, y_t))
        return y_t, new_state


@contextlib.contextmanager
def recording_states(model: nn.Module) -> Iterator[list[StepRecord]]:
    """Within the block, every step of ``model.cell`` is recorded in the yielded list (in time order).

    Args:
        model: a network with a ``cell`` attribute that its forward unrolls (``OutputEveryStep``,
            ``SequenceToOne``, ...). ``model.cell`` is restored on exit, even after an error.

    Yields:
        A list of :class:`StepRecord`, one per step of every unroll the block runs.

    Book: 10.7 (the states whose gradients eqs. 10.36-10.39 describe).
    """
    cell = getattr(model, "cell", None)
    if not isinstance(cell, Cell):
        raise TypeError(f"model: expected a network with a Cell as its 'cell' attribute, got "
                        f"{type(model).__name__} with cell {type(cell).__name__}")
    records: list[StepRecord] = []
    model.cell = _RecordingCell(cell, records)
    try:
        yield records
    finally:
        model.cell = cell


def recorded_unroll(cell: Cell, xs: Tensor, state: Any = None, *,
                    lengths: Tensor | None = None) -> tuple[Any, Any, list[StepRecord]]:
    """``unroll`` (eager) of a bare cell, returning its outputs, final state and every recorded step.

    Shapes:
        xs (B, T, D); ys (B, T, ...); T records, each state leaf (B, ...).

    Returns:
        ``(ys, final_state, records)``.

    Book: 10.1, eqs. 10.5-10.7 (the unfolded graph whose states 10.7 studies).
    """
    records: list[StepRecord] = []
    ys, final = unroll(_RecordingCell(cell, records), xs, state, lengths=lengths, backend="eager")
    return ys, final, records


def flat_state(state: Any) -> Tensor:
    """The floating leaves of a state side by side, each row one sequence: (B, S).

    Book: 10.1 (the state s(t) as one vector).
    """
    leaves = [leaf for leaf in tree_leaves(state) if leaf.is_floating_point()]
    return torch.cat([leaf.reshape(leaf.shape[0], -1) for leaf in leaves], 1)


def state_from_flat_rows(flat: Tensor, template: Any) -> Any:
    """A state like ``template`` whose floating leaves are read from ``flat`` (B, S); other leaves kept.

    Book: 10.1.
    """
    offset = 0

    def take(leaf: Tensor) -> Tensor:
        nonlocal offset
        if not leaf.is_floating_point():
            return leaf
        width = leaf[0].numel()
        piece = flat[:, offset:offset + width].reshape(flat.shape[0], *leaf.shape[1:])
        offset += width
        return piece

    return tree_map(take, template)


def hidden_columns(state: Any) -> Tensor:
    """The coordinates of ``state.h`` within :func:`flat_state`'s layout, (H,) int64.

    ``h`` may be a field or any selection of the state's entries (a property returning a view): the flat
    vector 0, 1, ..., S-1 is put in the state's place and ``h`` read from it (and, to tell a selection from
    a computation, the vector of their squares).

    Raises:
        ValueError: the state has no ``h``, or its ``h`` is not a selection of the state's entries.

    Book: 10.7.
    """
    hidden = _hidden(state, "state")
    width = flat_state(state).shape[1]
    probe = torch.arange(width, dtype=torch.float64, device=hidden.device).expand(hidden.shape[0], width)
    read = _hidden(state_from_flat_rows(probe, state), "state")[0].reshape(-1)  # (H,)
    squared = _hidden(state_from_flat_rows(probe ** 2, state), "state")[0].reshape(-1)  # a selection commutes
    columns = read.round().long()
    if read.numel() != hidden[0].numel() or not torch.equal(columns.double(), read) \
            or not torch.equal(squared, read ** 2) or columns.unique().numel() != columns.numel() \
            or bool((columns < 0).any()) or bool((columns >= width).any()):
        raise ValueError(f"state: expected its 'h' to be a selection of the state's entries, got one computed "
                         f"from them in {type(state).__name__}")
    return columns


def _emitted_h(record: StepRecord) -> Tensor:
    """h(t) as the node that feeds both the outputs and the next state: y(t) when it is h-shaped."""
    hidden = _hidden(record.new_state, "model")
    if isinstance(record.y, Tensor) and record.y.shape == hidden.shape:
        return record.y
    return hidden


def _hidden(state: Any, where: str) -> Tensor:
    """The ``h`` leaf of a state (a NamedTuple with an ``h`` field)."""
    hidden = getattr(state, "h", None)
    if not isinstance(hidden, Tensor):
        raise ValueError(f"{where}: expected a cell whose state has an 'h' field, got state "
                         f"{type(state).__name__}{getattr(state, '_fields', '')}")
    return hidden


def hidden_gradients(model: nn.Module, inputs: Tensor, loss_fn: Callable[[Any], Tensor], *,
                     lengths: Tensor | None = None, state: Any = None,
                     targets: Tensor | None = None) -> HiddenGradients:
    """∂L/∂h(t) for every step t of one forward pass of ``model``, by autograd on the recorded states.

    Args:
        model: a design-pattern network with a ``cell`` whose state has an ``h`` field.
        inputs: the model's inputs (token ids (B, T) or vectors (B, T, D)).
        loss_fn: ``loss_fn(outputs) -> L``, a scalar (e.g. :func:`last_step_loss` with the targets bound).
        lengths, state, targets: passed to ``model``.

    Shapes:
        h, grad_h: (B, T, H).

    Returns:
        :class:`HiddenGradients`. The model's parameters receive no gradient (``autograd.grad``).

    Book: 10.7 (eq. 10.36: ∂L/∂h(t) holds the product of Jacobians of every later step); 10.2.2
    (eqs. 10.19-10.21, the same quantity by the backward recursion).
    """
    cell = getattr(model, "cell", None)
    if isinstance(cell, Cell):
        _hidden(cell.initial_state(1), "model")  # fail early, before a forward pass, on a state without h
    with recording_states(model) as records:
        outputs, _ = model(inputs, lengths=lengths, state=state, targets=targets)
    if not records:
        raise ValueError(f"model: expected its forward to unroll model.cell, got no recorded step from "
                         f"{type(model).__name__}")
    hs = [_emitted_h(record) for record in records]
    loss = loss_fn(outputs)
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise ValueError(f"loss_fn: expected a scalar tensor, got {type(loss).__name__} "
                         f"{tuple(loss.shape) if isinstance(loss, Tensor) else ''}")
    grads = torch.autograd.grad(loss, hs, allow_unused=True, materialize_grads=True)
    detached = outputs.detach() if isinstance(outputs, Tensor) else outputs
    return HiddenGradients(loss.detach(), torch.stack([h.detach() for h in hs], 1), torch.stack(grads, 1),
                           detached)


def last_step_loss(outputs: Tensor, targets: Tensor, lengths: Tensor | None = None) -> Tensor:
    """L = Σ_b L_b(τ_b): the loss of each sequence's last real step, summed over the batch.

    Cross-entropy for class targets, half the squared error for real ones. With L at τ only, ∂L/∂h(τ - k)
    is the signal that reaches k steps back: the quantity the book says vanishes or explodes.

    Args:
        outputs: o, per step (B, T, O) or one per sequence (B, O).
        targets: class ids (B, T) / (B,) or real (B, T, O) / (B, O).
        lengths: (B,), the last step of sequence b is lengths[b] - 1; all T when None.

    Returns:
        L, a 0-d tensor.

    Book: 10.7; 10.2.2 (eqs. 10.12-10.14, one term of the sum).
    """
    if not isinstance(outputs, Tensor) or outputs.dim() not in (2, 3):
        raise ValueError(f"outputs: expected logits (B, T, O) or (B, O), got "
                         f"{tuple(outputs.shape) if isinstance(outputs, Tensor) else type(outputs).__name__}")
    batch = outputs.shape[0]
    rows = torch.arange(batch, device=outputs.device)
    if outputs.dim() == 3:
        steps = outputs.shape[1]
        last = (lengths.to(outputs.device) - 1) if lengths is not None else torch.full(
            (batch,), steps - 1, device=outputs.device)
        outputs, targets = outputs[rows, last], targets[rows, last]  # (B, O), (B,) or (B, O)
    if targets.dtype.is_floating_point:
        if targets.shape != outputs.shape:
            raise ValueError(f"targets: expected real targets of shape {tuple(outputs.shape)}, got "
                             f"{tuple(targets.shape)}")
        return 0.5 * (outputs - targets).pow(2).sum()
    return nn.functional.cross_entropy(outputs, targets, reduction="sum")


def gradient_norm_by_lag(grad_h: Tensor, lengths: Tensor | None = None) -> LagProfile:
    """‖∂L/∂h(τ_b - k)‖ for every lag k, each sequence measured back from its own last step τ_b.

    Args:
        grad_h: ∂L/∂h(t), (B, T, H) (from :func:`hidden_gradients`).
        lengths: (B,) real lengths; all T when None.

    Returns:
        :class:`LagProfile` with K = T lags.

    Book: 10.7, eqs. 10.36-10.39 (for a linear recurrence ∂L/∂h(τ - k) = (Wᵀ)^k ∂L/∂h(τ)).
    """
    if not isinstance(grad_h, Tensor) or grad_h.dim() != 3:
        raise ValueError(f"grad_h: expected shape (B, T, H), got "
                         f"{tuple(grad_h.shape) if isinstance(grad_h, Tensor) else type(grad_h).__name__}")
    batch, steps, _ = grad_h.shape
    lengths = (torch.full((batch,), steps, dtype=torch.long) if lengths is None else lengths.to("cpu", torch.long))
    norms = torch.linalg.vector_norm(grad_h.detach(), dim=-1)  # (B, T)
    lags = torch.arange(steps)  # (K,) with K = T
    time = lengths.unsqueeze(1).to(norms.device) - 1 - lags.to(norms.device).unsqueeze(0)  # (B, K): τ_b - k
    valid = time >= 0
    per_sequence = torch.where(valid, norms.gather(1, time.clamp_min(0)), torch.zeros((), dtype=norms.dtype,
                                                                                       device=norms.device))
    counts = valid.sum(0).cpu()  # (K,)
    mean = per_sequence.sum(0) / counts.clamp_min(1).to(per_sequence.device, per_sequence.dtype)
    return LagProfile(lags, mean, per_sequence, counts)


def norm_preserving_penalty(loss: Tensor, records: list[StepRecord], cell: Cell) -> Tensor:
    """Pascanu et al.'s Ω = Σ_k (‖∂L/∂h(k+1) · ∂h(k+1)/∂h(k)‖ / ‖∂L/∂h(k+1)‖ - 1)², averaged over the batch.

    Args:
        loss: L, a scalar whose graph holds the recorded steps (it is kept for the caller's backward).
        records: the steps of the forward pass that made ``loss`` (from :func:`recording_states`).
        cell: the recorded model's cell (its parameters carry Ω's gradient).

    Returns:
        Ω, a 0-d tensor differentiable with respect to the cell's parameters.

    Book: 10.11.2 (regularising to encourage information flow; Pascanu, Mikolov & Bengio 2013, eq. 9).
    Deviations: as in the paper, ∂L/∂h(k+1) is held constant when Ω is differentiated, and so is h(k): Ω's
    gradient is its immediate partial derivative through one step's Jacobian (the paper's ∂⁺); the other
    entries of s(k) (an LSTM's c, a delay line's older states) are held fixed in ∂h(k+1)/∂h(k). Each
    sequence has its own Ω (its rows of ∂L/∂h); the batch's Ω is their mean. Terms whose ∂L/∂h(k+1) is
    zero (past a sequence's end) are left out. k runs over every recorded step, the first from the
    state the forward started with.
    """
    if not records:
        raise ValueError("records: expected the recorded steps of a forward pass, got none")
    hs = [_emitted_h(record) for record in records]
    grads = torch.autograd.grad(loss, hs, retain_graph=True, allow_unused=True, materialize_grads=True)
    batch = hs[0].shape[0]
    columns = hidden_columns(records[0].state)  # (H,): where h(k) sits in the flat state
    penalty = hs[0].new_zeros(())
    for record, grad_next in zip(records, grads):
        flat_in = flat_state(record.state).detach().requires_grad_()  # (B, S): s(k) held fixed
        y_next, new_state = cell.step(record.px, state_from_flat_rows(flat_in, record.state))
        h_next = _emitted_h(StepRecord(record.px, record.state, new_state, y_next))
        # ∂L/∂h(k+1) · ∂h(k+1)/∂h(k): a vector-Jacobian product through one step, kept differentiable
        flow, = torch.autograd.grad(h_next, flat_in, grad_outputs=grad_next, create_graph=True)
        flow = flow[:, columns]  # (B, H)
        grad_norm = torch.linalg.vector_norm(grad_next, dim=-1)  # (B,)
        flow_norm = torch.linalg.vector_norm(flow, dim=-1)  # (B,)
        scored = grad_norm > 0
        ratio = flow_norm / torch.where(scored, grad_norm, torch.ones_like(grad_norm))
        penalty = penalty + torch.where(scored, (ratio - 1) ** 2, torch.zeros_like(ratio)).sum()
    return penalty / batch
