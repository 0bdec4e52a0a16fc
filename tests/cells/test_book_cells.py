"""BookLSTMCell and BookGRUCell against eqs. 10.40-10.47 written out unit by unit (float64, 1e-10).

The oracle draws one matrix per gate (U_f, W_f, b_f, ...) independently, copies them into the cell, and
computes every unit i with explicit sums over j, as the book prints them.
"""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from recnets.cells import BookGRUCell, BookLSTMCell, LSTMState
from recnets.core import Hidden, unroll

B, T, D, H = 2, 4, 3, 3
F64 = {"dtype": torch.float64}


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def affine(b, U, W, x, h, i):
    """b_i + Σ_j U_ij x_j + Σ_j W_ij h_j for one unit i (plain Python floats)."""
    return float(b[i]) + sum(float(U[i, j]) * float(x[j]) for j in range(len(x))) \
        + sum(float(W[i, j]) * float(h[j]) for j in range(len(h)))


def gate_params():
    return {"U": torch.randn(H, D, **F64), "W": torch.randn(H, H, **F64), "b": torch.randn(H, **F64)}


def book_lstm_sequence(gates, x, h, s, peep, activation):
    """One sequence through eqs. 10.40-10.44, unit by unit. ``gates`` maps f, g, input, o to U, W, b."""
    outputs = []
    for t in range(x.shape[0]):
        f = [sigmoid(affine(gates["f"]["b"], gates["f"]["U"], gates["f"]["W"], x[t], h, i)
                     + (float(peep[0][i]) * s[i] if peep else 0.0)) for i in range(H)]  # (10.40)
        g = [sigmoid(affine(gates["g"]["b"], gates["g"]["U"], gates["g"]["W"], x[t], h, i)
                     + (float(peep[1][i]) * s[i] if peep else 0.0)) for i in range(H)]  # (10.42)
        unit = [activation(affine(gates["input"]["b"], gates["input"]["U"], gates["input"]["W"], x[t], h, i))
                for i in range(H)]
        s = [f[i] * s[i] + g[i] * unit[i] for i in range(H)]  # (10.41)
        q = [sigmoid(affine(gates["o"]["b"], gates["o"]["U"], gates["o"]["W"], x[t], h, i)
                     + (float(peep[2][i]) * s[i] if peep else 0.0)) for i in range(H)]  # (10.44)
        h = [math.tanh(s[i]) * q[i] for i in range(H)]  # (10.43)
        outputs.append(h)
    return outputs, h, s


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("peepholes", [False, True])
def test_book_lstm_matches_equations(peepholes, activation):
    cell = BookLSTMCell(D, H, peepholes=peepholes, input_activation=activation, **F64)
    gates = {name: gate_params() for name in ("f", "g", "input", "o")}
    peep = [torch.randn(H, **F64) for _ in range(3)] if peepholes else None
    with torch.no_grad():
        cell.U.copy_(torch.cat([gates[n]["U"] for n in ("f", "g", "input", "o")]))
        cell.W.copy_(torch.cat([gates[n]["W"] for n in ("f", "g", "input", "o")]))
        cell.b.copy_(torch.cat([gates[n]["b"] for n in ("f", "g", "input", "o")]))
        if peepholes:
            cell.p.copy_(torch.stack(peep))
    # the book's names are views on the stacked parameters
    assert_exact(cell.U_f.detach(), gates["f"]["U"])
    assert_exact(cell.W_g.detach(), gates["g"]["W"])
    assert_exact(cell.b_o.detach(), gates["o"]["b"])
    assert_exact(cell.U_input.detach(), gates["input"]["U"])

    xs = torch.randn(B, T, D, **F64)
    state = LSTMState(torch.randn(B, H, **F64), torch.randn(B, H, **F64))
    ys, final = unroll(cell, xs, state)
    phi = sigmoid if activation == "sigmoid" else math.tanh
    for row in range(B):
        outputs, h, s = book_lstm_sequence(gates, xs[row], state.h[row].tolist(), state.c[row].tolist(), peep, phi)
        assert_exact(ys[row].detach(), torch.tensor(outputs, **F64))
        assert_exact(final.h[row].detach(), torch.tensor(h, **F64))
        assert_exact(final.c[row].detach(), torch.tensor(s, **F64))


def book_gru_sequence(gates, x, h, activation):
    """One sequence through eqs. 10.45-10.47, unit by unit. The book writes h(t) from u(t-1), r(t-1) and
    x(t-1); with x indexed from 0 here, step t reads x[t] and h(t-1) for all three."""
    outputs = []
    for t in range(x.shape[0]):
        u = [sigmoid(affine(gates["u"]["b"], gates["u"]["U"], gates["u"]["W"], x[t], h, i)) for i in range(H)]  # 10.46
        r = [sigmoid(affine(gates["r"]["b"], gates["r"]["U"], gates["r"]["W"], x[t], h, i)) for i in range(H)]  # 10.47
        reset_h = [r[j] * h[j] for j in range(H)]
        h = [u[i] * h[i] + (1 - u[i]) * activation(affine(gates["c"]["b"], gates["c"]["U"], gates["c"]["W"],
                                                           x[t], reset_h, i)) for i in range(H)]  # (10.45)
        outputs.append(h)
    return outputs, h


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_book_gru_matches_equations(activation):
    cell = BookGRUCell(D, H, candidate_activation=activation, **F64)
    gates = {name: gate_params() for name in ("u", "r", "c")}
    with torch.no_grad():
        cell.U.copy_(torch.cat([gates[n]["U"] for n in ("u", "r", "c")]))
        cell.b.copy_(torch.cat([gates[n]["b"] for n in ("u", "r", "c")]))
        cell.W_gates.copy_(torch.cat([gates["u"]["W"], gates["r"]["W"]]))
        cell.W.copy_(gates["c"]["W"])
    assert_exact(cell.U_r.detach(), gates["r"]["U"])
    assert_exact(cell.W_u.detach(), gates["u"]["W"])
    assert_exact(cell.b_candidate.detach(), gates["c"]["b"])

    xs = torch.randn(B, T, D, **F64)
    h0 = torch.randn(B, H, **F64)
    ys, final = unroll(cell, xs, Hidden(h0))
    phi = sigmoid if activation == "sigmoid" else math.tanh
    for row in range(B):
        outputs, h = book_gru_sequence(gates, xs[row], h0[row].tolist(), phi)
        assert_exact(ys[row].detach(), torch.tensor(outputs, **F64))
        assert_exact(final.h[row].detach(), torch.tensor(h, **F64))


def test_book_cells_reject_unknown_activations():
    with pytest.raises(ValueError, match="^input_activation:"):
        BookLSTMCell(D, H, input_activation="relu")
    with pytest.raises(ValueError, match="^candidate_activation:"):
        BookGRUCell(D, H, candidate_activation="relu")
