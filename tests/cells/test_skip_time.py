"""SkipTimeCell against h(t) = tanh(b + W h(t-1) + W_skip h(t-d) + U x(t)) written out (float64, 1e-10); the
delay line carries h(t-1..t-d) across truncated windows; bad delays."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.cells import DelayLine, SkipTimeCell
from recnets.core import detach_state, unroll

B, T, D, H = 2, 7, 3, 3
F64 = {"dtype": torch.float64}


def skip_sequence(cell, x, past, delay):
    """One sequence in plain floats; ``past[k]`` = h(-1-k) for k < d (the initial delay line)."""
    U, W, W_skip, b = (p.detach() for p in (cell.U, cell.W, cell.W_skip, cell.b))
    hs = {-1 - k: [float(v) for v in past[k]] for k in range(delay)}
    for t in range(x.shape[0]):
        hs[t] = [math.tanh(float(b[i])
                           + sum(float(W[i, j]) * hs[t - 1][j] for j in range(H))
                           + sum(float(W_skip[i, j]) * hs[t - delay][j] for j in range(H))
                           + sum(float(U[i, j]) * float(x[t, j]) for j in range(D))) for i in range(H)]
    return hs


@pytest.mark.parametrize("delay", [1, 3])
def test_skip_time_matches_equations(delay):
    cell = SkipTimeCell(D, H, delay=delay, **F64)
    xs = torch.randn(B, T, D, **F64)
    past = torch.randn(B, delay, H, **F64)
    ys, final = unroll(cell, xs, DelayLine(past))
    for row in range(B):
        hs = skip_sequence(cell, xs[row], past[row], delay)
        assert_exact(ys[row].detach(), torch.tensor([hs[t] for t in range(T)], **F64))
        expected_line = torch.tensor([hs[T - 1 - k] for k in range(delay)], **F64)  # h(T-1), ..., h(T-d)
        assert_exact(final.history[row].detach(), expected_line)
        assert_exact(final.h[row].detach(), torch.tensor(hs[T - 1], **F64))


def test_delay_line_carries_across_truncated_windows():
    """Two windows with the state detached between them give the same numbers as one pass."""
    cell = SkipTimeCell(D, H, delay=3, **F64)
    xs = torch.randn(B, T, D, **F64)
    ys, final = unroll(cell, xs)
    first, state = unroll(cell, xs[:, :2])
    second, final_split = unroll(cell, xs[:, 2:], detach_state(state))
    assert_exact(torch.cat([first, second], 1).detach(), ys.detach())
    assert_exact(final_split.history.detach(), final.history.detach())


def test_bad_delays_are_refused():
    for delay in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="^delay: expected an integer d >= 1"):
            SkipTimeCell(D, H, delay=delay)


def test_gradcheck_through_the_skip():
    """float64 gradcheck with d < T, so that W_skip reads states computed in the sequence (the
    registry-wide gradcheck's T = 3 is shorter than the default delay)."""
    cell = SkipTimeCell(2, 2, delay=2, **F64)
    xs = torch.randn(B, 5, 2, **F64, requires_grad=True)
    past = torch.randn(B, 2, 2, **F64, requires_grad=True)

    def function(xs, past, *parameters):
        ys, final = unroll(cell, xs, DelayLine(past))
        return ys, final.history

    assert torch.autograd.gradcheck(function, (xs, past, *cell.parameters()), eps=1e-6, atol=1e-7)
