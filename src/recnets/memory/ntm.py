"""The neural Turing machine as a cell: a controller that reads and writes an external memory through heads
addressed by content and location (Graves, Wayne & Danihelka 2014).

Book: 10.12 (explicit memory: a network that learns to store and recall with soft, differentiable addressing).

One step, for B sequences at once:

1. The controller (an LSTM, or a tanh layer for the feed-forward variant) reads [x(t); r(t-1)], the input and
   the previous step's read vectors, and emits h(t).
2. A linear layer maps h(t) to every head's parameters: key k, strength β = softplus, gate g = σ, shift
   distribution s = softmax over -S..S, sharpening γ = 1 + softplus; the write heads also erase e = σ and
   add a = tanh.
3. Each head's weighting: content focus on M(t-1), interpolation with its previous weighting, circular
   shift, sharpening (:mod:`recnets.memory.addressing`).
4. The read heads read M(t-1); then the write heads erase and add, giving M(t).

The cell emits y(t) = [h(t); r(t)] (B, H + R·W), what a readout turns into the output. The memory and the
weightings live in the state (:class:`NTMState`), so a run's states show where it read and wrote.

Deviations (stated, not hidden): the memory starts as a small constant (1e-6 everywhere: Collier & Beel 2018,
whose constant initialisation converged fastest and most reliably) and every head's first weighting puts all
its mass on row 0; the reads of a step see the memory before that step's writes (the paper leaves the order
open); sharpening runs in log space and cosine similarity has an ε (numerical stability). Element-wise
gradient clipping, as in the paper, is the trainer's ``clip_value``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.cells.lstm import LSTMCell
from recnets.core.cell import Cell
from recnets.core.state import Hidden
from recnets.memory.addressing import content_weights, interpolate, read, sharpen, shift, write

__all__ = ["NTMCell", "NTMState", "MEMORY_INIT"]

MEMORY_INIT = 1e-6


class NTMState(NamedTuple):
    """The NTM's state: the controller's state, the memory M (B, N, W), the read heads' weightings
    (B, R, N), the write heads' weightings (B, Wh, N) and the last read vectors (B, R, W)."""

    controller: Any
    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    reads: Tensor


class NTMCell(Cell):
    """A neural Turing machine with an LSTM or feed-forward controller, R read heads and Wh write heads.

    Args:
        input_size: D.
        controller_size: H, the controller's width.
        memory_rows: N; memory_width: W.
        read_heads: R; write_heads: Wh.
        shift_range: S (shifts -S..S; 1 in the paper's experiments).
        controller: ``"lstm"`` or ``"feedforward"`` (h = tanh(U [x; r] + b)).

    Shapes:
        step: px_t (B, 4H) for the LSTM controller ((B, H) feed-forward), state :class:`NTMState` ->
        y(t) = [h(t); r(t)] (B, H + R·W). ``hidden_size`` is that width.

    Book: 10.12.
    """

    def __init__(self, input_size: int, controller_size: int = 100, *, memory_rows: int = 128, memory_width: int = 20,
                 read_heads: int = 1, write_heads: int = 1, shift_range: int = 1, controller: str = "lstm",
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, controller_size=controller_size, memory_rows=memory_rows,
                    memory_width=memory_width, read_heads=read_heads, write_heads=write_heads)
        if isinstance(shift_range, bool) or not isinstance(shift_range, int) or shift_range < 0:
            raise ValueError(f"shift_range: expected a non-negative integer, got {shift_range!r}")
        if controller not in ("lstm", "feedforward"):
            raise ValueError(f"controller: expected 'lstm' or 'feedforward', got {controller!r}")
        self.input_size, self.controller_size = input_size, controller_size
        self.memory_rows, self.memory_width, self.shift_range = memory_rows, memory_width, shift_range
        self.read_heads, self.write_heads, self.controller_kind = read_heads, write_heads, controller
        self.hidden_size = controller_size + read_heads * memory_width
        factory = {"device": device, "dtype": dtype}
        reads_in = read_heads * memory_width
        if controller == "lstm":
            self.controller = LSTMCell(input_size + reads_in, controller_size, **factory)
        else:
            self.controller = None
            self.U = uniform_parameter(controller_size, input_size + reads_in, hidden_size=controller_size, **factory)
            self.b = uniform_parameter(controller_size, hidden_size=controller_size, **factory)
        # per head: key W, β, g, 2S + 1 shift weights, γ; write heads add erase W and add W
        self.address_size = memory_width + 3 + 2 * shift_range + 1
        emitted = (read_heads + write_heads) * self.address_size + 2 * write_heads * memory_width
        self.heads = nn.Linear(controller_size, emitted, **factory)

    def _input_weights(self) -> tuple[Tensor, Tensor]:
        """The controller's input weights split into the x part (G, D) and the reads part (G, R·W)."""
        weight = self.controller.U if self.controller is not None else self.U
        return weight[:, :self.input_size], weight[:, self.input_size:]

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> NTMState:
        factory = self._default_factory(device, dtype)
        if self.controller is not None:
            controller = self.controller.initial_state(batch_size, **factory)
        else:
            controller = Hidden(torch.zeros(batch_size, self.controller_size, **factory))
        memory = torch.full((batch_size, self.memory_rows, self.memory_width), MEMORY_INIT, **factory)

        def first(heads: int) -> Tensor:  # all mass on row 0
            weights = torch.zeros(batch_size, heads, self.memory_rows, **factory)
            weights[..., 0] = 1.0
            return weights

        reads = torch.zeros(batch_size, self.read_heads, self.memory_width, **factory)
        return NTMState(controller, memory, first(self.read_heads), first(self.write_heads), reads)

    def project(self, xs: Tensor) -> Tensor:
        x_part, _ = self._input_weights()
        bias = self.controller.b_U if self.controller is not None else self.b
        return nn.functional.linear(xs, x_part, bias)  # (..., 4H) or (..., H)

    def _address(self, params: Tensor, memory: Tensor, previous: Tensor) -> Tensor:
        """Weightings (B, Hd, N) from the heads' raw parameters (B, Hd, address_size)."""
        width, reach = self.memory_width, 2 * self.shift_range + 1
        key, beta, gate, shifts, gamma = params.split([width, 1, 1, reach, 1], dim=-1)
        focus = content_weights(memory, key, nn.functional.softplus(beta.squeeze(-1)))
        gated = interpolate(focus, previous, torch.sigmoid(gate.squeeze(-1)))
        shifted = shift(gated, torch.softmax(shifts, dim=-1))
        return sharpen(shifted, 1 + nn.functional.softplus(gamma.squeeze(-1)))

    def step(self, px_t: Tensor, state: NTMState, context: Any = None) -> tuple[Tensor, NTMState]:
        batch = px_t.shape[0]
        _, reads_part = self._input_weights()
        controller_in = torch.addmm(px_t, state.reads.reshape(batch, -1), reads_part.T)  # (B, 4H) or (B, H)
        if self.controller is not None:
            h, controller = self.controller.step(controller_in, state.controller)  # (B, H)
        else:
            h = torch.tanh(controller_in)
            controller = Hidden(h)
        emitted = self.heads(h)  # (B, ...)
        heads = self.read_heads + self.write_heads
        head_params, vectors = emitted.split([heads * self.address_size, 2 * self.write_heads * self.memory_width], 1)
        previous = torch.cat([state.read_weights, state.write_weights], dim=1)  # (B, R + Wh, N)
        # every head addressed in one call, all on M(t-1)
        weights = self._address(head_params.view(batch, heads, self.address_size), state.memory, previous)
        read_weights, write_weights = weights.split([self.read_heads, self.write_heads], dim=1)  # (B, R, N), (B, Wh, N)
        reads = read(state.memory, read_weights)  # (B, R, W): the memory before this step's writes
        erase, add = vectors.view(batch, self.write_heads, 2, self.memory_width).unbind(2)  # (B, Wh, W) each
        memory = write(state.memory, write_weights, torch.sigmoid(erase), torch.tanh(add))
        y = torch.cat([h, reads.reshape(batch, -1)], dim=1)  # (B, H + R·W)
        return y, NTMState(controller, memory, read_weights, write_weights, reads)
