"""A straightforward neural Turing machine, one sequence at a time: the benchmark's baseline and an oracle.

Book: 10.12 (explicit memory).

What the public per-sequence NTM code does: one sequence, memory M (N, W), each head's weighting a vector
(N,), a Python loop over time and over heads, the circular shift as the paper's sum over shifts (eq. 8) with
index arithmetic, sharpening as powers (eq. 9). It runs on the parameters of a given
:class:`~recnets.memory.ntm.NTMCell` (read, not copied), so gradients flow into the cell's parameters and the
two can be compared number for number; nothing here calls the batched addressing functions or the
controller cell's ``step``.

Deviations: those of :class:`~recnets.memory.ntm.NTMCell` (constant memory start, first weightings on row 0,
reads of a step before its writes, ε in the cosine similarity), and sharpening of w̃ + ε (the batched cell's
log-space softmax of γ log(w̃ + ε) is the same number).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from recnets.memory.addressing import EPSILON
from recnets.memory.ntm import MEMORY_INIT, NTMCell

__all__ = ["SequenceMemory", "ntm_sequence"]


class SequenceMemory(NamedTuple):
    """One sequence's final memory M (N, W), read weightings (R, N) and write weightings (Wh, N)."""

    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor


def _weighting(cell: NTMCell, params: Tensor, memory: Tensor, previous: Tensor) -> Tensor:
    """One head's weighting (N,) from its raw parameters (address_size,), M(t-1) (N, W) and w(t-1) (N,)."""
    width, reach = cell.memory_width, cell.shift_range
    key, beta, gate = params[:width], F.softplus(params[width]), torch.sigmoid(params[width + 1])
    shifts = torch.softmax(params[width + 2:width + 3 + 2 * reach], dim=0)  # (2S + 1,): s(-S) .. s(S)
    gamma = 1 + F.softplus(params[width + 3 + 2 * reach])
    similarity = (memory @ key) / (key.norm() * memory.norm(dim=1) + EPSILON)  # (N,) eq. 6
    content = torch.softmax(beta * similarity, dim=0)  # eq. 5
    gated = gate * content + (1 - gate) * previous  # eq. 7
    rows = torch.arange(memory.shape[0], device=memory.device)
    shifted = torch.zeros_like(gated)
    for k in range(-reach, reach + 1):  # eq. 8: w̃(i) = Σ_k w_g(i - k mod N) s(k)
        shifted = shifted + gated[(rows - k) % memory.shape[0]] * shifts[k + reach]
    powered = (shifted + EPSILON) ** gamma  # eq. 9
    return powered / powered.sum()


def ntm_sequence(cell: NTMCell, xs: Tensor) -> tuple[Tensor, SequenceMemory]:
    """Run ``cell``'s NTM over one sequence, step by step and head by head.

    Args:
        cell: the NTM whose parameters are used (LSTM or feed-forward controller, any heads and shift range).
        xs: the sequence's inputs, no padding.

    Shapes:
        xs (T, D) -> ys (T, H + R·W), each y(t) = [h(t); r_1(t); ...; r_R(t)].

    Returns:
        ``(ys, SequenceMemory(memory (N, W), read_weights (R, N), write_weights (Wh, N)))`` after the last step.
    """
    if xs.dim() != 2 or xs.shape[1] != cell.input_size:
        raise ValueError(f"xs: expected shape (T, {cell.input_size}), got {tuple(xs.shape)}")
    rows, width, hidden = cell.memory_rows, cell.memory_width, cell.controller_size
    size, factory = cell.address_size, {"device": xs.device, "dtype": xs.dtype}
    memory = torch.full((rows, width), MEMORY_INIT, **factory)  # (N, W)
    first = torch.zeros(rows, **factory)
    first[0] = 1.0
    read_weights = [first] * cell.read_heads  # each (N,)
    write_weights = [first] * cell.write_heads
    reads = [torch.zeros(width, **factory)] * cell.read_heads  # each (W,)
    h = torch.zeros(hidden, **factory)
    c = torch.zeros(hidden, **factory)
    lstm = cell.controller
    ys = []
    for x in xs:
        controller_in = torch.cat([x, *reads])  # (D + R·W,)
        if lstm is not None:
            gates = lstm.U @ controller_in + lstm.b_U + lstm.W @ h + lstm.b_W  # (4H,)
            i, f, g, o = (gates[k * hidden:(k + 1) * hidden] for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)  # (H,)
        else:
            h = torch.tanh(cell.U @ controller_in + cell.b)  # (H,)
        emitted = cell.heads.weight @ h + cell.heads.bias  # heads' parameters, then erase/add vectors
        read_weights = [_weighting(cell, emitted[j * size:(j + 1) * size], memory, read_weights[j])
                        for j in range(cell.read_heads)]
        offset = cell.read_heads * size
        write_weights = [_weighting(cell, emitted[offset + j * size:offset + (j + 1) * size], memory,
                                    write_weights[j]) for j in range(cell.write_heads)]
        reads = [w @ memory for w in read_weights]  # eq. 2, each (W,): the memory before this step's writes
        vectors = offset + cell.write_heads * size
        erased, added = memory, torch.zeros_like(memory)
        for j, w in enumerate(write_weights):  # eqs. 3-4
            erase = torch.sigmoid(emitted[vectors + 2 * j * width:vectors + (2 * j + 1) * width])  # (W,)
            add = torch.tanh(emitted[vectors + (2 * j + 1) * width:vectors + (2 * j + 2) * width])  # (W,)
            erased = erased * (1 - torch.outer(w, erase))
            added = added + torch.outer(w, add)
        memory = erased + added  # (N, W)
        ys.append(torch.cat([h, *reads]))
    final = SequenceMemory(memory, torch.stack(read_weights), torch.stack(write_weights))
    return torch.stack(ys), final
