"""LayerNormLSTMCell against the layer-normalised LSTM of Ba, Kiros & Hinton (2016) written out from the
paper's equations with ``torch.nn.functional.layer_norm`` (float64, 1e-10), a float64 gradcheck of the step,
and its argument errors."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck
from torch.nn.functional import layer_norm

from conftest import assert_exact, ragged_lengths
from recnets.cells import LSTMState
from recnets.cells.layer_norm_lstm import LayerNormLSTMCell
from recnets.core import unroll

B, T, D, H = 3, 5, 4, 3
F64 = {"dtype": torch.float64}
EPS = 1e-5


def paper_parameters():
    """The paper's parameters, gates in its order (f, i, o, g), each drawn independently."""
    return {"W_h": torch.randn(4 * H, H, **F64), "W_x": torch.randn(4 * H, D, **F64),
            "alpha1": 1 + 0.3 * torch.randn(4 * H, **F64), "beta1": 0.3 * torch.randn(4 * H, **F64),
            "alpha2": 1 + 0.3 * torch.randn(4 * H, **F64), "beta2": 0.3 * torch.randn(4 * H, **F64),
            "b": 0.3 * torch.randn(4 * H, **F64),
            "alpha3": 1 + 0.3 * torch.randn(H, **F64), "beta3": 0.3 * torch.randn(H, **F64)}


def paper_sequence(params, xs, h, c):
    """(f, i, o, g) = LN(W_h h; α1, β1) + LN(W_x x; α2, β2) + b;  c = σ(f) c + σ(i) tanh(g);
    h = σ(o) tanh(LN(c; α3, β3)) — step by step, batch-first ``xs (B, T, D)``."""
    outputs = []
    for t in range(xs.shape[1]):
        summed = (layer_norm(h @ params["W_h"].t(), (4 * H,), params["alpha1"], params["beta1"], EPS)
                  + layer_norm(xs[:, t] @ params["W_x"].t(), (4 * H,), params["alpha2"], params["beta2"], EPS)
                  + params["b"])
        f, i, o, g = summed.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(layer_norm(c, (H,), params["alpha3"], params["beta3"], EPS))
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


def to_cell_order(vector):
    """Paper's gate blocks (f, i, o, g) -> the cell's (forget f, input gate g, candidate i, output q)."""
    f, i, o, g = vector.chunk(4, dim=0)
    return torch.cat([f, i, g, o])


def cell_from(params):
    cell = LayerNormLSTMCell(D, H, **F64)
    with torch.no_grad():
        cell.U.copy_(to_cell_order(params["W_x"]))
        cell.W.copy_(to_cell_order(params["W_h"]))
        cell.alpha_x.copy_(to_cell_order(params["alpha2"]))
        cell.alpha_h.copy_(to_cell_order(params["alpha1"]))
        cell.b.copy_(to_cell_order(params["beta1"] + params["beta2"] + params["b"]))  # their sum acts
        cell.alpha_c.copy_(params["alpha3"])
        cell.beta_c.copy_(params["beta3"])
    return cell


@pytest.mark.parametrize("backend", ["eager", "bptt"])
def test_matches_the_papers_equations(backend):
    params = paper_parameters()
    cell = cell_from(params)
    xs = torch.randn(B, T, D, **F64)
    h0, c0 = torch.randn(B, H, **F64), torch.randn(B, H, **F64)
    expected_ys, expected_h, expected_c = paper_sequence(params, xs, h0, c0)
    ys, final = unroll(cell, xs, LSTMState(h0, c0), backend=backend)
    assert_exact(ys, expected_ys)
    assert_exact(final, LSTMState(expected_h, expected_c))


def test_lengths_stop_each_row_at_its_own_end():
    params = paper_parameters()
    cell = cell_from(params)
    xs = torch.randn(B, T, D, **F64)
    lengths = ragged_lengths(B, T)
    ys, final = unroll(cell, xs, lengths=lengths, backend="bptt")
    zeros = torch.zeros(B, H, **F64)
    for row, length in enumerate(lengths.tolist()):
        expected_ys, h, c = paper_sequence(params, xs[row:row + 1, :length], zeros[:1], zeros[:1])
        assert_exact(ys[row, :length], expected_ys[0])
        assert_exact(LSTMState(final.h[row], final.c[row]), LSTMState(h[0], c[0]))


def test_project_normalises_every_step_at_once():
    """project: LN(U x(t); α_x) + b for all steps, equal to each step alone and to the formula written out."""
    cell = LayerNormLSTMCell(D, H, **F64)
    with torch.no_grad():
        cell.alpha_x.copy_(1 + 0.3 * torch.randn(4 * H, **F64))
    xs = torch.randn(B, T, D, **F64)
    per_step = torch.stack([cell.project(xs[:, t]) for t in range(T)], 1)
    assert_exact(cell.project(xs), per_step)
    product = xs @ cell.U.t()  # (B, T, 4H)
    mean = product.mean(-1, keepdim=True)
    sigma = ((product - mean).square().mean(-1, keepdim=True) + EPS).sqrt()
    assert_exact(cell.project(xs), cell.alpha_x * (product - mean) / sigma + cell.b)


def test_step_gradcheck_float64():
    cell = LayerNormLSTMCell(2, 3, **F64)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    x = torch.randn(2, 2, **F64, requires_grad=True)
    h, c = (torch.randn(2, 3, **F64, requires_grad=True) for _ in range(2))

    def function(x, h, c, *parameters):
        y, state = torch.func.functional_call(cell, dict(zip(dict(cell.named_parameters()), parameters)),
                                              (x, LSTMState(h, c)))
        return y, state.c

    assert gradcheck(function, (x, h, c, *cell.parameters()), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_size": 0}, "input_size: expected a positive integer"),
    ({"hidden_size": 2.5}, "hidden_size: expected a positive integer"),
    ({"forget_bias": float("nan")}, "forget_bias: expected a finite number"),
    ({"eps": 0.0}, "eps: expected a positive finite number"),
])
def test_mistakes_are_one_line_errors(kwargs, message):
    arguments = {"input_size": D, "hidden_size": H, **kwargs}
    with pytest.raises(ValueError, match=message):
        LayerNormLSTMCell(arguments.pop("input_size"), arguments.pop("hidden_size"), **arguments)
