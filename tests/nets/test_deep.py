"""Stacked and DeepRNN against their equations written out step by step (float64, 1e-10); lengths and
state carrying; bad configurations."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact
from recnets.cells import ElmanCell, LSTMCell
from recnets.nets import DeepRNN, Stacked

B, T, D, H, O = 2, 5, 3, 4, 2
F64 = {"dtype": torch.float64}


def elman_steps(cell, xs):
    """h(t) = tanh(b + W h(t-1) + U x(t)) from zeros: (B, T, H)."""
    h = torch.zeros(xs.shape[0], cell.hidden_size, **F64)
    out = []
    for t in range(xs.shape[1]):
        h = torch.tanh(cell.b + h @ cell.W.t() + xs[:, t] @ cell.U.t())
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
def test_stacked_matches_layer_by_layer_equations(skip):
    first = ElmanCell(D, H, **F64)
    second = ElmanCell(H + (D if skip else 0), 3, **F64)
    model = Stacked([first, second], O, skip_connections=skip).double()
    xs = torch.randn(B, T, D, **F64)
    outputs, final = model(xs)
    h1 = elman_steps(first, xs)  # (B, T, H)
    h2 = elman_steps(second, torch.cat([xs, h1], -1) if skip else h1)  # (B, T, 3)
    top = torch.cat([h1, h2], -1) if skip else h2
    expected = model.readout.c + top @ model.readout.V.t()  # o = c + V [h^1, h^2] or c + V h^2
    assert_exact(outputs.detach(), expected.detach())
    assert_exact(final[0].h.detach(), h1[:, -1].detach())
    assert_exact(final[1].h.detach(), h2[:, -1].detach())


def test_stacked_carries_state_and_respects_lengths():
    model = Stacked([LSTMCell(D, H, **F64), ElmanCell(H, H, **F64)], O).double()
    xs = torch.randn(B, T, D, **F64)
    whole, final = model(xs)
    first, state = model(xs[:, :2])
    second, final_split = model(xs[:, 2:], state=state)
    assert_exact(torch.cat([first, second], 1).detach(), whole.detach())
    assert_exact(final_split, final)
    ragged, final_ragged = model(xs, lengths=torch.tensor([T, 3]))
    short, final_short = model(xs[1:, :3])
    assert_exact(ragged[1, :3].detach(), short[0].detach())
    assert float(ragged[1, 3:].detach().abs().sum()) == 0.0
    assert_exact(final_ragged[1].h[1].detach(), final_short[1].h[0].detach())
    hidden, _ = Stacked([ElmanCell(D, H, **F64)])(xs)  # no readout: the hidden sequence itself
    assert hidden.shape == (B, T, H)


def test_deep_rnn_matches_equations():
    model = DeepRNN(D, H, O, input_layers=1, transition_depth=2, output_layers=1, shortcut=True).double()
    xs = torch.randn(B, T, D, **F64)
    outputs, final = model(xs)
    cell, lin_in, lin_out = model.cell, model.input_mlp[0], model.output_mlp[0]
    h = torch.zeros(B, H, **F64)
    expected = []
    for t in range(T):
        x_deep = torch.tanh(lin_in.bias + xs[:, t] @ lin_in.weight.t())  # input-to-hidden MLP
        z1 = torch.tanh(cell.b + h @ cell.W.t() + x_deep @ cell.U.t())  # transition layer 1
        h = torch.tanh(cell.b_layers[0] + z1 @ cell.W_layers[0].t() + h @ cell.W_skip.t())  # layer 2 + shortcut
        hidden_out = torch.tanh(lin_out.bias + h @ lin_out.weight.t())  # hidden-to-output MLP
        expected.append(model.readout.c + hidden_out @ model.readout.V.t())
    assert_exact(outputs.detach(), torch.stack(expected, 1).detach())
    assert_exact(final.h.detach(), h.detach())


def test_shallow_deep_rnn_is_an_elman_network():
    model = DeepRNN(D, H, O, input_layers=0, transition_depth=1, output_layers=0).double()
    xs = torch.randn(B, T, D, **F64)
    hs = elman_steps(model.cell, xs)
    assert_exact(model(xs)[0].detach(), (model.readout.c + hs @ model.readout.V.t()).detach())
    ids = torch.randint(0, 7, (B, T))
    outputs, _ = DeepRNN(D, H, O, vocab_size=7)(ids, lengths=torch.tensor([T, 2]))
    assert outputs.shape == (B, T, O) and float(outputs[1, 2:].detach().abs().sum()) == 0.0


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="^cells: expected layer 1's input_size = 4"):
        Stacked([ElmanCell(D, H), ElmanCell(D, H)])
    with pytest.raises(ValueError, match=r"^cells: expected layer 1's input_size = 7 \(layer 0's hidden_size \+ D\)"):
        Stacked([ElmanCell(D, H), ElmanCell(H, H)], skip_connections=True)
    with pytest.raises(TypeError, match="^cells: expected a non-empty sequence of Cell"):
        Stacked([])
    with pytest.raises(ValueError, match="^state: expected a tuple of 2 layer states"):
        Stacked([ElmanCell(D, H), ElmanCell(H, H)])(torch.randn(B, T, D), state=ElmanCell(D, H).initial_state(B))
    with pytest.raises(ValueError, match="^input_layers: expected an integer >= 0"):
        DeepRNN(D, H, O, input_layers=-1)
    with pytest.raises(ValueError, match="^depth: expected a positive integer"):
        DeepRNN(D, H, O, transition_depth=0)


@pytest.mark.parametrize("kind", ["stacked-skip", "deep"])
def test_step_by_step_equals_the_whole_sequence(kind):
    """``model.step`` (decoding) gives the outputs and state of one call on the whole sequence."""
    if kind == "deep":
        model = DeepRNN(D, H, O, shortcut=True, vocab_size=7).double()
    else:
        model = Stacked([LSTMCell(D, H, **F64), ElmanCell(H + D, 3, **F64)], O, vocab_size=7,
                        skip_connections=True).double()
    ids = torch.randint(0, 7, (B, T))
    whole, final = model(ids)
    state = model.initial_state(B, dtype=torch.float64)
    outputs = []
    for t in range(T):
        o_t, state = model.step(ids[:, t], state)
        outputs.append(o_t)
    assert_exact(torch.stack(outputs, 1).detach(), whole.detach())
    assert_exact(state, final)
