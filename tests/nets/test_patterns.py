"""The design patterns of 10.2 against manual step loops written out here; float64 gradcheck of each."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck
from torch.nn.functional import one_hot

from conftest import assert_exact
from recnets.cells import ElmanCell, LSTMCell
from recnets.nets import OutputEveryStep, OutputToHidden, SequenceToOne
from recnets.nets.patterns import OutputFeed

B, T, D, H, O = 3, 5, 3, 4, 4
F64 = {"dtype": torch.float64}
LENGTHS = torch.tensor([T, 2, 4])


def to_f64(module):
    return module.to(torch.float64)


def hidden_of(cell, x_t, y_prev):
    """Fig. 10.4: h(t) = tanh(b + U x(t) + W y(t-1)); o(t) = c + V h(t), written out."""
    h = torch.tanh(cell.b + x_t @ cell.U.t() + y_prev @ cell.W.t())
    return cell.readout.c + h @ cell.readout.V.t()


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_output_to_hidden_teacher_forcing_equals_manual_loop(ragged):
    model = to_f64(OutputToHidden(D, H, O))
    xs = torch.randn(B, T, D, **F64)
    targets = torch.randint(0, O, (B, T))
    lengths = LENGTHS if ragged else None
    start = OutputFeed(one_hot(torch.randint(0, O, (B,)), O).to(torch.float64))
    outputs, final = model(xs, targets=targets, lengths=lengths, state=start)

    expected, y_prev = [], start.y
    for t in range(T):
        expected.append(hidden_of(model.cell, xs[:, t], y_prev))
        y_prev = one_hot(targets[:, t], O).to(torch.float64)  # the teacher's y(t) is fed to step t + 1
    expected = torch.stack(expected, 1)
    last = (lengths if ragged else torch.full((B,), T)) - 1
    if ragged:
        expected = expected * (torch.arange(T) < lengths.unsqueeze(1)).unsqueeze(-1)
    assert_exact(outputs, expected)
    assert_exact(final.y, one_hot(targets[torch.arange(B), last], O).to(torch.float64))


def test_output_to_hidden_teacher_forcing_with_real_outputs():
    model = to_f64(OutputToHidden(D, H, O, categorical=False))
    xs = torch.randn(B, T, D, **F64)
    targets = torch.randn(B, T, O, **F64)
    outputs, final = model(xs, targets=targets)
    expected, y_prev = [], torch.zeros(B, O, **F64)
    for t in range(T):
        expected.append(hidden_of(model.cell, xs[:, t], y_prev))
        y_prev = targets[:, t]
    assert_exact(outputs, torch.stack(expected, 1))
    assert_exact(final.y, targets[:, -1])


@pytest.mark.parametrize("categorical", [True, False])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_output_to_hidden_free_running_equals_manual_loop(categorical, ragged):
    model = to_f64(OutputToHidden(D, H, O, categorical=categorical))
    xs = torch.randn(B, T, D, **F64)
    lengths = LENGTHS if ragged else None
    outputs, final = model(xs, lengths=lengths)
    lengths_or_full = lengths if ragged else torch.full((B,), T)
    for row, length in enumerate(lengths_or_full.tolist()):
        y_prev = torch.zeros(1, O, **F64)
        for t in range(length):
            o = hidden_of(model.cell, xs[row:row + 1, t], y_prev)
            assert_exact(outputs[row:row + 1, t], o)
            y_prev = one_hot(o.argmax(-1), O).to(torch.float64) if categorical else o  # its own output
        assert_exact(final.y[row:row + 1], y_prev)
        assert float(outputs[row, length:].detach().abs().sum()) == 0.0


def test_output_to_hidden_rejects_bad_targets():
    model = OutputToHidden(D, H, O)
    with pytest.raises(ValueError, match="^targets:"):
        model(torch.randn(B, T, D), targets=torch.randint(0, O, (B, T + 1)))
    with pytest.raises(ValueError, match="^targets:"):
        model(torch.randn(B, T, D), targets=torch.rand(B, T))


@pytest.mark.parametrize("cell_type", [ElmanCell, LSTMCell])
def test_sequence_to_one_reads_each_sequences_own_last_step(cell_type):
    cell = cell_type(D, H, **F64)
    model = to_f64(SequenceToOne(cell, O))
    xs = torch.randn(B, T, D, **F64)
    outputs, final = model(xs, lengths=LENGTHS)
    for row, length in enumerate(LENGTHS.tolist()):
        state = cell.initial_state(1)
        for t in range(length):
            h, state = cell(xs[row:row + 1, t], state)
        assert_exact(outputs[row:row + 1], h @ model.readout.V.t() + model.readout.c)
    full, _ = model(xs)
    assert (full[1] - outputs[1]).detach().abs().max() > 1e-6  # the short row is not read at T - 1


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_output_every_step_equals_readout_of_manual_loop(ragged):
    cell = LSTMCell(D, H, **F64)
    model = to_f64(OutputEveryStep(cell, O))
    xs = torch.randn(B, T, D, **F64)
    lengths = LENGTHS if ragged else None
    outputs, final = model(xs, lengths=lengths)
    for row, length in enumerate((LENGTHS if ragged else torch.full((B,), T)).tolist()):
        state = cell.initial_state(1)
        for t in range(length):
            h, state = cell(xs[row:row + 1, t], state)
            assert_exact(outputs[row:row + 1, t], h @ model.readout.V.t() + model.readout.c)
        assert_exact((final.h[row:row + 1], final.c[row:row + 1]), tuple(state))
        assert float(outputs[row, length:].detach().abs().sum()) == 0.0


def test_output_every_step_with_token_ids_and_step():
    model = to_f64(OutputEveryStep(ElmanCell(D, H, **F64), O, vocab_size=6))
    ids = torch.randint(0, 6, (B, T))
    outputs, final = model(ids)
    state = model.initial_state(B)
    for t in range(T):
        o_t, state = model.step(ids[:, t], state)
        assert_exact(outputs[:, t], o_t)
    assert_exact(final.h, state.h)
    with pytest.raises(ValueError, match="^inputs:"):
        model(torch.full((B, T), 6))


# ---- gradcheck (float64, tiny) -------------------------------------------------------------------------------

def gradcheck_module(model, function, inputs):
    parameters = list(model.parameters())
    assert gradcheck(lambda *args: function(*args[:len(inputs)]), (*inputs, *parameters), eps=1e-6, atol=1e-7)


def test_gradcheck_output_to_hidden():
    model = to_f64(OutputToHidden(3, 3, 3))
    xs = torch.randn(2, 3, 3, **F64, requires_grad=True)
    targets = torch.randint(0, 3, (2, 3))
    gradcheck_module(model, lambda x: model(x, targets=targets, lengths=torch.tensor([3, 2]))[0], [xs])
    real = to_f64(OutputToHidden(3, 3, 3, categorical=False))
    gradcheck_module(real, lambda x: real(x, lengths=torch.tensor([3, 2]))[0], [xs])  # free running, real


@pytest.mark.parametrize("pattern", [SequenceToOne, OutputEveryStep])
def test_gradcheck_sequence_patterns(pattern):
    model = to_f64(pattern(ElmanCell(3, 3, **F64), 3))
    xs = torch.randn(2, 3, 3, **F64, requires_grad=True)
    gradcheck_module(model, lambda x: model(x, lengths=torch.tensor([3, 2]))[0], [xs])
    gradcheck_module(model, lambda x: model(x)[0], [xs])
