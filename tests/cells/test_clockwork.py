"""ClockworkCell against the clockwork equations written out module by module (float64, 1e-10): module i
updates at step t iff t mod T_i = 0, receives only from itself and slower modules; the clock survives
truncated BPTT and lengths; bad periods."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.cells import ClockworkCell, ClockworkState, default_periods
from recnets.core import detach_state, unroll

B, T, D = 2, 9, 2
PERIODS = (1, 2, 4)
SIZES = (2, 1, 1)  # H = 4 split over 3 modules: the first gets the extra unit
F64 = {"dtype": torch.float64}


def module_of_units():
    return [i for i, size in enumerate(SIZES) for _ in range(size)]


def clockwork_sequence(U, W, b, x, h, t0):
    """One sequence in plain floats; W used only where the paper connects module j -> module i."""
    modules = module_of_units()
    H = len(modules)
    outputs = []
    for step in range(x.shape[0]):
        t = t0 + step
        new = []
        for i in range(H):
            if t % PERIODS[modules[i]] != 0:
                new.append(h[i])  # idle module keeps its state
                continue
            a = float(b[i]) + sum(float(U[i, j]) * float(x[step, j]) for j in range(D))
            for j in range(H):
                if modules[i] == modules[j] or PERIODS[modules[i]] < PERIODS[modules[j]]:
                    a += float(W[i, j]) * h[j]
            new.append(math.tanh(a))
        h = new
        outputs.append(h)
    return outputs, h


def test_clockwork_matches_equations():
    cell = ClockworkCell(D, 4, periods=PERIODS, **F64)
    assert cell.module_sizes == SIZES
    with torch.no_grad():
        cell.W.copy_(torch.randn(4, 4, **F64))  # masked entries must not matter
    U, W, b = (p.detach() for p in (cell.U, cell.W, cell.b))
    xs = torch.randn(B, T, D, **F64)
    h0 = torch.randn(B, 4, **F64)
    t0 = torch.tensor([0, 3])  # the second row starts mid-cycle (an int64 step index)
    ys, final = unroll(cell, xs, ClockworkState(h0, t0))
    for row in range(B):
        outputs, h = clockwork_sequence(U, W, b, xs[row], h0[row].tolist(), int(t0[row]))
        assert_exact(ys[row].detach(), torch.tensor(outputs, **F64))
        assert_exact(final.h[row].detach(), torch.tensor(h, **F64))
    assert torch.equal(final.t, t0 + T)


def test_recurrent_matrix_is_block_upper_triangular_slower_feeds_faster():
    cell = ClockworkCell(D, 6, periods=(1, 2, 4), **F64)
    block = torch.ones(2, 2, **F64)
    expected = torch.cat([torch.cat([block, block, block], 1),
                          torch.cat([0 * block, block, block], 1),
                          torch.cat([0 * block, 0 * block, block], 1)], 0)
    assert_exact(cell.mask, expected)
    assert_exact((cell.W.detach() * (1 - expected)).abs().sum(), torch.zeros((), **F64))
    ys, _ = unroll(cell, torch.randn(B, T, D, **F64))
    ys.sum().backward()
    assert float((cell.W.grad * (1 - expected)).abs().sum()) == 0.0  # masked weights never learn
    assert float(cell.W.grad[expected.bool()].abs().min()) > 0.0  # every kept weight learns


def test_clock_survives_truncated_windows_and_lengths():
    cell = ClockworkCell(D, 4, periods=PERIODS, **F64)
    xs = torch.randn(B, T, D, **F64)
    ys, final = unroll(cell, xs)
    first, state = unroll(cell, xs[:, :3])
    second, final_split = unroll(cell, xs[:, 3:], detach_state(state))
    assert_exact(torch.cat([first, second], 1).detach(), ys.detach())
    assert_exact(final_split, final)
    _, ragged = unroll(cell, xs, lengths=torch.tensor([T, 5]))
    assert ragged.t.tolist() == [T, 5]


def test_default_periods_split_any_width():
    assert default_periods(8) == [1, 2, 4, 8]
    assert default_periods(2) == [1, 2]
    cell = ClockworkCell(3, 5)
    assert cell.periods == (1, 2, 4, 8) and cell.module_sizes == (2, 1, 1, 1)


def test_bad_periods_are_refused():
    for periods in ([1, 0], [2, -1], [1, 2.5], [True, 2], []):
        with pytest.raises(ValueError, match="^periods: expected"):
            ClockworkCell(D, 4, periods=periods)
    with pytest.raises(ValueError, match="^periods: expected a non-empty sequence"):
        ClockworkCell(D, 4, periods=4)
    with pytest.raises(ValueError, match="^periods: expected at most hidden_size = 4 modules, got 5"):
        ClockworkCell(D, 4, periods=[1, 2, 4, 8, 16])


def test_gradcheck_with_idle_steps():
    """float64 gradcheck through steps where some modules are idle (the registry-wide gradcheck draws a
    random t; here the clock starts at 0 and 3 so that every period is both active and idle)."""
    cell = ClockworkCell(D, 4, periods=PERIODS, **F64)
    xs = torch.randn(B, 4, D, **F64, requires_grad=True)
    h0 = torch.randn(B, 4, **F64, requires_grad=True)
    t0 = torch.tensor([0, 3])

    def function(xs, h0, *parameters):
        ys, final = unroll(cell, xs, ClockworkState(h0, t0))
        return ys, final.h

    assert torch.autograd.gradcheck(function, (xs, h0, *cell.parameters()), eps=1e-6, atol=1e-7)
