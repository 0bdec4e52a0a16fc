"""The clockwork RNN: hidden modules that tick at their own periods; slower modules feed faster ones.

Book: 10.9.3 (removing connections; multiple time scales, citing Koutník et al. 2014); 10.9 generally.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.bptt_elman import mixed_elman_sequence
from recnets.core.bptt_kernels import BPTTKernel, float_step_masks, register_bptt, time_major_projection
from recnets.core.cell import Cell

__all__ = ["ClockworkCell", "ClockworkState", "default_periods"]


class ClockworkState(NamedTuple):
    """State of a clockwork cell: ``h (B, H)`` and the index ``t (B,)`` of the step about to run.

    ``t`` counts whole steps (0, 1, 2, ...) as int64. Because it lives in the state, the module clocks
    survive truncated BPTT windows, lengths and decoding.

    Book: 10.9.3.
    """

    h: Tensor
    t: Tensor


def default_periods(hidden_size: int, modules: int = 4) -> list[int]:
    """Periods 1, 2, 4, ... for ``min(modules, hidden_size)`` modules (Koutník et al.'s exponential series).

    Book: 10.9.3.
    """
    check_sizes(hidden_size=hidden_size, modules=modules)
    return [2 ** i for i in range(min(modules, hidden_size))]


class ClockworkCell(Cell):
    """Clockwork RNN (Koutník et al. 2014): module i updates at step t only when t mod T_i = 0.

    The H hidden units are split into g modules (sizes as equal as possible, the first ones one unit larger
    when H is not a multiple of g). At step t (counting from 0, so every module runs at the first step),
    with a(t) = b + W h(t-1) + U x(t):

        h_i(t) = tanh(a_i(t))   if t mod T_i = 0,      h_i(t) = h_i(t-1)   otherwise.

    W keeps only the blocks W[i, j] (rows: module i receives, columns: module j sends) with i = j or
    T_i < T_j: every module is fully connected within itself and receives from the slower modules. The paper
    sorts modules by increasing period, which makes W block-**upper**-triangular ("the connections between
    modules propagate the hidden state right-to-left, from slower modules to faster modules"); with periods
    in increasing order, the blocks kept here are exactly those on and above the diagonal. Masked entries
    of W are zero and receive zero gradient.

    Args:
        input_size: D.
        hidden_size: H.
        periods: the modules' periods, positive integers; default :func:`default_periods` (1, 2, 4, 8).

    Parameters:
        U (H, D), W (H, H) (masked block-triangular), b (H); buffers ``mask`` (H, H) and ``unit_periods``
        (H,).

    Shapes:
        step: px_t (B, H), ``ClockworkState(h (B, H), t (B,))`` -> y_t = h(t) (B, H).

    Book: 10.9.3.
    Deviations: the paper's modules all have one size k; here sizes differ by one when g does not divide H.
    """

    U: Tensor
    W: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, periods: Sequence[int] | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        periods = default_periods(hidden_size) if periods is None else periods
        if isinstance(periods, (str, bytes)) or not isinstance(periods, Sequence) or len(periods) == 0:
            raise ValueError(f"periods: expected a non-empty sequence of positive integers, got {periods!r}")
        for period in periods:
            if isinstance(period, bool) or not isinstance(period, int) or period < 1:
                raise ValueError(f"periods: expected positive integers, got {period!r} in {list(periods)!r}")
        if len(periods) > hidden_size:
            raise ValueError(f"periods: expected at most hidden_size = {hidden_size} modules, got {len(periods)}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.periods = tuple(periods)
        base, extra = divmod(hidden_size, len(periods))
        self.module_sizes = tuple(base + (1 if i < extra else 0) for i in range(len(periods)))
        unit_periods = torch.tensor([p for p, size in zip(self.periods, self.module_sizes) for _ in range(size)])
        receives = unit_periods.unsqueeze(1)  # (H, 1): period of the receiving unit (row)
        sends = unit_periods.unsqueeze(0)  # (1, H): period of the sending unit (column)
        module_of = torch.repeat_interleave(torch.arange(len(periods)), torch.tensor(self.module_sizes))  # (H,)
        same_module = module_of.unsqueeze(1) == module_of.unsqueeze(0)  # (H, H)
        mask = same_module | (receives < sends)  # (H, H)
        factory_dtype = dtype or torch.get_default_dtype()
        self.register_buffer("mask", mask.to(device=device, dtype=factory_dtype))
        self.register_buffer("unit_periods", unit_periods.to(device=device, dtype=torch.long))
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(hidden_size, input_size, **factory)
        self.W = uniform_parameter(hidden_size, hidden_size, **factory)
        self.b = uniform_parameter(hidden_size, **factory)
        with torch.no_grad():
            self.W.mul_(self.mask)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> ClockworkState:
        factory = self._default_factory(device, dtype)
        return ClockworkState(torch.zeros(batch_size, self.hidden_size, **factory),
                              torch.zeros(batch_size, dtype=torch.long, device=factory["device"]))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., H): b + U x

    def active_units(self, t: Tensor) -> Tensor:
        """``(..., H)`` bool: unit j's module runs at step ``t (...)`` (t mod T_j = 0); ``t`` is (B,) or (T, B)."""
        return torch.remainder(t.unsqueeze(-1), self.unit_periods) == 0  # (..., H)

    def step(self, px_t: Tensor, state: ClockworkState, context: Any = None) -> tuple[Tensor, ClockworkState]:
        candidate = torch.tanh(torch.addmm(px_t, state.h, (self.W * self.mask).t()))  # (B, H)
        h = torch.where(self.active_units(state.t), candidate, state.h)  # (B, H): idle modules keep h(t-1)
        return h, ClockworkState(h, state.t + 1)


def _bptt_run(cell: ClockworkCell, xs: Tensor, state: ClockworkState,
              lengths: Tensor | None) -> tuple[Tensor, ClockworkState]:
    """The whole recurrence as one autograd Function (``recnets.core.bptt_elman``): λ(t) = 1 for the units
    whose module ticks at step t, else 0."""
    steps = xs.shape[1]
    clock = state.t.unsqueeze(0) + torch.arange(steps, device=xs.device).unsqueeze(1)  # (T, B): t of each step
    mix = cell.active_units(clock).to(xs.dtype)  # (T, B, H)
    masks = float_step_masks(lengths, steps, xs.dtype)  # (T, B, 1) or None
    if masks is not None:
        mix = mix * masks
    ys, h = mixed_elman_sequence(time_major_projection(cell, xs), cell.W * cell.mask, state.h, mix, masks)
    taken = steps if lengths is None else lengths
    return ys.transpose(0, 1), ClockworkState(h, state.t + taken)


register_bptt(ClockworkCell, lambda cell: BPTTKernel(_bptt_run))
