"""ElmanCell, LSTMCell and GRUCell against torch.nn.RNN / LSTM / GRU with copied weights.

Outputs, final state and the gradient of every parameter, the initial state and the input; dense and ragged
(torch: ``pack_padded_sequence(enforce_sorted=False)``), forward and reversed (torch: the backward direction
of its bidirectional module), fused and eager backends. float64 to 1e-10; float32 relative to the largest
magnitude.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from conftest import assert_exact, assert_relative, grads, ragged_lengths
from recnets.cells import ElmanCell, GRUCell, LSTMCell, LSTMState
from recnets.core import Hidden, unroll

B, T, D, H = 5, 7, 3, 4

# cell class, torch module class, names of the cell's parameters in torch's order (ih, hh, bias_ih, bias_hh)
KINDS = {
    "elman": (ElmanCell, nn.RNN, ("U", "W", "b", None)),
    "elman-relu": (lambda d, h, **kw: ElmanCell(d, h, nonlinearity="relu", **kw),
                   lambda d, h, **kw: nn.RNN(d, h, nonlinearity="relu", **kw), ("U", "W", "b", None)),
    "lstm": (LSTMCell, nn.LSTM, ("U", "W", "b_U", "b_W")),
    "gru": (GRUCell, nn.GRU, ("U", "W", "b_U", "b_W")),
}


def make_pair(kind: str, reverse: bool, dtype: torch.dtype):
    """A recnets cell and a torch module computing the same function (the torch direction used is
    the forward one, or the backward one of a bidirectional module when ``reverse``)."""
    cell_type, module_type, names = KINDS[kind]
    cell = cell_type(D, H, dtype=dtype)
    with torch.no_grad():  # move every parameter away from its init (e.g. LSTM's forget bias of 1)
        for parameter in cell.parameters():
            parameter.uniform_(-0.8, 0.8)
    module = module_type(D, H, batch_first=True, bidirectional=reverse, dtype=dtype)
    suffix = "_l0_reverse" if reverse else "_l0"
    with torch.no_grad():
        for torch_name, name in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), names):
            target = getattr(module, torch_name + suffix)
            target.copy_(getattr(cell, name) if name is not None else torch.zeros_like(target))
    return cell, module


def initial_state(kind: str, dtype: torch.dtype):
    h0 = (0.5 * torch.randn(B, H, dtype=dtype)).requires_grad_()
    if kind == "lstm":
        return LSTMState(h0, (0.5 * torch.randn(B, H, dtype=dtype)).requires_grad_())
    return Hidden(h0)


def run_torch(kind, module, xs, state, lengths, reverse):
    """torch's outputs (B, T, H) for our direction and its final state as our state type."""
    direction = 1 if reverse else 0
    h0 = state.h.unsqueeze(0)
    if reverse:  # the forward direction of the bidirectional module starts from zeros; ours is the backward
        h0 = torch.cat([torch.zeros_like(h0), h0], 0)
    hx = h0
    if kind == "lstm":
        c0 = state.c.unsqueeze(0)
        if reverse:
            c0 = torch.cat([torch.zeros_like(c0), c0], 0)
        hx = (h0, c0)
    if lengths is None:
        ys, final = module(xs, hx)
    else:
        packed = pack_padded_sequence(xs, lengths, batch_first=True, enforce_sorted=False)
        ys, final = module(packed, hx)
        ys, _ = pad_packed_sequence(ys, batch_first=True, total_length=T)
    ys = ys[..., direction * H:(direction + 1) * H]
    if kind == "lstm":
        return ys, LSTMState(final[0][direction], final[1][direction])
    return ys, Hidden(final[direction])


def loss_of(ys, final, weights_y, weights_state):
    """A loss that weighs every output and every final-state unit differently."""
    return (ys * weights_y).sum() + sum((leaf * w).sum() for leaf, w in zip(final, weights_state))


def both_sides(kind, lengths, reverse, backend, dtype):
    """Run recnets and torch on the same data; return ((ys, final, grads), (ys, final, grads)) each."""
    cell, module = make_pair(kind, reverse, dtype)
    xs = torch.randn(B, T, D, dtype=dtype)
    state = initial_state(kind, dtype)
    weights_y = torch.randn(B, T, H, dtype=dtype)
    weights_state = [torch.randn(B, H, dtype=dtype) for _ in state]

    ours_x = xs.clone().requires_grad_()
    ys, final = unroll(cell, ours_x, state, lengths=lengths, reverse=reverse, backend=backend)
    loss_of(ys, final, weights_y, weights_state).backward()
    _, _, names = KINDS[kind]
    ours_grads = [getattr(cell, n).grad for n in names if n is not None] + grads([ours_x, *state])
    ours = (ys.detach(), tuple(leaf.detach() for leaf in final), ours_grads)

    torch_state = type(state)(*(leaf.detach().clone().requires_grad_() for leaf in state))
    torch_x = xs.clone().requires_grad_()
    ys_t, final_t = run_torch(kind, module, torch_x, torch_state, lengths, reverse)
    loss_of(ys_t, final_t, weights_y, weights_state).backward()
    suffix = "_l0_reverse" if reverse else "_l0"
    torch_names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"][:len([n for n in names if n is not None])]
    torch_grads = [getattr(module, n + suffix).grad for n in torch_names] + grads([torch_x, *torch_state])
    theirs = (ys_t.detach(), tuple(leaf.detach() for leaf in final_t), torch_grads)
    return ours, theirs


@pytest.mark.parametrize("backend", ["fused", "eager"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch_float64(kind, ragged, reverse, backend):
    lengths = ragged_lengths(B, T) if ragged else None
    ours, theirs = both_sides(kind, lengths, reverse, backend, torch.float64)
    assert_exact(ours[0], theirs[0])  # outputs
    assert_exact(ours[1], theirs[1])  # final state
    assert_exact(ours[2], theirs[2])  # gradients: parameters, input, initial state
    if ragged:  # the oracle really is ragged: torch zeroes outputs past each length
        assert (theirs[0][lengths < T].abs().sum(-1) == 0).any()


def test_ragged_reverse_matches_torch_on_each_sequence_reversed():
    """Second oracle for reverse: torch run forward on each sequence reversed within its own length."""
    cell, module = make_pair("lstm", False, torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    lengths = ragged_lengths(B, T)
    ys, final = unroll(cell, xs, lengths=lengths, reverse=True)
    for row, length in enumerate(lengths.tolist()):
        flipped = xs[row:row + 1, :length].flip(1)
        ys_row, (h_n, c_n) = module(flipped)
        assert_exact(ys[row, :length].detach(), ys_row[0].flip(0).detach())
        assert_exact(ys[row, length:].detach(), torch.zeros(T - length, H, dtype=torch.float64))
        assert_exact(final.h[row].detach(), h_n[0, 0].detach())
        assert_exact(final.c[row].detach(), c_n[0, 0].detach())


@pytest.mark.parametrize("backend", ["fused", "eager"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch_float32(kind, ragged, backend):
    """float32: within a tolerance relative to the largest magnitude (never a bare absolute 1e-5)."""
    lengths = ragged_lengths(B, T) if ragged else None
    ours, theirs = both_sides(kind, lengths, False, backend, torch.float32)
    assert_relative(ours[0], theirs[0], 1e-5)
    assert_relative(ours[1], theirs[1], 1e-5)
    for ours_grad, their_grad in zip(ours[2], theirs[2]):
        assert_relative(ours_grad, their_grad, 1e-4)


@pytest.mark.parametrize("forget_bias", [1.0, 4.0, -2])
def test_lstm_forget_bias_sets_only_the_forget_gate(forget_bias):
    torch.manual_seed(0)
    cell = LSTMCell(3, 5, forget_bias=forget_bias)
    torch.manual_seed(0)
    plain = nn.LSTM(3, 5)  # same draws: torch's U(-1/sqrt(H), 1/sqrt(H)) in the same order
    expected = plain.bias_ih_l0.detach().clone()
    expected[5:10] = forget_bias
    assert torch.equal(cell.b_U.detach(), expected)
    assert torch.equal(cell.b_W[5:10].detach(), torch.zeros(5))
    # the initial forget gate of a zero input and state is sigma(forget_bias) on every unit
    gates = torch.addmm(cell.project(torch.zeros(1, 3)) + cell.b_W, torch.zeros(1, 5), cell.W.t())
    assert torch.allclose(torch.sigmoid(gates[:, 5:10]), torch.sigmoid(torch.tensor(float(forget_bias))))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", True])
def test_lstm_forget_bias_rejects_non_numbers(bad):
    with pytest.raises(ValueError, match="forget_bias: expected a finite number"):
        LSTMCell(3, 5, forget_bias=bad)


def test_lstm_chrono_initialisation():
    """Tallec & Ollivier 2018: b_f = log u, u ~ U[1, T_max - 1] per unit, b_i = -b_f; the rest as torch draws it."""
    torch.manual_seed(1)
    cell = LSTMCell(3, 400, chrono=50)
    b_f = cell.b_U[400:800].detach()
    assert torch.equal(cell.b_U[:400].detach(), -b_f)
    assert torch.equal(cell.b_W[:800].detach(), torch.zeros(800))
    u = torch.exp(b_f.double())  # the drawn characteristic times: uniform on [1, 49]
    assert u.min() >= 1 - 1e-6 and u.max() <= 49 + 1e-5
    assert abs(float(u.mean()) - 25.0) < 1.5 and abs(float(u.var()) - 48**2 / 12) < 25
    torch.manual_seed(1)
    plain = LSTMCell(3, 400)  # chrono changes only the input and forget biases
    assert torch.equal(cell.U, plain.U) and torch.equal(cell.W, plain.W)
    assert torch.equal(cell.b_U[800:], plain.b_U[800:]) and torch.equal(cell.b_W[800:], plain.b_W[800:])


@pytest.mark.parametrize("kwargs, needle", [({"chrono": 2}, "chrono: expected an integer T_max >= 3"),
                                            ({"chrono": 10.0}, "chrono: expected"),
                                            ({"chrono": 10, "forget_bias": 3.0}, "forget_bias: expected the default")])
def test_lstm_chrono_rejects_bad_values(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        LSTMCell(3, 5, **kwargs)
