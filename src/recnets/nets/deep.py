"""Deep recurrent networks: stacked unrolled cells (10.5, Fig. 10.13a) and depth inside the step
(input-to-hidden, hidden-to-hidden, hidden-to-output; Fig. 10.13b-c, Pascanu et al. 2014).

Both models have the design patterns' call: ``model(inputs, *, lengths=None, state=None, targets=None)``
returning ``(outputs, final_state)``; ``targets`` is accepted for that uniformity and not read.

Book: 10.5, Fig. 10.13.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes
from recnets.cells.deep_transition import DeepTransitionCell
from recnets.core.cell import Cell
from recnets.core.lengths import check_lengths, zero_past_lengths
from recnets.core.state import tree_leaves
from recnets.core.unroll import unroll
from recnets.nets.readout import Readout, embed_inputs

__all__ = ["Stacked", "DeepRNN"]


class Stacked(nn.Module):
    """Cells unrolled one after another: layer l reads the sequence of h^{l-1}(t) (Fig. 10.13a).

    Without skip connections, layer 1 reads x(t), layer l > 1 reads h^{l-1}(t), and the readout reads the
    top layer h^L(t). With ``skip_connections`` (Graves 2013) every layer l > 1 reads [x(t), h^{l-1}(t)]
    and the readout reads [h^1(t), ..., h^L(t)], so each layer is one step from the input and the output.

    Args:
        cells: the layers, bottom first; ``cells[0].input_size`` is D, and layer l's input_size must be
            H_{l-1} (plus D with skip connections).
        output_size: O for the readout o = c + V h; ``None`` returns the hidden sequence the readout would read.
        vocab_size: when given, inputs are token ids embedded into D.
        skip_connections: input to every layer and every layer to the output.

    Shapes:
        inputs (B, T) ids or (B, T, D); outputs (B, T, O) (or (B, T, H_L), (B, T, ΣH_l) without a readout),
        zero past each length; state: a tuple with one cell state per layer.

    Book: 10.5, Fig. 10.13a.
    """

    def __init__(self, cells: Sequence[Cell], output_size: int | None = None, *, vocab_size: int | None = None,
                 skip_connections: bool = False) -> None:
        super().__init__()
        cells = list(cells)
        if not cells or not all(isinstance(cell, Cell) for cell in cells):
            raise TypeError(f"cells: expected a non-empty sequence of Cell, got {[type(c).__name__ for c in cells]}")
        if not isinstance(skip_connections, bool):
            raise TypeError(f"skip_connections: expected a bool, got {type(skip_connections).__name__}")
        input_size = cells[0].input_size
        for layer in range(1, len(cells)):
            expected = cells[layer - 1].hidden_size + (input_size if skip_connections else 0)
            if cells[layer].input_size != expected:
                raise ValueError(f"cells: expected layer {layer}'s input_size = {expected} (layer {layer - 1}'s "
                                 f"hidden_size{' + D' if skip_connections else ''}), got {cells[layer].input_size}")
        self.cells = nn.ModuleList(cells)
        self.skip_connections = skip_connections
        self.input_size = input_size
        top = sum(c.hidden_size for c in cells) if skip_connections else cells[-1].hidden_size
        self.top_size = top
        self.embedding = nn.Embedding(vocab_size, input_size) if vocab_size is not None else None
        self.readout = Readout(top, output_size) if output_size is not None else None

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple:
        """One initial state per layer."""
        return tuple(cell.initial_state(batch_size, device=device, dtype=dtype) for cell in self.cells)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: tuple | None = None,
                targets: Tensor | None = None) -> tuple[Tensor, tuple]:
        xs = embed_inputs(self.embedding, inputs, self.input_size)  # (B, T, D)
        if state is not None and (not isinstance(state, tuple) or len(state) != len(self.cells)):
            raise ValueError(f"state: expected a tuple of {len(self.cells)} layer states, got {type(state).__name__}")
        states = state if state is not None else (None,) * len(self.cells)
        layer_input, hidden, finals = xs, [], []
        for cell, layer_state in zip(self.cells, states):
            ys, final = unroll(cell, layer_input, layer_state, lengths=lengths)
            h = tree_leaves(ys)[0]  # (B, T, H_l): the cell's h(t)
            hidden.append(h)
            finals.append(final)
            layer_input = torch.cat([xs, h], -1) if self.skip_connections else h  # (B, T, D + H_l) or (B, T, H_l)
        top = torch.cat(hidden, -1) if self.skip_connections else hidden[-1]  # (B, T, top_size)
        if self.readout is None:
            return top, tuple(finals)
        checked = check_lengths(lengths, xs.shape[0], xs.shape[1], xs.device)
        return zero_past_lengths(self.readout(top), checked), tuple(finals)  # (B, T, O)

    def step(self, inputs_t: Tensor, state: tuple) -> tuple[Tensor, tuple]:
        """One step through every layer, for decoding: ``inputs_t (B,)`` ids or ``(B, D)`` -> ``(o_t, state)``."""
        x_t = embed_inputs(self.embedding, inputs_t.unsqueeze(1), self.input_size)[:, 0]  # (B, D)
        layer_input, hidden, finals = x_t, [], []
        for cell, layer_state in zip(self.cells, state):
            y_t, new_state = cell(layer_input, layer_state)
            h = tree_leaves(y_t)[0]  # (B, H_l)
            hidden.append(h)
            finals.append(new_state)
            layer_input = torch.cat([x_t, h], -1) if self.skip_connections else h
        top = torch.cat(hidden, -1) if self.skip_connections else hidden[-1]  # (B, top_size)
        return (top if self.readout is None else self.readout(top)), tuple(finals)


class DeepRNN(nn.Module):
    """An RNN deep in the three places the book names (Fig. 10.13b-c; Pascanu et al. 2014, DOT(S)-RNN).

    - input-to-hidden: x'(t) = MLP_in(x(t)), ``input_layers`` tanh layers of width H (0: x' = x);
    - hidden-to-hidden: h(t) = :class:`~recnets.cells.deep_transition.DeepTransitionCell` of depth
      ``transition_depth`` on (h(t-1), x'(t)), with the shortcut from h(t-1) when ``shortcut`` (Fig. 10.13c);
    - hidden-to-output: o(t) = c + V MLP_out(h(t)), ``output_layers`` tanh layers of width H (0: o = c + V h).

    Args:
        input_size: D; hidden_size: H; output_size: O.
        input_layers, transition_depth, output_layers: the depth of each part (>= 0, >= 1, >= 0).
        shortcut: the skip connection in the hidden-to-hidden path.
        vocab_size: when given, inputs are token ids embedded into D.

    Shapes:
        inputs (B, T) ids or (B, T, D); outputs o (B, T, O), zero past each length; state ``Hidden(h (B, H))``.

    Book: 10.5, Fig. 10.13b-c.
    Deviations: every intermediate layer is tanh; Pascanu et al. choose each layer's nonlinearity (they
    use rectifiers or maxout in places). The input MLP is applied to every step before the time loop.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, input_layers: int = 1,
                 transition_depth: int = 2, output_layers: int = 1, shortcut: bool = False,
                 vocab_size: int | None = None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        for name, value in (("input_layers", input_layers), ("output_layers", output_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        self.input_size = input_size
        self.embedding = nn.Embedding(vocab_size, input_size) if vocab_size is not None else None
        widths = [input_size] + [hidden_size] * input_layers
        self.input_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.cell = DeepTransitionCell(widths[-1], hidden_size, depth=transition_depth, shortcut=shortcut)
        self.output_mlp = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(output_layers))
        self.readout = Readout(hidden_size, output_size)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Any:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, Any]:
        xs = embed_inputs(self.embedding, inputs, self.input_size)  # (B, T, D)
        for layer in self.input_mlp:
            xs = torch.tanh(layer(xs))  # (B, T, H)
        hs, final = unroll(self.cell, xs, state, lengths=lengths)  # (B, T, H)
        for layer in self.output_mlp:
            hs = torch.tanh(layer(hs))  # (B, T, H)
        checked = check_lengths(lengths, xs.shape[0], xs.shape[1], xs.device)
        return zero_past_lengths(self.readout(hs), checked), final  # (B, T, O)

    def step(self, inputs_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One step for decoding: ``inputs_t (B,)`` ids or ``(B, D)`` -> ``(o_t (B, O), state)``."""
        x_t = embed_inputs(self.embedding, inputs_t.unsqueeze(1), self.input_size)[:, 0]  # (B, D)
        for layer in self.input_mlp:
            x_t = torch.tanh(layer(x_t))  # (B, H)
        h, state = self.cell(x_t, state)  # (B, H)
        for layer in self.output_mlp:
            h = torch.tanh(layer(h))
        return self.readout(h), state
