"""A forward RNN that answers late: the output for step t is read at step t + d, after d more inputs.

The way a causal network gets right context without reading backwards (Schuster & Paliwal 1997, the
baseline of bidirectional RNNs): each sequence is extended by d pad steps after its own end, the network
runs over the T + d steps, and its outputs are shifted back by d.

Book: 10.3 (a unidirectional RNN can only use the past, unless its output is delayed).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from recnets.core.lengths import check_lengths, step_masks

__all__ = ["DelayedOutput"]


class DelayedOutput(nn.Module):
    """Wrap a network with an output every step so that its output for t comes from step t + ``delay``.

    Args:
        net: ``net(inputs, *, lengths, state) -> (outputs (B, T', O), final)`` with an output every step
            (e.g. :class:`~recnets.nets.patterns.OutputEveryStep`).
        delay: d >= 0 (0 returns ``net``'s outputs unchanged).
        pad: what the net reads after each sequence's end: a token id for id inputs, a number for every
            component of real inputs.

    Shapes:
        inputs (B, T) ids or (B, T, D); lengths (B,); the net runs on (B, T + d[, D]) with lengths + d;
        outputs (B, T, O), row b's step t being the net's step t + d (zero past each length).

    Book: 10.3.
    Deviations: the pad steps replace whatever the batch holds past each sequence's end, so a padded batch
    and each sequence alone give the same outputs. The final state is the state after the d pad steps.
    """

    def __init__(self, net: nn.Module, delay: int, *, pad: float | int = 0) -> None:
        super().__init__()
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            raise ValueError(f"delay: expected an integer >= 0, got {delay!r}")
        if isinstance(pad, bool) or not isinstance(pad, (int, float)):
            raise ValueError(f"pad: expected a number or a token id, got {pad!r}")
        self.net = net
        self.delay = delay
        self.pad = pad

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Any:
        return self.net.initial_state(batch_size, device=device, dtype=dtype)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, Any]:
        if self.delay == 0:
            return self.net(inputs, lengths=lengths, state=state)
        if inputs.dim() < 2:
            raise ValueError(f"inputs: expected shape (B, T) or (B, T, D), got {tuple(inputs.shape)}")
        batch, steps, d = inputs.shape[0], inputs.shape[1], self.delay
        checked = check_lengths(lengths, batch, steps, inputs.device)
        pad = torch.full((), self.pad, dtype=inputs.dtype, device=inputs.device)
        extended = torch.cat([inputs, pad.expand(batch, d, *inputs.shape[2:])], 1)  # (B, T + d[, D])
        extended_lengths = None
        if checked is not None:  # the pads go right after each sequence's own end
            real = step_masks(checked, steps + d).t()  # (B, T + d)
            extended = torch.where(real.view(batch, steps + d, *([1] * (inputs.dim() - 2))), extended, pad)
            extended_lengths = checked + d
        outputs, final = self.net(extended, lengths=extended_lengths, state=state)  # (B, T + d, O)
        return outputs[:, d:], final  # (B, T, O)
