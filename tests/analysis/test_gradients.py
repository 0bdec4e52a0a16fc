"""‖∂L/∂h(t)‖ against lag and Pascanu's Ω, against closed forms and hand computations, float64."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import assert_exact
from linear_cell import LinearCell
from recnets.analysis import (bptt_gradients, gradient_norm_by_lag, hidden_gradients, jacobian_singular_values,
                              last_step_loss, norm_preserving_penalty, recorded_unroll, recording_states)
from recnets.cells import ElmanCell, LSTMCell, cell_names, make_cell
from recnets.core import Hidden
from recnets.nets import OutputEveryStep, OutputToHidden, SequenceToOne
from recnets.tasks.base import sequence_nll

F64 = {"dtype": torch.float64}
B, T, D, H, O = 3, 7, 2, 4, 3


def linear_model():
    W = torch.randn(H, H, **F64) * 0.6  # not symmetric: (Wᵀ)^k and W^k differ
    return OutputEveryStep(LinearCell(D, H, W), O).to(torch.float64)


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_linear_rnn_gradient_by_lag_is_powers_of_W_transposed(ragged):
    """L = ½‖o(τ) - y‖²: ∂L/∂h(τ - k) = (Wᵀ)^k Vᵀ (o(τ) - y) (Book eqs. 10.36-10.37), per sequence."""
    model = linear_model()
    xs, targets = torch.randn(B, T, D, **F64), torch.randn(B, T, O, **F64)
    lengths = torch.tensor([T, 3, 5]) if ragged else None
    result = hidden_gradients(model, xs, lambda o: last_step_loss(o, targets, lengths), lengths=lengths)
    W, V, c = model.cell.W.detach(), model.readout.V.detach(), model.readout.c.detach()
    taus = lengths.tolist() if ragged else [T] * B
    expected = torch.zeros(B, T, H, **F64)
    expected_norms = torch.zeros(B, T, **F64)
    for b, tau in enumerate(taus):
        g = V.t() @ (c + V @ result.h[b, tau - 1] - targets[b, tau - 1])  # ∂L/∂h(τ) = Vᵀ(o(τ) - y)
        for k in range(tau):
            expected[b, tau - 1 - k] = torch.linalg.matrix_power(W.t(), k) @ g
            expected_norms[b, k] = torch.linalg.vector_norm(expected[b, tau - 1 - k])
    assert_exact(result.grad_h, expected)
    profile = gradient_norm_by_lag(result.grad_h, lengths)
    assert profile.lags.tolist() == list(range(T))
    assert_exact(profile.per_sequence, expected_norms)
    counts = torch.tensor([sum(tau > k for tau in taus) for k in range(T)])
    assert torch.equal(profile.counts, counts)
    assert_exact(profile.norms, expected_norms.sum(0) / counts)
    assert float(expected_norms[0, -1]) > 0  # the deepest lag is not trivially zero


def test_hidden_gradients_equal_the_books_bptt_recursion():
    """With the summed cross-entropy, ∂L/∂h(t) is eqs. 10.19-10.21's ∇_{h(t)} L (no autograd in the oracle)."""
    cell = ElmanCell(D, H, **F64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    with torch.no_grad():
        cell.W.mul_(3.0)
    xs, targets, h0 = torch.randn(B, T, D, **F64), torch.randint(0, O, (B, T)), torch.randn(B, H, **F64)
    result = hidden_gradients(model, xs, lambda o: sequence_nll(o, targets, None)[0], state=Hidden(h0))
    with torch.inference_mode():
        weights = [p.detach().clone() for p in (cell.U, cell.W, model.readout.V, cell.b, model.readout.c)]
        manual = bptt_gradients(*weights, xs, targets, h0)
    assert_exact(result.grad_h, manual.grad_h)
    assert_exact(result.h, manual.h)
    assert_exact(result.loss, manual.loss)
    assert all(p.grad is None for p in model.parameters())  # autograd.grad: nothing accumulated


def test_lstm_gradient_at_lag_k_matches_autograd_on_the_state():
    """For an LSTM, ∂L/∂h(t) counts the paths through c(t+1..τ) too: against retain_grad on a hand loop."""
    cell = LSTMCell(D, H, **F64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    xs, targets = torch.randn(B, T, D, **F64), torch.randint(0, O, (B, T))
    result = hidden_gradients(model, xs, lambda o: last_step_loss(o, targets))
    state, hs = cell.initial_state(B, dtype=torch.float64), []
    for t in range(T):
        _, state = cell(xs[:, t], state)
        state.h.retain_grad()
        hs.append(state.h)
    nn_loss = torch.nn.functional.cross_entropy(model.readout(hs[-1]), targets[:, -1], reduction="sum")
    nn_loss.backward()
    assert_exact(result.grad_h, torch.stack([h.grad for h in hs], 1))


def test_sequence_to_one_last_step_loss_and_restored_cell():
    cell = ElmanCell(D, H, **F64)
    model = SequenceToOne(cell, O).to(torch.float64)
    xs, targets = torch.randn(B, T, D, **F64), torch.randint(0, O, (B,))
    result = hidden_gradients(model, xs, lambda o: last_step_loss(o, targets))
    logits, _ = model(xs)
    assert_exact(result.loss, torch.nn.functional.cross_entropy(logits, targets, reduction="sum").detach())
    assert model.cell is cell
    assert float(result.grad_h[:, 0].abs().max()) > 0


def test_recording_restores_the_cell_after_an_error_and_rejects_models_without_h():
    cell = ElmanCell(D, H, **F64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    with pytest.raises(RuntimeError, match="boom"):
        with recording_states(model):
            raise RuntimeError("boom")
    assert model.cell is cell
    with pytest.raises(ValueError, match="'h' field"):
        hidden_gradients(OutputToHidden(D, H, O).double(), torch.randn(B, T, D, **F64),
                         lambda o: o.sum(), targets=None)
    with pytest.raises(TypeError, match="model: expected a network with a Cell"):
        with recording_states(torch.nn.Linear(2, 2)):
            pass
    with pytest.raises(ValueError, match="grad_h: expected shape"):
        gradient_norm_by_lag(torch.zeros(3, 4))


def _penalty_of_linear(W, h0, targets):
    """Ω of a one-sequence linear RNN with V = I, c = 0, U = 0, b = 0 and L = ½‖h(T) - y‖²."""
    cell = LinearCell(1, 2, W)
    model = OutputEveryStep(cell, 2).to(torch.float64)
    with torch.no_grad():
        cell.U.zero_(), cell.b.zero_()
        model.readout.V.copy_(torch.eye(2)), model.readout.c.zero_()
    xs = torch.zeros(1, targets.shape[1], 1, **F64)
    with recording_states(model) as records:
        outputs, _ = model(xs, state=Hidden(h0))
    loss = last_step_loss(outputs, targets)
    return norm_preserving_penalty(loss, records, model.cell), cell


def test_norm_preserving_penalty_by_hand():
    """W = diag(2, ½), h(0) = (1, 1), y(2) = (3, 5/4): h(1) = (2, ½), h(2) = (4, ¼), ∂L/∂h(2) = (1, -1),
    ∂L/∂h(1) = Wᵀ(1, -1) = (2, -½); the flows are Wᵀ(1, -1) = (2, -½) and Wᵀ(2, -½) = (4, -¼)."""
    W = torch.diag(torch.tensor([2.0, 0.5], **F64))
    targets = torch.tensor([[[0.0, 0.0], [3.0, 1.25]]], **F64)
    omega, cell = _penalty_of_linear(W, torch.ones(1, 2, **F64), targets)
    by_hand = (math.sqrt(4.25) / math.sqrt(2.0) - 1) ** 2 + (math.sqrt(16.0625) / math.sqrt(4.25) - 1) ** 2
    assert abs(float(omega.detach()) - by_hand) < 1e-12


def test_norm_preserving_penalty_gradient_is_the_immediate_partial():
    """∂⁺Ω/∂W = Σ_k 2(r_k - 1) g_k v_kᵀ / (‖g_k‖ ‖v_k‖), v_k = Wᵀ g_k, with g_k = ∂L/∂h(k+1) held constant."""
    W = torch.randn(2, 2, **F64)
    targets = torch.randn(1, 4, 2, **F64)
    omega, cell = _penalty_of_linear(W, torch.ones(1, 2, **F64), targets)
    omega.backward()
    # the closed form of the linear recurrence: h(t) = W^t h(0); g(T) = h(T) - y; g(t) = Wᵀ g(t+1)
    h = [torch.ones(2, **F64)]
    for _ in range(4):
        h.append(W @ h[-1])
    g = {4: h[4] - targets[0, -1]}
    for t in (3, 2, 1):
        g[t] = W.t() @ g[t + 1]
    expected_value, expected_grad = 0.0, torch.zeros(2, 2, **F64)
    for k in range(4):  # transitions h(k) -> h(k+1)
        gk = g[k + 1]
        v = W.t() @ gk
        r = torch.linalg.vector_norm(v) / torch.linalg.vector_norm(gk)
        expected_value += float((r - 1) ** 2)
        expected_grad += 2 * (r - 1) * torch.outer(gk, v) / (torch.linalg.vector_norm(gk) * torch.linalg.vector_norm(v))
    assert abs(float(omega.detach()) - expected_value) < 1e-10
    assert_exact(cell.W.grad, expected_grad)
    assert cell.U.grad is None or float(cell.U.grad.abs().max()) == 0.0


def test_norm_preserving_penalty_of_a_tanh_rnn_against_its_jacobian():
    """Elman: the flow is Wᵀ diag(1 - h(k+1)²) ∂L/∂h(k+1) (eq. 10.21's factor); ragged rows end early."""
    cell = ElmanCell(D, H, **F64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    xs, targets = torch.randn(B, T, D, **F64), torch.randint(0, O, (B, T))
    lengths = torch.tensor([T, 2, 5])
    with recording_states(model) as records:
        outputs, _ = model(xs, lengths=lengths)
    loss = sequence_nll(outputs, targets, lengths)[0]
    omega = norm_preserving_penalty(loss, records, cell)
    grads = torch.autograd.grad(loss, [r.new_state.h for r in records], retain_graph=True)
    expected = 0.0
    for record, g in zip(records, grads):
        h_new = record.new_state.h.detach()
        flow = (g * (1 - h_new ** 2)) @ cell.W.detach()  # (B, H)
        for b in range(B):
            if float(g[b].norm()) > 0:
                expected += float((flow[b].norm() / g[b].norm() - 1) ** 2)
    assert abs(float(omega.detach()) - expected / B) < 1e-10
    assert float(torch.stack(grads, 1)[1, 2:].abs().max()) == 0.0  # past the end: no terms


def test_recorded_unroll_equals_unroll():
    cell = ElmanCell(D, H, **F64)
    xs = torch.randn(B, T, D, **F64)
    ys, final, records = recorded_unroll(cell, xs)
    from recnets.core import unroll
    expected, expected_final = unroll(cell, xs, backend="eager")
    assert_exact(ys, expected)
    assert_exact(final.h, expected_final.h)
    assert len(records) == T
    assert_exact(torch.stack([r.new_state.h for r in records], 1), expected)


@pytest.mark.parametrize("name", cell_names())
def test_every_registered_cell_gradient_by_lag_equals_its_jacobian_products(name):
    """L = L(τ): ∂L/∂h(τ - k) = ∂L/∂h(τ) · ∂h(τ)/∂h(τ-k), autograd on the whole graph against the step-wise
    products of ``jacobian_singular_values``; and ∂L/∂h(τ) = Vᵀ(softmax(o(τ)) - onehot(y(τ))) (eq. 10.19)."""
    cell = make_cell(name, D, H, dtype=torch.float64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    xs, targets = torch.randn(B, T, D, **F64), torch.randint(0, O, (B, T))
    result = hidden_gradients(model, xs, lambda o: last_step_loss(o, targets))
    with torch.no_grad(), recording_states(model) as records:
        model(xs)
    spectrum = jacobian_singular_values(cell, records, keep_products=True)
    g = result.grad_h[:, -1]  # (B, H)
    probabilities = torch.softmax(result.outputs[:, -1], -1)
    one_hot = torch.nn.functional.one_hot(targets[:, -1], O).double()
    assert_exact(g, (probabilities - one_hot) @ model.readout.V.detach())
    for k in range(1, T):
        assert_exact(result.grad_h[:, T - 1 - k], torch.einsum("bi,bij->bj", g, spectrum.products[:, k - 1]))
    assert float(result.grad_h[:, 0].abs().max()) > 0


def test_norm_preserving_penalty_reads_h_through_a_delay_line():
    """Skip-in-time cell (delay 3): ∂h(k+1)/∂h(k) = diag(1 - h(k+1)²) W, the delay line's older states held."""
    from recnets.cells import SkipTimeCell

    cell = SkipTimeCell(D, H, delay=3, dtype=torch.float64)
    model = OutputEveryStep(cell, O).to(torch.float64)
    xs, targets = torch.randn(B, T, D, **F64), torch.randint(0, O, (B, T))
    with recording_states(model) as records:
        outputs, _ = model(xs)
    loss = sequence_nll(outputs, targets, None)[0]
    omega = norm_preserving_penalty(loss, records, cell)
    grads = torch.autograd.grad(loss, [r.y for r in records], retain_graph=True)
    expected = 0.0
    for record, g in zip(records, grads):
        flow = (g * (1 - record.y.detach() ** 2)) @ cell.W.detach()  # (B, H)
        expected += float(((flow.norm(dim=1) / g.norm(dim=1) - 1) ** 2).sum())
    assert abs(float(omega.detach()) - expected / B) < 1e-10
