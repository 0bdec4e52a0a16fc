"""DeepTransitionCell against the L-layer transition written out (float64, 1e-10), with and without the
shortcut; depth 1 equals the Elman cell; bad arguments."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.cells import DeepTransitionCell, ElmanCell
from recnets.core import Hidden, unroll

B, T, D, H, M = 2, 4, 3, 3, 2
F64 = {"dtype": torch.float64}


def matvec(A, v):
    return [sum(float(A[i, j]) * v[j] for j in range(len(v))) for i in range(A.shape[0])]


def deep_transition_sequence(cell, x, h):
    """z_1 = tanh(b_1 + W h + U x); z_l = tanh(b_l + W_l z_{l-1}); h = z_L (+ W_skip h in the last layer)."""
    U, W, b = (p.detach() for p in (cell.U, cell.W, cell.b))
    outputs = []
    for t in range(x.shape[0]):
        xt = [float(v) for v in x[t]]
        z = [math.tanh(float(b[i]) + a + c) for i, (a, c) in enumerate(zip(matvec(W, h), matvec(U, xt)))]
        for layer, (W_l, b_l) in enumerate(zip(cell.W_layers, cell.b_layers), start=2):
            a = [float(b_l.detach()[i]) + v for i, v in enumerate(matvec(W_l.detach(), z))]
            if layer == cell.depth and cell.shortcut:
                a = [v + s for v, s in zip(a, matvec(cell.W_skip.detach(), h))]
            z = [math.tanh(v) for v in a]
        h = z
        outputs.append(h)
    return outputs, h


@pytest.mark.parametrize("depth, shortcut", [(2, False), (3, False), (3, True), (2, True)])
def test_deep_transition_matches_equations(depth, shortcut):
    cell = DeepTransitionCell(D, H, depth=depth, intermediate_size=M, shortcut=shortcut, **F64)
    assert [tuple(w.shape) for w in cell.W_layers] == [(M, M)] * (depth - 2) + [(H, M)]
    xs = torch.randn(B, T, D, **F64)
    h0 = torch.randn(B, H, **F64)
    ys, final = unroll(cell, xs, Hidden(h0))
    for row in range(B):
        outputs, h = deep_transition_sequence(cell, xs[row], h0[row].tolist())
        assert_exact(ys[row].detach(), torch.tensor(outputs, **F64))
        assert_exact(final.h[row].detach(), torch.tensor(h, **F64))


def test_depth_one_is_the_elman_cell():
    cell = DeepTransitionCell(D, H, depth=1, **F64)
    elman = ElmanCell(D, H, **F64)
    with torch.no_grad():
        for name in ("U", "W", "b"):
            getattr(elman, name).copy_(getattr(cell, name))
    xs = torch.randn(B, T, D, **F64)
    assert_exact(unroll(cell, xs)[0].detach(), unroll(elman, xs, backend="eager")[0].detach())


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="^depth: expected a positive integer"):
        DeepTransitionCell(D, H, depth=0)
    with pytest.raises(ValueError, match="^intermediate_size: expected a positive integer"):
        DeepTransitionCell(D, H, intermediate_size=0)
    with pytest.raises(ValueError, match="^shortcut: expected depth >= 2"):
        DeepTransitionCell(D, H, depth=1, shortcut=True)
    with pytest.raises(TypeError, match="^shortcut: expected a bool"):
        DeepTransitionCell(D, H, shortcut=1)
