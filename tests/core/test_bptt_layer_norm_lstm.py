"""The layer-normalised LSTM's BPTT kernel equals the eager reference loop: outputs, final state and every
gradient (parameters, inputs, initial state) in float64 to 1e-10, dense and ragged, forward and reverse;
float32 within a relative tolerance; gradcheck on tiny sizes; ``auto`` picks it."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from conftest import assert_exact, assert_relative, ragged_lengths
from recnets.cells import LSTMState
from recnets.cells.layer_norm_lstm import LayerNormLSTMCell
from recnets.core import unroll
from recnets.core.bptt_kernels import bptt_kernel_for

B, T, D, H = 5, 7, 3, 4


def perturbed_cell(dtype, input_size=D, hidden_size=H):
    """A cell whose gains and biases are away from their 1 / 0 start, so that every gradient is exercised."""
    cell = LayerNormLSTMCell(input_size, hidden_size, dtype=dtype)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return cell


def run_and_differentiate(cell, xs, state, lengths, reverse, backend):
    """Outputs, final state and the gradients of a fixed random weighting of all of them."""
    xs = xs.clone().requires_grad_()
    state = LSTMState(*(leaf.clone().requires_grad_() for leaf in state))
    cell.zero_grad(set_to_none=True)
    ys, final = unroll(cell, xs, state, lengths=lengths, reverse=reverse, backend=backend)
    generator = torch.Generator().manual_seed(1)
    loss = sum((out * torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)).sum()
               for out in (ys, *final))
    loss.backward()
    gradients = [xs.grad, state.h.grad, state.c.grad] + [parameter.grad for parameter in cell.parameters()]
    assert all(gradient is not None for gradient in gradients)
    return ys, final, gradients


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_bptt_equals_eager_float64(ragged, reverse):
    cell = perturbed_cell(torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    state = LSTMState(0.5 * torch.randn(B, H, dtype=torch.float64), 0.5 * torch.randn(B, H, dtype=torch.float64))
    lengths = ragged_lengths(B, T) if ragged else None
    reference = run_and_differentiate(cell, xs, state, lengths, reverse, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, reverse, "bptt")
    assert_exact(fast[0], reference[0])
    assert_exact(fast[1], reference[1])
    assert_exact(fast[2], reference[2])


def test_bptt_equals_eager_from_the_zero_state():
    """h(0) = 0 makes W h(0) constant: its normalisation divides by sqrt(eps) alone."""
    cell = perturbed_cell(torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    state = cell.initial_state(B)
    lengths = ragged_lengths(B, T)
    reference = run_and_differentiate(cell, xs, state, lengths, False, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, False, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_exact(ours, theirs, 1e-8)  # gradients scaled by 1/sqrt(eps) ~ 316


def test_bptt_equals_eager_float32():
    cell = perturbed_cell(torch.float32)
    xs = torch.randn(B, T, D)
    state = LSTMState(0.5 * torch.randn(B, H), 0.5 * torch.randn(B, H))
    lengths = ragged_lengths(B, T)
    reference = run_and_differentiate(cell, xs, state, lengths, False, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, False, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_relative(ours, theirs, 1e-5)


def test_gradcheck_through_the_bptt_kernel():
    cell = perturbed_cell(torch.float64, input_size=2, hidden_size=3)
    batch, steps = 2, 3
    xs = torch.randn(batch, steps, 2, dtype=torch.float64, requires_grad=True)
    h0, c0 = (0.5 * torch.randn(batch, 3, dtype=torch.float64).requires_grad_() for _ in range(2))
    lengths = torch.tensor([steps, 2])

    def function(xs, h0, c0, *parameters):  # the parameters are the cell's own: gradcheck perturbs them in place
        ys, final = unroll(cell, xs, LSTMState(h0, c0), lengths=lengths, reverse=True, backend="bptt")
        return ys, final.h, final.c

    assert gradcheck(function, (xs, h0, c0, *cell.parameters()), eps=1e-6, atol=1e-7, rtol=1e-5)


def made_by_the_kernel(tensor):
    """Whether the kernel's autograd Function is in ``tensor``'s graph."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if type(node).__name__.startswith("_LayerNormLSTMRecurrence"):
            return True
        stack.extend(child for child, _ in node.next_functions)
    return False


def test_auto_picks_the_kernel_and_inference_gives_the_same_outputs():
    cell = perturbed_cell(torch.float64)
    assert bptt_kernel_for(cell) is not None
    xs = torch.randn(B, T, D, dtype=torch.float64)
    lengths = ragged_lengths(B, T)
    ys, _ = unroll(cell, xs, lengths=lengths)
    assert made_by_the_kernel(ys)
    assert not made_by_the_kernel(unroll(cell, xs, lengths=lengths, backend="eager")[0])
    reference, final = unroll(cell, xs, lengths=lengths, backend="eager")
    with torch.inference_mode():
        fast, final_fast = unroll(cell, xs, lengths=lengths, backend="bptt")
    assert_exact(fast, reference.detach())
    assert_exact(final_fast, LSTMState(final.h.detach(), final.c.detach()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_bptt_equals_eager_on_cuda(reverse):
    cell = perturbed_cell(torch.float64).cuda()
    xs = torch.randn(B, T, D, dtype=torch.float64, device="cuda")
    state = LSTMState(*(0.5 * torch.randn(B, H, dtype=torch.float64, device="cuda") for _ in range(2)))
    lengths = ragged_lengths(B, T).cuda()
    reference = run_and_differentiate(cell, xs, state, lengths, reverse, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, reverse, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_exact(ours, theirs)
