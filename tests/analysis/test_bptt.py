"""The hand-written BPTT of eqs. 10.17-10.28 equals autograd through OutputEveryStep(ElmanCell), float64."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact
from recnets.analysis import bptt_gradients
from recnets.cells import ElmanCell
from recnets.core import Hidden
from recnets.core.state import mask_state
from recnets.nets import OutputEveryStep
from recnets.tasks.base import sequence_nll

B, T, D, H, O = 3, 6, 3, 4, 5
F64 = {"dtype": torch.float64}
LENGTHS = torch.tensor([T, 2, 4])


def setup():
    cell = ElmanCell(D, H, **F64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    with torch.no_grad():  # larger weights: a saturating, less trivial recursion
        for parameter in model.parameters():
            parameter.mul_(2.0)
    xs = torch.randn(B, T, D, **F64)
    targets = torch.randint(0, O, (B, T))
    h0 = torch.randn(B, H, **F64)
    return cell, model, xs, targets, h0


def reference(model, xs, targets, h0, lengths):
    """Under inference mode, from plain copies of the weights: no autograd anywhere."""
    cell, readout = model.cell, model.readout
    with torch.inference_mode():
        weights = [tensor.detach().clone() for tensor in (cell.U, cell.W, readout.V, cell.b, readout.c)]
        result = bptt_gradients(*weights, xs, targets, h0, lengths)
    assert result.grad_U.is_inference()
    return result


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_bptt_equals_autograd(ragged):
    cell, model, xs, targets, h0 = setup()
    lengths = LENGTHS if ragged else None
    if ragged:
        targets = torch.where(torch.arange(T) < LENGTHS.unsqueeze(1), targets, torch.full_like(targets, -100))
    manual = reference(model, xs, targets, h0, lengths)

    xs_grad = xs.clone().requires_grad_()
    start = h0.clone().requires_grad_()
    logits, _ = model(xs_grad, lengths=lengths, state=Hidden(start))
    loss, _ = sequence_nll(logits, targets.clamp_min(0), lengths)
    loss.backward()
    assert_exact(manual.loss, loss.detach())
    real = torch.arange(T) < (lengths if ragged else torch.full((B,), T)).unsqueeze(1)  # (B, T)
    assert_exact(manual.y_hat[real], torch.softmax(logits, -1).detach()[real])
    assert_exact(manual.grad_U, cell.U.grad)
    assert_exact(manual.grad_W, cell.W.grad)
    assert_exact(manual.grad_b, cell.b.grad)
    assert_exact(manual.grad_V, model.readout.V.grad)
    assert_exact(manual.grad_c, model.readout.c.grad)
    assert_exact(manual.grad_h0, start.grad)
    assert float(manual.grad_h0.abs().max()) > 1e-3  # the recursion really reaches h(0)


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_bptt_hidden_gradients_equal_autograd(ragged):
    """∇_{h(t)} L: the total derivative through every later step, against autograd on each state tensor."""
    cell, model, xs, targets, h0 = setup()
    lengths = LENGTHS if ragged else torch.full((B,), T)
    manual = reference(model, xs, targets, h0, lengths if ragged else None)

    state, states = Hidden(h0), []
    for t in range(T):  # the loop of eq. 10.8, keeping every h(t) as a node of the graph
        _, new = cell(xs[:, t], state)
        state = mask_state(new, state, t < lengths)
        state.h.retain_grad()
        states.append(state.h)
    hs = torch.stack(states, 1)
    loss, _ = sequence_nll(model.readout(hs), targets, lengths)
    loss.backward()
    autograd_h = torch.stack([h.grad for h in states], 1)
    assert_exact(manual.h, hs.detach())
    assert_exact(manual.grad_h, autograd_h)
    if ragged:
        assert float(manual.grad_h[1, 2:].abs().sum()) == 0.0  # nothing past the end
    # eq. 10.19 at τ: only the output term
    last = lengths - 1
    rows = torch.arange(B)
    assert_exact(manual.grad_h[rows, last], manual.grad_o[rows, last] @ model.readout.V.detach())


def test_bptt_defaults_to_zero_initial_state():
    _, model, xs, targets, _ = setup()
    zeros = reference(model, xs, targets, torch.zeros(B, H, **F64), None)
    with torch.inference_mode():
        weights = [t.detach() for t in (model.cell.U, model.cell.W, model.readout.V, model.cell.b, model.readout.c)]
        default = bptt_gradients(*weights, xs, targets)
    assert_exact(list(default), list(zeros))
