"""An RNN that generates a sequence conditioned on one fixed vector x: as its initial state, as an extra
input at every step, or both; and a small image encoder that makes x from a picture.

The generator is a directed model p(y | x) = Π_t p(y(t) | y(1..t-1), x): the previous symbol y(t-1) enters
the hidden state at every step (Fig. 10.10's y(t-1) -> h(t) connections, so the outputs are not
conditionally independent given x), and x enters

- as the **initial state**: h(0) = tanh(A x + a), one learned map per state vector of the cell (h, and c
  for an LSTM);
- as an **extra input** at every step (Fig. 10.9): the cell reads [E y(t-1); x], so its input-to-hidden
  matrix splits into blocks [U_y, R] and R x is added to the hidden units' input at every step; for an
  Elman cell h(t) = tanh(b + W h(t-1) + U_y E y(t-1) + R x); a gated cell gets an R block per gate;
- or **both**.

Book: 10.2.4 (Fig. 10.9: a fixed-length vector x as an extra input at every step, "x^T R", or as the
initial state h(0), or both; Fig. 10.10: the previous output feeds the hidden state), 10.2.3 (the searches
drive it as a step decoder).
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes
from recnets.cells.registry import make_cell
from recnets.core.cell import Cell
from recnets.core.state import tree_leaves, tree_map
from recnets.core.step_decoder import DecoderStep, StepDecoder
from recnets.core.unroll import unroll
from recnets.nets.readout import Readout
from recnets.train.scheduled_sampling import FeedingConfig, FeedingSchedule

__all__ = ["CONDITIONS", "ConditionedRNN", "InitialStateMap", "ImageEncoder", "conditioned_rnn"]

CONDITIONS = ("initial-state", "input", "both")
BOS = 1  # the seq2seq conventions' start symbol


class InitialStateMap(nn.Module):
    """h(0) = tanh(A x + a) for every real leaf of a cell's state; integer leaves (time counters) keep their start.

    A leaf of shape (B, N) gets A (N, C); a leaf (B, d, N) (a delay line of past states) gets A (d·N, C),
    reshaped.

    Args:
        cell: the cell whose ``initial_state`` gives the state's structure (read once, at construction).
        context_size: C, the width of x.

    Shapes:
        forward: x (B, C), the cell's initial state (leaves (B, ...)) -> the same structure, real leaves
        replaced.

    Book: 10.2.4 (x as the initial state h(0)).
    Deviations: the book does not say how x becomes h(0); a learned affine map and tanh keep h(0) in the
    range of the tanh units. An LSTM's cell c(0) gets its own map (tanh too).
    """

    def __init__(self, cell: Cell, context_size: int) -> None:
        super().__init__()
        check_sizes(context_size=context_size)
        template = tree_leaves(cell.initial_state(1))
        self.mapped = tuple(index for index, leaf in enumerate(template) if leaf.is_floating_point() and leaf.dim() >= 2)
        if not self.mapped:
            raise ValueError(f"cell: expected a state with at least one real (B, ...) leaf, got "
                             f"{type(cell).__name__} with leaves of shapes {[tuple(l.shape) for l in template]}")
        self.shapes = tuple(tuple(template[index].shape[1:]) for index in self.mapped)
        self.maps = nn.ModuleList(nn.Linear(context_size, math.prod(shape)) for shape in self.shapes)

    def forward(self, x: Tensor, state: Any) -> Any:
        maps = {index: (linear, shape) for index, linear, shape in zip(self.mapped, self.maps, self.shapes)}
        position = itertools.count()

        def replace(leaf: Tensor) -> Tensor:
            index = next(position)
            if index not in maps:
                return leaf
            linear, shape = maps[index]
            return torch.tanh(linear(x)).reshape(x.shape[0], *shape)  # (B, ...)

        return tree_map(replace, state)


class ImageEncoder(nn.Module):
    """A small convolutional net: an image (B, 1, S, S) -> a vector x (B, C).

    Three blocks of a 3×3 convolution with stride 2 (padding 1) and a ReLU (16, 32, 64 channels by default),
    each halving the side, then one affine map of the flattened (64, S/8, S/8) maps to C and a layer
    normalisation of x. The convolutions start from He initialisation.

    Args:
        image_size: S (a multiple of 2^len(channels)); context_size: C; channels: per block.

    Deviations: strided convolutions instead of convolution + max-pooling: on one CPU thread the encoder's
    update is 3x faster (measured: 32 ms against 105 ms for 64 images of 32×32). With torch's default
    initialisation and no normalisation, x barely differed between glyphs at the start (its spread across
    images 0.01 against a mean size of 0.04: glyph images are mostly blank) and the generators learned the
    captions' language before they learned to look; He initialisation and the layer norm give x a spread
    of order 1 from the first update.

    Book: 10.2.4 (the fixed-size input x of the conditioned RNN; the encoder is ours, not the chapter's).
    """

    def __init__(self, image_size: int, context_size: int, *, channels: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        check_sizes(image_size=image_size, context_size=context_size)
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels: expected a non-empty tuple of positive integers, got {channels!r}")
        if image_size % (2 ** len(channels)):
            raise ValueError(f"image_size: expected a multiple of {2 ** len(channels)} ({len(channels)} halvings), "
                             f"got {image_size}")
        self.image_size = image_size
        blocks: list[nn.Module] = []
        width = 1
        for out in channels:
            blocks += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.ReLU()]
            width = out
        self.features = nn.Sequential(*blocks, nn.Flatten())
        side = image_size // 2 ** len(channels)
        self.project = nn.Linear(width * side * side, context_size)
        self.norm = nn.LayerNorm(context_size)
        for module in self.features:
            if isinstance(module, nn.Conv2d):  # He initialisation: the ReLU blocks keep the variance of the image
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> Tensor:
        size = self.image_size
        if not images.dtype.is_floating_point or images.dim() != 4 or images.shape[1:] != (1, size, size):
            raise ValueError(f"inputs: expected images of shape (B, 1, {size}, {size}) and a real dtype, got shape "
                             f"{tuple(images.shape)} dtype {images.dtype}")
        return self.norm(self.project(self.features(images)))  # (B, C)


class ConditionedRNN(StepDecoder):
    """A word-level generator p(y | x) with a fixed vector x as initial state, extra input, or both.

    h(t) = f(h(t-1), [E y(t-1); x]) (input conditioning) or f(h(t-1), E y(t-1)), with h(0) = tanh(A x + a)
    (initial-state conditioning) or the cell's zero state; o(t) = c + V h(t); p(y(t) | ...) = softmax(o(t)).
    y(0) is the start symbol ``start_id``.

    As a :class:`~recnets.core.step_decoder.StepDecoder` its context is x (B, C): decode with
    ``greedy_decode(model, context=model.encode(inputs), ...)`` or ``beam_search``. For the trainer,
    ``forward(inputs, targets=...)`` encodes the inputs and runs the decoder over the targets through a
    :class:`~recnets.train.scheduled_sampling.FeedingSchedule`: teacher forcing in eval mode, the configured
    feeding (and one more counted update) in training mode. Whenever every input is the label (eval mode,
    ε = 1) the schedule takes :meth:`teacher_forced`, the same numbers computed as one unroll and one readout.

    Args:
        cell: any cell; its input width must be ``embedding_size + C`` for ``"input"`` and ``"both"``,
            ``embedding_size`` for ``"initial-state"``; it must emit h(t) (B, H).
        vocab_size: V (ids 0..V-1; the seq2seq conventions' PAD 0, BOS 1, EOS 2, UNK 3 included).
        context_size: C, the width of x.
        condition: ``"initial-state"``, ``"input"`` or ``"both"``.
        embedding_size: E, the width of E y(t-1).
        encoder: a module mapping the trainer's inputs to x (B, C), e.g. :class:`ImageEncoder`; None when the
            inputs already are x.
        feeding: a :class:`~recnets.train.scheduled_sampling.FeedingConfig` (default teacher forcing).
        start_id: y(0) (default BOS = 1).

    Parameters:
        embedding (V, E): E; the cell's own (U = [U_y, R] when x is an input); ``initial.maps``: A, a;
        readout: V (V, H), c (V).

    Shapes:
        forward: inputs (B, ...) -> x (B, C); targets (B, T) int64 (words, EOS, PAD) -> (logits (B, T, V), None).
        step: ids_t (B,), state, x (B, C) -> logits (B, V).

    Book: 10.2.4 (Figs. 10.9, 10.10).
    """

    def __init__(self, cell: Cell, vocab_size: int, context_size: int, *, condition: str = "both",
                 embedding_size: int, encoder: nn.Module | None = None, feeding: FeedingConfig | None = None,
                 start_id: int = BOS) -> None:
        super().__init__()
        check_sizes(vocab_size=vocab_size, context_size=context_size, embedding_size=embedding_size)
        if not isinstance(cell, Cell):
            raise TypeError(f"cell: expected a recnets Cell, got {type(cell).__name__}")
        if condition not in CONDITIONS:
            raise ValueError(f"condition: expected one of {', '.join(CONDITIONS)}, got {condition!r}")
        reads_input = condition in ("input", "both")
        expected = embedding_size + (context_size if reads_input else 0)
        if cell.input_size != expected:
            raise ValueError(f"cell: expected input_size {expected} (embedding_size {embedding_size}"
                             f"{f' + context_size {context_size}' if reads_input else ''} for condition "
                             f"{condition!r}), got {cell.input_size}")
        if isinstance(start_id, bool) or not isinstance(start_id, int) or not 0 <= start_id < vocab_size:
            raise ValueError(f"start_id: expected an id in [0, {vocab_size}), got {start_id!r}")
        self.cell = cell
        self.condition = condition
        self.vocab_size, self.context_size, self.start_id = vocab_size, context_size, start_id
        self.reads_input = reads_input
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.initial = InitialStateMap(cell, context_size) if condition in ("initial-state", "both") else None
        self.readout = Readout(cell.hidden_size, vocab_size)
        self.encoder = encoder
        self.feeding = FeedingSchedule(feeding)

    def encode(self, inputs: Tensor) -> Tensor:
        """x (B, C): the encoder's output, or ``inputs`` themselves when there is no encoder."""
        x = self.encoder(inputs) if self.encoder is not None else inputs
        return self._checked_context(x, None)

    def _checked_context(self, context: Any, rows: int | None) -> Tensor:
        if not isinstance(context, Tensor) or not context.dtype.is_floating_point or context.dim() != 2 \
                or context.shape[1] != self.context_size or (rows is not None and context.shape[0] != rows):
            expected = f"({rows if rows is not None else 'B'}, {self.context_size})"
            got = (f"shape {tuple(context.shape)} dtype {context.dtype}" if isinstance(context, Tensor)
                   else type(context).__name__)
            raise ValueError(f"context: expected the conditioning vector x, a real tensor of shape {expected}, "
                             f"got {got}")
        return context

    def initial_state(self, batch_size: int, context: Any = None) -> Any:
        x = self._checked_context(context, batch_size)  # (B, C)
        state = self.cell.initial_state(batch_size, device=x.device, dtype=x.dtype)
        return self.initial(x, state) if self.initial is not None else state

    def step(self, ids_t: Tensor, state: Any, context: Any = None) -> DecoderStep:
        x = self._checked_context(context, ids_t.shape[0])  # (B, C)
        inputs = self.embedding(ids_t)  # (B, E)
        if self.reads_input:
            inputs = torch.cat([inputs, x.to(inputs.dtype)], -1)  # (B, E + C): U [E y; x] = U_y E y + R x
        h, state = self.cell(inputs, state)  # (B, H)
        return DecoderStep(self.readout(h), None, state)  # logits (B, V)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        """Logits of every target position (teacher forcing in eval mode; the feeding config in training).

        ``state``, when given, replaces the decoder's initial state (built from x otherwise).
        """
        if targets is None:
            raise ValueError("targets: expected the (B, T) target ids to feed (teacher forcing or scheduled "
                             "sampling), got None; to generate, use greedy_decode or beam_search with "
                             "context=model.encode(inputs)")
        if lengths is not None:
            raise ValueError(f"lengths: expected None (the input is one fixed-size vector or image per row), "
                             f"got a tensor of shape {tuple(lengths.shape)}")
        x = self.encode(inputs)  # (B, C)
        if x.shape[0] != targets.shape[0]:
            raise ValueError(f"targets: expected {x.shape[0]} rows (one per input), got shape {tuple(targets.shape)}")
        fed = self.feeding(self, targets, context=x, state=state)
        return fed.logits, None  # (B, T, V)

    def teacher_forced_steps(self, targets: Tensor, state: Any, context: Any = None) -> tuple[Tensor, None]:
        """:meth:`teacher_forced` for the feeding schedule: (logits (B, T, V), no stop logits)."""
        return self.teacher_forced(context, targets, state), None

    def teacher_forced(self, x: Tensor, targets: Tensor, state: Any = None) -> Tensor:
        """Logits (B, T, V) with the labels fed: one unroll over [E y(0..T-1); x] and one readout.

        Equal to ``feed_decoder(self, targets, context=x)`` (the step loop with ε = 1), but the cell runs as one
        call (the fused kernel for a standard Elman/LSTM/GRU) and the readout as one product.
        """
        if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.dtype != torch.int64:
            raise ValueError(f"targets: expected an int64 tensor of shape (B, T), got "
                             f"{getattr(targets, 'dtype', type(targets).__name__)} of shape "
                             f"{tuple(getattr(targets, 'shape', ()))}")
        batch, steps = targets.shape
        x = self._checked_context(x, batch)  # (B, C)
        start = torch.full((batch, 1), self.start_id, dtype=torch.int64, device=targets.device)
        inputs = self.embedding(torch.cat([start, targets[:, :-1]], 1))  # (B, T, E): E y(t-1)
        if self.reads_input:
            inputs = torch.cat([inputs, x.to(inputs.dtype).unsqueeze(1).expand(-1, steps, -1)], -1)  # (B, T, E + C)
        if state is None:
            state = self.initial_state(batch, x)
        hs, _ = unroll(self.cell, inputs, state)  # (B, T, H)
        return self.readout(hs)  # (B, T, V)


def conditioned_rnn(cell: str, vocab_size: int, context_size: int, hidden_size: int, *, embedding_size: int,
                    condition: str = "both", encoder: nn.Module | None = None,
                    feeding: FeedingConfig | None = None, start_id: int = BOS) -> ConditionedRNN:
    """A :class:`ConditionedRNN` around a registry cell (``make_cell(cell, D, hidden_size)``) with D set
    by ``condition``: E + C for ``"input"`` and ``"both"``, E for ``"initial-state"``.

    Book: 10.2.4.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"condition: expected one of {', '.join(CONDITIONS)}, got {condition!r}")
    check_sizes(context_size=context_size, embedding_size=embedding_size)
    width = embedding_size + (context_size if condition in ("input", "both") else 0)
    return ConditionedRNN(make_cell(cell, width, hidden_size), vocab_size, context_size, condition=condition,
                          embedding_size=embedding_size, encoder=encoder, feeding=feeding, start_id=start_id)
