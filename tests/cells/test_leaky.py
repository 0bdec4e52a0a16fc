"""LeakyCell against h(t) = (1 - 1/τ) h(t-1) + (1/τ) tanh(b + W h(t-1) + U x(t)) written out unit by unit
(float64, 1e-10); the learned-τ parametrisation; bad time constants."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.cells import LeakyCell, geometric_time_constants
from recnets.core import Hidden, unroll

B, T, D, H = 2, 5, 3, 4
F64 = {"dtype": torch.float64}


def leaky_sequence(U, W, b, tau, x, h):
    """One sequence, unit by unit, in plain floats."""
    outputs = []
    for t in range(x.shape[0]):
        v = [math.tanh(float(b[i]) + sum(float(W[i, j]) * h[j] for j in range(H))
                       + sum(float(U[i, j]) * float(x[t, j]) for j in range(D))) for i in range(H)]
        h = [(1 - 1 / float(tau[i])) * h[i] + (1 / float(tau[i])) * v[i] for i in range(H)]
        outputs.append(h)
    return outputs, h


@pytest.mark.parametrize("learn_tau", [False, True], ids=["fixed", "learned"])
def test_leaky_matches_equations(learn_tau):
    tau = [1.5, 2.0, 7.0, 30.0] if learn_tau else [1.0, 2.0, 7.0, 30.0]
    cell = LeakyCell(D, H, tau=tau, learn_tau=learn_tau, **F64)
    assert_exact(cell.tau.detach(), torch.tensor(tau, **F64), tol=1e-12)
    assert_exact(cell.alpha.detach(), 1 - 1 / torch.tensor(tau, **F64))
    xs = torch.randn(B, T, D, **F64)
    h0 = torch.randn(B, H, **F64)
    ys, final = unroll(cell, xs, Hidden(h0))
    for row in range(B):
        outputs, h = leaky_sequence(cell.U.detach(), cell.W.detach(), cell.b.detach(), tau, xs[row], h0[row].tolist())
        assert_exact(ys[row].detach(), torch.tensor(outputs, **F64))
        assert_exact(final.h[row].detach(), torch.tensor(h, **F64))


def test_tau_one_is_the_elman_cell_and_large_tau_remembers():
    cell = LeakyCell(D, H, tau=1.0, **F64)
    xs = torch.randn(B, T, D, **F64)
    h = torch.zeros(B, H, **F64)
    for t in range(T):
        h = torch.tanh(cell.b + h @ cell.W.t() + xs[:, t] @ cell.U.t())
    assert_exact(unroll(cell, xs)[1].h.detach(), h.detach())
    slow = LeakyCell(D, H, tau=1e6, **F64)
    h0 = torch.randn(B, H, **F64)
    change = float((unroll(slow, xs, Hidden(h0))[1].h.detach() - h0).abs().max())
    assert change <= T * (1 + float(h0.abs().max()) * 2) / 1e6  # each step moves h by at most |v - h| / τ


def test_learned_tau_gets_gradients_and_stays_above_one():
    cell = LeakyCell(D, H, tau=[1.01, 2.0, 3.0, 4.0], learn_tau=True, **F64)
    ys, _ = unroll(cell, torch.randn(B, T, D, **F64))
    ys.sum().backward()
    assert cell.rho.grad is not None and float(cell.rho.grad.abs().min()) > 0
    with torch.no_grad():
        cell.rho.fill_(-50.0)  # any ρ: τ stays >= 1
    assert float(cell.tau.detach().min()) >= 1.0


def test_geometric_time_constants():
    values = geometric_time_constants(5, largest=16.0)
    assert values == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0], rel=1e-12)
    assert geometric_time_constants(1) == [1.0]


def test_bad_time_constants_are_refused():
    with pytest.raises(ValueError, match="^tau: .*>= 1"):
        LeakyCell(D, H, tau=0.5)
    with pytest.raises(ValueError, match="^tau: .*>= 1"):
        LeakyCell(D, H, tau=[1.0, 2.0, float("nan"), 3.0])
    with pytest.raises(ValueError, match="^tau: expected one value or 4 values"):
        LeakyCell(D, H, tau=[2.0, 3.0])
    with pytest.raises(ValueError, match="^tau: expected every time constant > 1 when learn_tau"):
        LeakyCell(D, H, tau=1.0, learn_tau=True)
    with pytest.raises(TypeError, match="^tau: "):
        LeakyCell(D, H, tau="slow")
    with pytest.raises(TypeError, match="^learn_tau: "):
        LeakyCell(D, H, learn_tau="yes")
    with pytest.raises(ValueError, match="^largest: "):
        geometric_time_constants(4, largest=0.5)
