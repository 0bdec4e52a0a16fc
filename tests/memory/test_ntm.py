"""The NTM cell: gradcheck through ``unroll`` (both controllers), heads' weightings on the simplex, the step
equals its parts composed by hand, and training on copy stays finite (the issue's reliability test)."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from conftest import assert_exact
from recnets.core import tree_leaves, unroll
from recnets.memory import NTMCell
from recnets.memory.addressing import content_weights, interpolate, read, sharpen, shift, write


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_gradcheck_through_unroll(controller):
    cell = NTMCell(2, 3, memory_rows=4, memory_width=3, read_heads=1, write_heads=2, controller=controller,
                   dtype=torch.float64)
    xs = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    parameters = list(cell.parameters())

    def function(xs, *params):
        ys, final = unroll(cell, xs)
        return ys, final.memory, final.read_weights

    assert gradcheck(function, (xs, *parameters), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_one_step_composes_the_addressing_equations():
    torch.manual_seed(3)
    cell = NTMCell(3, 5, memory_rows=6, memory_width=4, dtype=torch.float64)
    state = cell.initial_state(2)
    state = state._replace(memory=torch.randn(2, 6, 4, dtype=torch.float64))  # a memory with content
    x = torch.randn(2, 3, dtype=torch.float64)
    y, new = cell(x, state)
    # by hand: controller on [x; r(t-1)], heads' parameters, eqs. 5-9 for each head, read then write
    h, _ = cell.controller(torch.cat([x, state.reads.reshape(2, -1)], 1), state.controller)
    raw = cell.heads(h)
    size = cell.address_size

    def weighting(params, previous):
        key, beta, gate, shifts, gamma = params[:, :4], params[:, 4], params[:, 5], params[:, 6:9], params[:, 9]
        w = content_weights(state.memory, key[:, None], torch.nn.functional.softplus(beta)[:, None])
        w = interpolate(w, previous, torch.sigmoid(gate)[:, None])
        w = shift(w, torch.softmax(shifts, -1)[:, None])
        return sharpen(w, 1 + torch.nn.functional.softplus(gamma)[:, None])

    read_w = weighting(raw[:, :size], state.read_weights)
    write_w = weighting(raw[:, size:2 * size], state.write_weights)
    erase, add = torch.sigmoid(raw[:, 2 * size:2 * size + 4]), torch.tanh(raw[:, 2 * size + 4:])
    assert_exact(new.read_weights, read_w)
    assert_exact(new.memory, write(state.memory, write_w, erase[:, None], add[:, None]))
    assert_exact(y, torch.cat([h, read(state.memory, read_w).reshape(2, -1)], 1))


def test_weightings_stay_on_the_simplex_and_the_memory_starts_constant():
    cell = NTMCell(4, 8, memory_rows=10, memory_width=5, read_heads=2)
    state = cell.initial_state(3)
    assert torch.all(state.memory == 1e-6)
    _, final = unroll(cell, torch.randn(3, 12, 4))
    for weights in (final.read_weights, final.write_weights):
        assert torch.all(weights >= 0) and torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]))


def copy_batch(generator: torch.Generator, batch: int, bits: int, longest: int) -> tuple[torch.Tensor, ...]:
    """Graves et al.'s copy task: L random bit vectors, a delimiter, then L blank steps to recall them."""
    length = int(torch.randint(1, longest + 1, (), generator=generator))
    data = torch.randint(0, 2, (batch, length, bits), generator=generator).float()
    inputs = torch.zeros(batch, 2 * length + 1, bits + 1)
    inputs[:, :length, :bits] = data
    inputs[:, length, bits] = 1.0  # the delimiter channel
    return inputs, data, length


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_on_copy_stays_finite_and_learns(seed):
    torch.manual_seed(seed)
    bits = 4
    cell = NTMCell(bits + 1, 32, memory_rows=16, memory_width=8)
    readout = torch.nn.Linear(cell.hidden_size, bits)
    parameters = [*cell.parameters(), *readout.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(300):
        inputs, data, length = copy_batch(generator, 16, bits, 5)
        ys, _ = unroll(cell, inputs)
        logits = readout(ys[:, length + 1:])  # (B, L, bits): the recall phase
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, data)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(parameters, 10.0)  # element-wise, as in the paper
        optimizer.step()
        losses.append(loss.detach().item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert all(torch.isfinite(p).all() for p in parameters)
    assert sum(losses[-50:]) / 50 < 0.8 * sum(losses[:50]) / 50  # it learns something, not only survives


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="controller: expected 'lstm' or 'feedforward', got 'gru'"):
        NTMCell(3, 4, controller="gru")
    with pytest.raises(ValueError, match="shift_range: expected a non-negative integer, got -1"):
        NTMCell(3, 4, shift_range=-1)
    with pytest.raises(ValueError, match="memory_rows: expected a positive integer, got 0"):
        NTMCell(3, 4, memory_rows=0)
    assert len(tree_leaves(NTMCell(3, 4).initial_state(2))) == 6
