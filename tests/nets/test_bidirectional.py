"""Bidirectional, BidirectionalRNN and DelayedOutput.

Oracles: torch.nn.LSTM / nn.GRU with ``bidirectional=True`` (one and two layers) and copied weights, ragged
through ``pack_padded_sequence`` (outputs, final states and every gradient, float64 to 1e-10); the
backward direction against a forward unroll of each sequence reversed within its own length; the readout
written out; float64 gradcheck through a custom (non-fused) cell with ragged lengths.
"""
from __future__ import annotations

import importlib
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from conftest import assert_exact, grads, ragged_lengths
from recnets.cells import GRUCell, LSTMCell, LSTMState
from recnets.cells.registry import cell_names, make_cell
from recnets.core import Cell, Hidden, unroll
from recnets.nets.bidirectional import Bidirectional, BidirectionalRNN, BidirectionalState, bidirectional_layers
from recnets.nets.delay import DelayedOutput
from recnets.nets.patterns import OutputEveryStep

B, T, D, H, O = 5, 7, 3, 4, 2
F64 = {"dtype": torch.float64}
KINDS = {"lstm": (LSTMCell, nn.LSTM), "gru": (GRUCell, nn.GRU)}
TORCH_NAMES = (("weight_ih", "U"), ("weight_hh", "W"), ("bias_ih", "b_U"), ("bias_hh", "b_W"))


def torch_twin(kind: str, layers: list[Bidirectional], num_layers: int) -> nn.Module:
    """torch's bidirectional module with our layers' weights copied in (direction 0 forward, 1 backward)."""
    module = KINDS[kind][1](D, H, num_layers=num_layers, batch_first=True, bidirectional=True, **F64)
    with torch.no_grad():
        for index, layer in enumerate(layers):
            for suffix, cell in ((f"_l{index}", layer.forward_cell), (f"_l{index}_reverse", layer.backward_cell)):
                for theirs, ours in TORCH_NAMES:
                    getattr(module, theirs + suffix).copy_(getattr(cell, ours))
    return module


def shaken(layers: list[Bidirectional]) -> None:
    """Move every parameter away from its init (e.g. the LSTM's forget bias of 1)."""
    with torch.no_grad():
        for layer in layers:
            for parameter in layer.parameters():
                parameter.uniform_(-0.8, 0.8)


def initial_states(kind: str, num_layers: int) -> tuple[tuple[BidirectionalState, ...], Any]:
    """Random initial states for both directions of every layer, ours and torch's (h0 or (h0, c0))."""
    h0 = 0.5 * torch.randn(2 * num_layers, B, H, **F64)
    c0 = 0.5 * torch.randn(2 * num_layers, B, H, **F64)
    ours = []
    for index in range(num_layers):
        pair = []
        for direction in (0, 1):
            row = 2 * index + direction
            pair.append(LSTMState(h0[row], c0[row]) if kind == "lstm" else Hidden(h0[row]))
        ours.append(BidirectionalState(*pair))
    return tuple(ours), ((h0, c0) if kind == "lstm" else h0)


def weighted_loss(outputs, finals, weights_y, weights_state):
    """Every output and every final-state unit weighted differently."""
    leaves = [leaf for final in finals for leaf in final]
    return (outputs * weights_y).sum() + sum((leaf * w).sum() for leaf, w in zip(leaves, weights_state))


def torch_finals(kind: str, final: Any, num_layers: int) -> list[Tensor]:
    """torch's (2L, B, H) final states in our order: per layer, forward then backward, h then c."""
    tensors = final if kind == "lstm" else (final,)
    out = []
    for index in range(num_layers):
        for direction in (0, 1):
            out.extend(t[2 * index + direction] for t in tensors)
    return out


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch_bidirectional(kind, ragged, num_layers):
    layers = bidirectional_layers(kind, D, H, layers=num_layers, dtype=torch.float64)
    shaken(layers)
    model = BidirectionalRNN(layers)  # no readout: the merged [h; g] of the top layer, torch's output
    module = torch_twin(kind, layers, num_layers)
    lengths = ragged_lengths(B, T) if ragged else None
    xs = torch.randn(B, T, D, **F64)
    ours_state, theirs_state = initial_states(kind, num_layers)
    weights_y = torch.randn(B, T, 2 * H, **F64)
    state_leaves = [leaf for pair in ours_state for leaf in pair]
    weights_state = [torch.randn(B, H, **F64) for _ in state_leaves]

    ours_x = xs.clone().requires_grad_()
    ours_state = tuple(BidirectionalState(*(type(s)(*(l.clone().requires_grad_() for l in s)) for s in pair))
                       for pair in ours_state)
    outputs, finals = model(ours_x, lengths=lengths, state=ours_state)
    weighted_loss(outputs, [[leaf for s in pair for leaf in s] for pair in finals], weights_y,
                  weights_state).backward()
    ours_grads = [getattr(cell, name).grad for layer in layers for cell in (layer.forward_cell, layer.backward_cell)
                  for _, name in TORCH_NAMES]
    ours_grads += grads([ours_x] + [leaf for pair in ours_state for s in pair for leaf in s])

    theirs_x = xs.clone().requires_grad_()
    theirs_state = tuple(t.clone().requires_grad_() for t in theirs_state) if kind == "lstm" else \
        theirs_state.clone().requires_grad_()
    if lengths is None:
        theirs, final = module(theirs_x, theirs_state)
    else:
        packed = pack_padded_sequence(theirs_x, lengths, batch_first=True, enforce_sorted=False)
        theirs, final = module(packed, theirs_state)
        theirs, _ = pad_packed_sequence(theirs, batch_first=True, total_length=T)
    theirs_finals = torch_finals(kind, final, num_layers)
    weighted_loss(theirs, [theirs_finals], weights_y, weights_state).backward()
    theirs_grads = [getattr(module, theirs_name + suffix).grad for index in range(num_layers)
                    for suffix in (f"_l{index}", f"_l{index}_reverse") for theirs_name, _ in TORCH_NAMES]
    initial = list(theirs_state) if kind == "lstm" else [theirs_state]
    per_leaf = [t.grad for t in initial]  # (2L, B, H) each, reordered like ours: layer, direction, h/c
    theirs_grads += [theirs_x.grad] + [g[2 * index + direction] for index in range(num_layers)
                                       for direction in (0, 1) for g in per_leaf]

    assert_exact(outputs.detach(), theirs.detach())
    assert_exact([leaf.detach() for pair in finals for s in pair for leaf in s],
                 [t.detach() for t in theirs_finals])
    assert_exact(ours_grads, theirs_grads)
    if ragged:  # the oracle really is ragged: zeros past each length
        assert float(theirs.detach()[lengths < T][:, -1].abs().sum()) == 0.0


def test_standard_cells_keep_their_fused_kernel(monkeypatch):
    layer = Bidirectional(LSTMCell(D, H), GRUCell(D, H))

    def refuse(*args, **kwargs):
        raise AssertionError("the eager loop ran for a standard cell")

    monkeypatch.setattr(importlib.import_module("recnets.core.unroll"), "_eager_unroll", refuse)
    outputs, _ = layer(torch.randn(B, T, D), lengths=ragged_lengths(B, T))
    assert outputs.shape == (B, T, 2 * H)


@pytest.mark.parametrize("backward_name", cell_names())
def test_backward_direction_is_a_forward_unroll_of_each_sequence_reversed(backward_name):
    """Any registered cell: g(t) of row b equals a plain forward unroll over x(len_b - 1), ..., x(0), read
    back in order; h(t) a forward unroll of the row alone."""
    layer = Bidirectional(make_cell("gru", D, H, **F64), make_cell(backward_name, D, H, **F64))
    xs, lengths = torch.randn(B, T, D, **F64), ragged_lengths(B, T)
    h, g, final = layer.directions(xs, lengths=lengths)
    for row, length in enumerate(lengths.tolist()):
        flipped = xs[row:row + 1, :length].flip(1)  # (1, len, D)
        ys, last = unroll(layer.backward_cell, flipped)
        assert_exact(g[row, :length].detach(), ys[0].flip(0).detach())
        assert_exact([leaf[row].detach() for leaf in final.backward], [leaf[0].detach() for leaf in last])
        forward_ys, forward_last = unroll(layer.forward_cell, xs[row:row + 1, :length])
        assert_exact(h[row, :length].detach(), forward_ys[0].detach())
        assert_exact([leaf[row].detach() for leaf in final.forward], [leaf[0].detach() for leaf in forward_last])
        assert float((g[row, length:].abs().sum() + h[row, length:].abs().sum()).detach()) == 0.0


def test_padding_does_not_change_the_real_outputs_and_rows_are_independent():
    model = BidirectionalRNN(bidirectional_layers("lstm", D, H, layers=2, **F64), O).double()
    xs, lengths = torch.randn(B, T, D, **F64), ragged_lengths(B, T)
    outputs, finals = model(xs, lengths=lengths)
    garbage = xs.clone()
    for row, length in enumerate(lengths.tolist()):
        garbage[row, length:] = 100.0 * torch.randn(T - length, D, **F64)
    longer = torch.cat([garbage, torch.randn(B, 3, D, **F64)], 1)  # more padding at the end
    padded, padded_finals = model(longer, lengths=lengths)
    assert_exact(padded[:, :T].detach(), outputs.detach())
    assert float(padded[:, T:].detach().abs().sum()) == 0.0
    assert_exact(padded_finals, finals)
    for row, length in enumerate(lengths.tolist()):
        alone, alone_finals = model(xs[row:row + 1, :length])
        assert_exact(outputs[row:row + 1, :length].detach(), alone.detach())
        assert_exact([leaf[row:row + 1] for leaf in padded_finals[0].backward], list(alone_finals[0].backward))


def test_readout_reads_the_concatenation_of_both_directions():
    """o(t) = c + V [h(t); g(t)] (Fig. 10.11), with ids through the embedding."""
    layer = Bidirectional(make_cell("elman", D, H, **F64), make_cell("lstm", D, 3, **F64))
    model = BidirectionalRNN(layer, O, vocab_size=6).double()
    ids, lengths = torch.randint(6, (B, T)), ragged_lengths(B, T)
    outputs, (final,) = model(ids, lengths=lengths)
    h, g, expected_final = layer.directions(model.embedding(ids), lengths=lengths)
    expected = model.readout.c + torch.cat([h, g], -1) @ model.readout.V.t()  # (B, T, O)
    real = (torch.arange(T) < lengths.unsqueeze(1)).unsqueeze(-1)
    assert_exact(outputs.detach(), (expected * real).detach())
    assert_exact(final, expected_final)
    assert model.readout.V.shape == (O, H + 3)


@pytest.mark.parametrize("merge", ["sum", "mean", "callable"])
def test_merges(merge):
    forward_cell, backward_cell = make_cell("gru", D, H, **F64), make_cell("elman", D, H, **F64)
    xs, lengths = torch.randn(B, T, D, **F64), ragged_lengths(B, T)
    if merge == "callable":
        layer = Bidirectional(forward_cell, backward_cell, merge=lambda h, g: h * g + 1.0, merged_size=H)
    else:
        layer = Bidirectional(forward_cell, backward_cell, merge=merge)
    merged, _ = layer(xs, lengths=lengths)
    h, g, _ = layer.directions(xs, lengths=lengths)
    expected = {"sum": h + g, "mean": (h + g) / 2, "callable": h * g + 1.0}[merge]
    real = (torch.arange(T) < lengths.unsqueeze(1)).unsqueeze(-1)
    assert_exact(merged.detach(), (expected * real).detach())  # a callable's output too is zero past each end
    assert layer.output_size == H


class ResidualCell(Cell):
    """A custom cell no fused kernel knows: h(t) = tanh(U x(t) + W h(t-1) + b) + h(t-1) / 2."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.U = nn.Parameter(0.5 * torch.randn(hidden_size, input_size, **F64))
        self.W = nn.Parameter(0.5 * torch.randn(hidden_size, hidden_size, **F64))
        self.b = nn.Parameter(0.5 * torch.randn(hidden_size, **F64))

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs):
        return nn.functional.linear(xs, self.U, self.b)

    def step(self, px_t, state, context=None):
        h = torch.tanh(px_t + state.h @ self.W.t()) + 0.5 * state.h
        return h, Hidden(h)


def test_gradcheck_through_a_custom_cell_with_ragged_lengths():
    model = BidirectionalRNN([Bidirectional(ResidualCell(2, 2), ResidualCell(2, 1)),
                              Bidirectional(ResidualCell(3, 2), ResidualCell(3, 2), merge="sum")], 1).double()
    names = [name for name, _ in model.named_parameters()]
    xs, lengths = torch.randn(2, 4, 2, **F64, requires_grad=True), torch.tensor([2, 4])

    def outputs(x, *parameters):
        out, finals = torch.func.functional_call(model, dict(zip(names, parameters)), (x,), {"lengths": lengths})
        return out, *[leaf for pair in finals for s in pair for leaf in s]

    parameters = [p.detach().clone().requires_grad_() for p in model.parameters()]
    assert torch.autograd.gradcheck(outputs, (xs, *parameters))


def test_bad_configurations():
    with pytest.raises(ValueError, match="merge: expected 'concat' for directions of different widths"):
        Bidirectional(LSTMCell(D, H), LSTMCell(D, H + 1), merge="sum")
    with pytest.raises(ValueError, match="merge: expected one of"):
        Bidirectional(LSTMCell(D, H), LSTMCell(D, H), merge="max")
    with pytest.raises(ValueError, match="merged_size: expected the width M"):
        Bidirectional(LSTMCell(D, H), LSTMCell(D, H), merge=torch.maximum)
    with pytest.raises(ValueError, match="backward_cell: expected input_size = 3"):
        Bidirectional(LSTMCell(D, H), LSTMCell(D + 1, H))
    with pytest.raises(TypeError, match="forward_cell: expected a Cell"):
        Bidirectional(nn.LSTM(D, H), LSTMCell(D, H))
    with pytest.raises(ValueError, match="layers: expected layer 1's input_size = 8"):
        BidirectionalRNN([Bidirectional(LSTMCell(D, H), LSTMCell(D, H)), Bidirectional(LSTMCell(H, H),
                                                                                       LSTMCell(H, H))])
    with pytest.raises(ValueError, match="merge: expected an output of shape"):
        Bidirectional(LSTMCell(D, H), LSTMCell(D, H), merge=torch.add, merged_size=H + 1)(torch.randn(B, T, D))
    model = BidirectionalRNN(bidirectional_layers("gru", D, H, layers=2), O)
    with pytest.raises(ValueError, match="state: expected a tuple of 2 BidirectionalStates"):
        model(torch.randn(B, T, D), state=model.initial_state(B)[0])


def test_delayed_output_answers_for_t_at_step_t_plus_d():
    net = OutputEveryStep(make_cell("lstm", D, H, **F64), O).double()
    xs, lengths, d = torch.randn(B, T, D, **F64), ragged_lengths(B, T), 3
    delayed, _ = DelayedOutput(net, d, pad=0.5)(xs, lengths=lengths)
    assert delayed.shape == (B, T, O)
    for row, length in enumerate(lengths.tolist()):
        alone = torch.cat([xs[row:row + 1, :length], torch.full((1, d, D), 0.5, **F64)], 1)  # pads after the end
        expected, _ = net(alone)
        assert_exact(delayed[row, :length].detach(), expected[0, d:].detach())
        assert float(delayed[row, length:].detach().abs().sum()) == 0.0
    same, _ = DelayedOutput(net, 0)(xs, lengths=lengths)
    assert_exact(same.detach(), net(xs, lengths=lengths)[0].detach())


def test_delayed_output_pads_token_ids():
    net = OutputEveryStep(make_cell("gru", D, H, **F64), O, vocab_size=5).double()
    ids, lengths = torch.randint(1, 5, (B, T)), ragged_lengths(B, T)
    delayed, _ = DelayedOutput(net, 2, pad=0)(ids, lengths=lengths)
    row, length = 1, int(lengths[1])
    expected, _ = net(torch.cat([ids[row:row + 1, :length], torch.zeros(1, 2, dtype=torch.long)], 1))
    assert_exact(delayed[row, :length].detach(), expected[0, 2:].detach())
    with pytest.raises(ValueError, match="delay: expected an integer >= 0"):
        DelayedOutput(net, -1)
