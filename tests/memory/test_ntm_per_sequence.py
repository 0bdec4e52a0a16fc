"""The batched NTM cell against the straightforward per-sequence NTM (one sequence, one head at a time, the
shift as index arithmetic): equal outputs, final memories, weightings and parameter gradients (float64)."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact
from recnets.memory.addressing import write
from recnets.memory.ntm import NTMCell
from recnets.memory.ntm_per_sequence import ntm_sequence
from recnets.nets.patterns import OutputEveryStep

f64 = {"dtype": torch.float64}


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("read_heads, write_heads, shift_range", [(1, 1, 1), (2, 3, 1), (3, 2, 2)])
def test_batched_cell_equals_one_sequence_at_a_time(controller, read_heads, write_heads, shift_range):
    cell = NTMCell(3, 5, memory_rows=7, memory_width=4, read_heads=read_heads, write_heads=write_heads,
                   shift_range=shift_range, controller=controller, **f64)
    model = OutputEveryStep(cell, 2).to(torch.float64)
    with torch.no_grad():  # larger head parameters than the default init: sharper, more varied addressing
        cell.heads.weight.mul_(4.0)
    lengths = torch.tensor([6, 1, 4, 6, 3])
    inputs = torch.randn(5, 6, 3, **f64)
    weights = torch.randn(5, 6, 2, **f64)  # a summed loss that weighs every output differently
    parameters = list(model.parameters())

    outputs, final = model(inputs, lengths=lengths)
    batched_grads = torch.autograd.grad((outputs * weights).sum(), parameters)

    loss = 0.0
    for b, length in enumerate(lengths.tolist()):
        ys, memory = ntm_sequence(cell, inputs[b, :length])
        sequence_outputs = model.readout(ys)  # (T_b, O)
        assert_exact(outputs[b, :length], sequence_outputs)
        assert_exact(final.memory[b], memory.memory)
        assert_exact(final.read_weights[b], memory.read_weights)
        assert_exact(final.write_weights[b], memory.write_weights)
        assert_exact(final.reads[b].reshape(-1), ys[-1, cell.controller_size:])
        loss = loss + (sequence_outputs * weights[b, :length]).sum()
    sequence_grads = torch.autograd.grad(loss, parameters)
    assert_exact(list(batched_grads), list(sequence_grads))
    assert all(float(g.abs().max()) > 0 for g in sequence_grads)  # every parameter takes part


def test_the_shift_wraps_around_and_the_input_is_checked():
    cell = NTMCell(2, 3, memory_rows=4, memory_width=2, shift_range=1, controller="feedforward", **f64)
    with torch.no_grad():  # every head: no content, keep the previous weighting, shift by -1 surely, γ ≈ 1
        for parameter in cell.parameters():
            parameter.zero_()
        size = cell.address_size
        cell.heads.bias[size * 0 + 3] = -50.0  # gate g = σ(-50): the previous weighting
        cell.heads.bias[size * 1 + 3] = -50.0
        cell.heads.bias[size * 0 + 4] = 50.0  # s(-1) ≈ 1
        cell.heads.bias[size * 1 + 4] = 50.0
    with torch.no_grad():
        _, memory = ntm_sequence(cell, torch.zeros(1, 2, **f64))
    assert int(memory.read_weights[0].argmax()) == 3 and float(memory.read_weights[0, 3]) > 0.99  # 0 - 1 -> 3
    with pytest.raises(ValueError, match=r"xs: expected shape \(T, 2\), got \(1, 3\)"):
        ntm_sequence(cell, torch.zeros(1, 3, **f64))


def test_one_write_head_writes_as_the_equations_say():  # eqs. 3-4 with Wh = 1 (write's broadcast path)
    memory = torch.randn(2, 5, 3, **f64)
    weights = torch.softmax(torch.randn(2, 1, 5, **f64), -1)
    erase, add = torch.rand(2, 1, 3, **f64), torch.randn(2, 1, 3, **f64)
    expected = memory.clone()
    for b in range(2):
        for i in range(5):
            expected[b, i] = memory[b, i] * (1 - weights[b, 0, i] * erase[b, 0]) + weights[b, 0, i] * add[b, 0]
    assert_exact(write(memory, weights, erase, add), expected)
