"""What every BPTT kernel shares (``recnets.core.bptt_kernels``): ``finish`` (outputs zeroed past each length, the
final state a fresh tensor), gradients of outputs that the loss leaves unused (autograd materialises them as
zeros), a backward that leaves its saved buffers intact (run twice with ``retain_graph``), the layer-norm LSTM
with its packed product, and the small helpers against closed forms. Oracle: the eager reference loop, float64
to 1e-10 (float32 relative for the packed product)."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact, assert_relative, ragged_lengths
from recnets.cells import LSTMState
from recnets.cells.layer_norm_lstm import LayerNormLSTMCell
from recnets.core import bptt_lstm, tree_leaves, tree_map, unroll
from recnets.core.bptt_kernels import (carry_gradient, finish, output_gradient, previous_states, previous_steps,
                                       recurrent_weight_gradient, step_views)
from test_bptt_kernels import VARIANTS, random_state

B, T, D, H = 5, 7, 3, 4


def cells():
    """Every kernel's cell, the layer-normalised LSTM included: name -> factory(dtype)."""
    return {**VARIANTS, "layer-norm-lstm": lambda dtype: LayerNormLSTMCell(D, H, dtype=dtype)}


CELLS = cells()


def gradients_of(cell, xs, state, lengths, pick, backend, *, twice=False):
    """Outputs, final state and the gradients of a random weighting of the outputs ``pick`` chooses from
    ``(ys, final leaves)``; with ``twice``, the gradients of a second backward through the same graph."""
    xs = xs.clone().requires_grad_()
    state = tree_map(lambda leaf: leaf.clone().requires_grad_() if leaf.is_floating_point() else leaf.clone(), state)
    ys, final = unroll(cell, xs, state, lengths=lengths, reverse=True, backend=backend)
    outputs = pick(ys, [leaf for leaf in tree_leaves(final) if leaf.is_floating_point()])
    generator = torch.Generator().manual_seed(2)
    loss = sum((out * torch.randn(out.shape, generator=generator, dtype=out.dtype)).sum() for out in outputs)
    inputs = [xs, *(leaf for leaf in tree_leaves(state) if leaf.is_floating_point()), *cell.parameters()]
    grads = torch.autograd.grad(loss, inputs, retain_graph=twice, allow_unused=True)
    if twice:
        grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return ys, final, [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


@pytest.mark.parametrize("used", ["outputs", "final"])
@pytest.mark.parametrize("name", list(CELLS))
def test_unused_outputs_get_zero_gradients(name, used):
    """A loss of the outputs only (the final state's gradient is None, materialised as zeros) or of the final
    state only: the kernel equals the eager loop, ragged and reversed."""
    cell = CELLS[name](torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    state = random_state(cell, B, torch.float64)
    pick = (lambda ys, final: [ys]) if used == "outputs" else (lambda ys, final: final)
    lengths = ragged_lengths(B, T)
    assert_exact(gradients_of(cell, xs, state, lengths, pick, "bptt")[2],
                 gradients_of(cell, xs, state, lengths, pick, "eager")[2])


@pytest.mark.parametrize("name", list(CELLS))
def test_backward_twice_leaves_saved_buffers_intact(name):
    """The backward writes only into buffers it owns: a second backward through the graph gives the eager
    gradients again."""
    cell = CELLS[name](torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    state = random_state(cell, B, torch.float64)
    everything = lambda ys, final: [ys, *final]  # noqa: E731
    lengths = ragged_lengths(B, T)
    assert_exact(gradients_of(cell, xs, state, lengths, everything, "bptt", twice=True)[2],
                 gradients_of(cell, xs, state, lengths, everything, "eager")[2])


@pytest.mark.parametrize("name", list(CELLS))
def test_final_state_is_a_fresh_tensor(name):
    """``finish`` clones the final state: it shares no memory with the outputs, dense or ragged."""
    cell = CELLS[name](torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    for lengths in (None, ragged_lengths(B, T)):
        ys, final = unroll(cell, xs, lengths=lengths, backend="bptt")
        for leaf in tree_leaves(final):
            if leaf.is_floating_point():
                assert leaf.untyped_storage().data_ptr() != ys.untyped_storage().data_ptr()


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN (mkldnn)")
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_layer_norm_lstm_packed_product_equals_eager_float32(monkeypatch, reverse):
    monkeypatch.setattr(bptt_lstm, "PACKED_MIN_HIDDEN", 1)
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(D, H)
    xs = torch.randn(B, T, D)
    state = LSTMState(0.5 * torch.randn(B, H), 0.5 * torch.randn(B, H))
    everything = lambda ys, final: [ys, *final]  # noqa: E731
    lengths = ragged_lengths(B, T)
    fast = gradients_of(cell, xs, state, lengths, everything, "bptt")
    reference = gradients_of(cell, xs, state, lengths, everything, "eager")
    for ours, theirs in zip(fast, reference):
        assert_relative(ours, theirs, 1e-5)


def test_finish_masks_outputs_and_clones_the_last_step():
    hs = torch.randn(T, B, H, dtype=torch.float64)
    cs = torch.randn(T, B, 2 * H, dtype=torch.float64)
    masks = (torch.arange(T).unsqueeze(1) < ragged_lengths(B, T)).to(torch.float64).unsqueeze(-1)  # (T, B, 1)
    ys, h, c = finish(hs, masks, cs)
    assert_exact(ys, torch.where(masks.bool(), hs, torch.zeros(())))
    assert_exact(h, hs[-1])
    assert_exact(c, cs[-1])
    assert h.data_ptr() != hs[-1].data_ptr() and c.data_ptr() != cs[-1].data_ptr()
    ys, h = finish(hs, None)
    assert ys is hs
    assert_exact(output_gradient(hs, masks), hs * masks)
    assert output_gradient(hs, None) is hs


def test_step_views_and_previous_steps():
    a, b = torch.randn(T, B, H), torch.randn(T, B, 1)
    views = step_views(a, None, b, previous_steps(b[0], a))
    assert len(views) == T
    for t, (a_t, nothing, b_t, previous) in enumerate(views):
        assert nothing is None
        assert a_t.data_ptr() == a[t].data_ptr() and b_t.data_ptr() == b[t].data_ptr()
        assert previous.data_ptr() == (b[0] if t == 0 else a[t - 1]).data_ptr()


def test_carry_gradient_keeps_finished_rows():
    grad_h, through = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64).unsqueeze(1)
    expected = torch.where(mask.bool(), through, grad_h)
    carried, free = carry_gradient(grad_h, through, mask)
    assert_exact(carried, expected)
    assert carried is grad_h and free is through
    carried, free = carry_gradient(grad_h, through, None)
    assert carried is through and free is grad_h


@pytest.mark.parametrize("steps", [1, T])
def test_recurrent_weight_gradient_is_the_sum_over_steps(steps):
    grad_a = torch.randn(steps, B, 3 * H, dtype=torch.float64)
    first, states = torch.randn(B, H, dtype=torch.float64), torch.randn(steps, B, H, dtype=torch.float64)
    previous = previous_states(first, states)
    expected = sum(grad_a[t].t() @ previous[t] for t in range(steps))
    assert_exact(recurrent_weight_gradient(grad_a, first, states), expected)
    strided = torch.randn(steps, B, 4 * H, dtype=torch.float64)[..., H:]  # a non-contiguous view
    assert_exact(recurrent_weight_gradient(strided, first, states),
                 sum(strided[t].t() @ previous[t] for t in range(steps)))
