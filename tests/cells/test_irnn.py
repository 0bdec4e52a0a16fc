"""The identity-initialised ReLU RNN: W = I, b = 0 at initialisation; h(t) = relu(h(t-1) + U x(t)) written
out (float64, 1e-10); with zero input the state is carried unchanged; bad scale."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact
from recnets.cells import ElmanCell, identity_relu_rnn, make_cell
from recnets.core import Hidden, unroll
from recnets.core.fused import fused_kernel_for

B, T, D, H = 3, 6, 2, 4
F64 = {"dtype": torch.float64}


def test_irnn_initialisation_and_equations():
    cell = make_cell("irnn", D, H, **F64)
    assert isinstance(cell, ElmanCell) and cell.nonlinearity == "relu" and fused_kernel_for(cell) is not None
    assert_exact(cell.W.detach(), torch.eye(H, **F64))
    assert_exact(cell.b.detach(), torch.zeros(H, **F64))
    U = cell.U.detach()
    xs = torch.randn(B, T, D, **F64)
    h0 = torch.rand(B, H, **F64)
    h = h0.clone()
    expected = []
    for t in range(T):
        h = torch.clamp(h + xs[:, t] @ U.t(), min=0.0)  # relu(I h + U x + 0)
        expected.append(h)
    for backend in ("fused", "eager"):
        ys, final = unroll(cell, xs, Hidden(h0), backend=backend)
        assert_exact(ys.detach(), torch.stack(expected, 1))
        assert_exact(final.h.detach(), h)


def test_zero_input_carries_a_nonnegative_state_unchanged():
    cell = identity_relu_rnn(D, H, **F64)
    h0 = torch.rand(B, H, **F64)
    _, final = unroll(cell, torch.zeros(B, 50, D, **F64), Hidden(h0))
    assert_exact(final.h.detach(), h0)
    scaled = identity_relu_rnn(D, H, scale=0.5, **F64)
    assert_exact(scaled.W.detach(), 0.5 * torch.eye(H, **F64))


def test_bad_scale_is_refused():
    for scale in (0.0, -1.0, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="^scale: expected a finite number > 0"):
            identity_relu_rnn(D, H, scale=scale)
