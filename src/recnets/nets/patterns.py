"""The three design patterns of recurrent networks (Book: 10.2, Figs. 10.3-10.5).

Every model here has the same call: ``model(inputs, *, lengths=None, state=None, targets=None)``
returning ``(outputs, final_state)``; ``targets`` is read only by the teacher-forced pattern.
"""
from __future__ import annotations

import abc
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.cell import Cell
from recnets.core.lengths import check_lengths, zero_past_lengths
from recnets.core.unroll import unroll
from recnets.nets.readout import Readout, embed_inputs

__all__ = ["OutputEveryStep", "OutputToHidden", "OutputRecurrentCell", "OutputFeed", "SequenceToOne"]


class _CellWithReadout(nn.Module, abc.ABC):
    """Abstract: a cell, an optional token embedding into its D, and the readout o = c + V y(t).

    Book: 10.2, eq. 10.8.
    """

    def __init__(self, cell: Cell, output_size: int, *, vocab_size: int | None = None) -> None:
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, cell.input_size) if vocab_size is not None else None
        self.readout = Readout(cell.hidden_size, output_size)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Any:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    @abc.abstractmethod
    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, Any]:
        """``(outputs, final_state)``."""


class OutputEveryStep(_CellWithReadout):
    """Pattern (a): hidden-to-hidden recurrence and an output at every step (Fig. 10.3, eq. 10.8).

    Args:
        cell: any cell; its emitted y(t) (B, H) feeds the readout.
        output_size: O.
        vocab_size: when given, inputs are token ids embedded into the cell's D (a one-hot x(t) times U).

    Shapes:
        inputs: (B, T) ids or (B, T, D); outputs o: (B, T, O), zero past each length.

    Book: 10.2, eq. 10.8.
    """

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, Any]:
        xs = embed_inputs(self.embedding, inputs, self.cell.input_size)  # (B, T, D)
        hs, final = unroll(self.cell, xs, state, lengths=lengths)  # (B, T, H)
        checked = check_lengths(lengths, xs.shape[0], xs.shape[1], xs.device)
        return zero_past_lengths(self.readout(hs), checked), final  # (B, T, O)

    def step(self, inputs_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One step for decoding: ``inputs_t (B,)`` ids or ``(B, D)`` -> ``(o_t (B, O), state)``."""
        xs = embed_inputs(self.embedding, inputs_t.unsqueeze(1), self.cell.input_size)[:, 0]  # (B, D)
        h, state = self.cell(xs, state)
        return self.readout(h), state


class OutputFeed(NamedTuple):
    """State of the output-recurrent cell: the previous output as fed back, (B, O)."""

    y: Tensor


class OutputRecurrentCell(Cell):
    """The transition of pattern (b): the only recurrence goes through the output (Fig. 10.4).

    h(t) = tanh(b + U x(t) + W y(t-1)),  o(t) = c + V h(t).

    ``y(t-1)`` is the teacher's target under teacher forcing and the model's own previous output when free
    running: one-hot of argmax(o) for categorical outputs, o itself for real ones.

    Parameters:
        U (H, D), W (H, O), b (H); V (O, H), c (O) in ``readout``.

    Shapes:
        step: px_t (B, H), ``OutputFeed(y (B, O))`` -> o(t) (B, O).

    Book: 10.2, Fig. 10.4; 10.2.1 (teacher forcing).
    """

    U: Tensor
    W: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, categorical: bool) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.categorical = categorical
        self.U = uniform_parameter(hidden_size, input_size, hidden_size=hidden_size)
        self.W = uniform_parameter(hidden_size, output_size, hidden_size=hidden_size)
        self.b = uniform_parameter(hidden_size, hidden_size=hidden_size)
        self.readout = Readout(hidden_size, output_size)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> OutputFeed:
        return OutputFeed(torch.zeros(batch_size, self.output_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., H)

    def outputs_given_fed(self, px: Tensor, fed: Tensor) -> Tensor:
        """o = c + V tanh(px + W y_fed) for any leading shape: ``px (..., H)``, ``fed (..., O)``."""
        return self.readout(torch.tanh(px + nn.functional.linear(fed, self.W)))

    def fed_back(self, o: Tensor) -> Tensor:
        """What the model feeds itself when free running: one-hot of argmax(o), or o."""
        if self.categorical:
            return nn.functional.one_hot(o.argmax(-1), self.output_size).to(o.dtype)
        return o

    def step(self, px_t: Tensor, state: OutputFeed, context: Any = None) -> tuple[Tensor, OutputFeed]:
        o = self.outputs_given_fed(px_t, state.y)  # (B, O)
        return o, OutputFeed(self.fed_back(o))


class OutputToHidden(nn.Module):
    """Pattern (b): output-to-hidden recurrence only, trained with teacher forcing (Fig. 10.4, 10.2.1).

    With ``targets`` the previous target is fed back and all steps run at once (no loop: teacher forcing
    decouples the time steps); without them the model runs free on its own outputs.

    Args:
        input_size: D; hidden_size: H; output_size: O (classes when ``categorical``).
        categorical: targets are class ids (B, T) fed back one-hot; otherwise real (B, T, O).

    Shapes:
        inputs (B, T, D); targets (B, T) or (B, T, O); outputs o (B, T, O).

    Book: 10.2, Fig. 10.4; 10.2.1, Fig. 10.6.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, categorical: bool = True) -> None:
        super().__init__()
        self.cell = OutputRecurrentCell(input_size, hidden_size, output_size, categorical=categorical)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> OutputFeed:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def teacher_signal(self, targets: Tensor, dtype: torch.dtype) -> Tensor:
        """Targets as the fed-back vectors y(t): (B, T, O)."""
        if self.cell.categorical:
            if targets.dtype.is_floating_point or targets.dim() != 2:
                raise ValueError(f"targets: expected class ids of shape (B, T), got shape {tuple(targets.shape)} "
                                 f"dtype {targets.dtype}")
            return nn.functional.one_hot(targets.clamp_min(0), self.cell.output_size).to(dtype)
        if targets.dim() != 3 or targets.shape[-1] != self.cell.output_size:
            raise ValueError(f"targets: expected shape (B, T, {self.cell.output_size}), got {tuple(targets.shape)}")
        return targets.to(dtype)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: OutputFeed | None = None,
                targets: Tensor | None = None) -> tuple[Tensor, OutputFeed]:
        xs = embed_inputs(None, inputs, self.cell.input_size)  # (B, T, D)
        if targets is None:
            return unroll(self.cell, xs, state, lengths=lengths)
        batch, steps = xs.shape[:2]
        if targets.shape[:2] != (batch, steps):
            raise ValueError(f"targets: expected leading shape ({batch}, {steps}), got {tuple(targets.shape[:2])}")
        lengths = check_lengths(lengths, batch, steps, xs.device)
        if state is None:
            state = self.initial_state(batch, device=xs.device, dtype=xs.dtype)
        teacher = self.teacher_signal(targets, xs.dtype)  # (B, T, O)
        fed = torch.cat([state.y.unsqueeze(1), teacher[:, :-1]], 1)  # y(t-1) for every t
        outputs = self.cell.outputs_given_fed(self.cell.project(xs), fed)  # (B, T, O): all steps at once
        last = (lengths - 1) if lengths is not None else torch.full((batch,), steps - 1, device=xs.device)
        final = OutputFeed(teacher[torch.arange(batch, device=xs.device), last])
        return zero_past_lengths(outputs, lengths), final


class SequenceToOne(_CellWithReadout):
    """Pattern (c): read the whole sequence, emit one output from the last state (Fig. 10.5).

    Args:
        cell: any cell emitting y(t) (B, H).
        output_size: O.
        vocab_size: when given, inputs are token ids.

    Shapes:
        inputs (B, T) ids or (B, T, D); output o (B, O) from y at each sequence's own last step.

    Book: 10.2, Fig. 10.5.
    """

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, Any]:
        xs = embed_inputs(self.embedding, inputs, self.cell.input_size)  # (B, T, D)
        hs, final = unroll(self.cell, xs, state, lengths=lengths)  # (B, T, H)
        batch, steps = hs.shape[:2]
        checked = check_lengths(lengths, batch, steps, hs.device)
        last = (checked - 1) if checked is not None else torch.full((batch,), steps - 1, device=hs.device)
        h_last = hs[torch.arange(batch, device=hs.device), last]  # (B, H)
        return self.readout(h_last), final  # (B, O)
