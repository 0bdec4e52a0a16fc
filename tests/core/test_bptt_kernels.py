"""The BPTT backend equals the eager reference loop: outputs, final states and every gradient (parameters,
inputs, initial state) in float64 to 1e-10, dense and ragged, forward and reverse; gradcheck on tiny sizes;
float32 within a relative tolerance; the dispatch rules of ``unroll(backend=...)``."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from conftest import assert_exact, assert_relative, ragged_lengths
from recnets.cells import BookGRUCell, BookLSTMCell, ClockworkCell, GRUCell, LeakyCell, make_cell
from recnets.core import tree_leaves, tree_map, unroll
from recnets.core.bptt_kernels import bptt_kernel_for
from recnets.core.pointwise import pointwise_library

B, T, D, H = 5, 7, 3, 4


def variants():
    """Every configuration a kernel covers: name -> factory(dtype)."""
    return {
        "book-lstm": lambda dtype: BookLSTMCell(D, H, dtype=dtype),
        "book-lstm-tanh": lambda dtype: BookLSTMCell(D, H, input_activation="tanh", dtype=dtype),
        "book-lstm-peephole": lambda dtype: BookLSTMCell(D, H, peepholes=True, dtype=dtype),
        "book-lstm-peephole-tanh": lambda dtype: BookLSTMCell(D, H, peepholes=True, input_activation="tanh",
                                                              dtype=dtype),
        "book-gru": lambda dtype: BookGRUCell(D, H, dtype=dtype),
        "book-gru-tanh": lambda dtype: BookGRUCell(D, H, candidate_activation="tanh", dtype=dtype),
        "gru": lambda dtype: GRUCell(D, H, dtype=dtype),
        "leaky": lambda dtype: LeakyCell(D, H, dtype=dtype),
        "leaky-learned": lambda dtype: LeakyCell(D, H, tau=[1.5, 2.0, 4.0, 9.0], learn_tau=True, dtype=dtype),
        "clockwork": lambda dtype: ClockworkCell(D, H, periods=[1, 2, 3], dtype=dtype),
    }


VARIANTS = variants()


def random_state(cell, batch, dtype, clock_start=None):
    """Random real leaves (so that ∇ of the initial state is exercised); a clockwork clock started mid-way."""
    state = tree_map(lambda leaf: 0.5 * torch.randn_like(leaf) if leaf.is_floating_point() else leaf,
                     cell.initial_state(batch, dtype=dtype))
    if clock_start is not None:
        state = type(state)(state.h, clock_start)
    return state


def run_and_differentiate(cell, xs, state, lengths, reverse, backend):
    """Outputs, final state and the gradients of a fixed random weighting of all of them."""
    xs = xs.clone().requires_grad_()
    state = tree_map(lambda leaf: leaf.clone().requires_grad_() if leaf.is_floating_point() else leaf.clone(), state)
    cell.zero_grad(set_to_none=True)
    ys, final = unroll(cell, xs, state, lengths=lengths, reverse=reverse, backend=backend)
    outputs = [leaf for leaf in (*tree_leaves(ys), *tree_leaves(final)) if leaf.is_floating_point()]
    generator = torch.Generator().manual_seed(1)
    loss = sum((out * torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)).sum()
               for out in outputs)
    loss.backward()
    gradients = [xs.grad] + [leaf.grad for leaf in tree_leaves(state) if leaf.is_floating_point()]
    gradients += [parameter.grad for parameter in cell.parameters()]
    assert all(gradient is not None for gradient in gradients)
    return ys, final, gradients


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_bptt_equals_eager_float64(name, ragged, reverse):
    cell = VARIANTS[name](torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    clock = torch.tensor([0, 3, 1, 5, 2]) if isinstance(cell, ClockworkCell) else None
    state = random_state(cell, B, torch.float64, clock)
    lengths = ragged_lengths(B, T) if ragged else None
    reference = run_and_differentiate(cell, xs, state, lengths, reverse, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, reverse, "bptt")
    assert_exact(fast[0], reference[0])
    assert_exact(fast[1], reference[1])  # a clockwork's integer clock must be equal too
    assert_exact(fast[2], reference[2])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_bptt_equals_eager_float32(name):
    cell = VARIANTS[name](torch.float32)
    xs = torch.randn(B, T, D)
    state = random_state(cell, B, torch.float32)
    lengths = ragged_lengths(B, T)
    reference = run_and_differentiate(cell, xs, state, lengths, False, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, False, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_relative(ours, theirs, 1e-5)


@pytest.mark.parametrize("name", ["book-lstm-peephole", "book-gru", "gru", "leaky-learned", "clockwork"])
def test_gradcheck_through_the_bptt_kernel(name):
    cell = VARIANTS[name](torch.float64)
    batch, steps = 2, 3
    xs = torch.randn(batch, steps, D, dtype=torch.float64, requires_grad=True)
    state = random_state(cell, batch, torch.float64)
    real = [leaf.requires_grad_() for leaf in tree_leaves(state) if leaf.is_floating_point()]
    lengths = torch.tensor([steps, 2])

    def function(xs, *rest):
        values = iter(rest[:len(real)])
        start = tree_map(lambda leaf: next(values) if leaf.is_floating_point() else leaf, state)
        ys, final = unroll(cell, xs, start, lengths=lengths, reverse=True, backend="bptt")
        return tuple(leaf for leaf in (ys, *tree_leaves(final)) if leaf.is_floating_point())

    assert gradcheck(function, (xs, *real, *cell.parameters()), eps=1e-6, atol=1e-7, rtol=1e-5)


def made_by_a_kernel(tensor):
    """Whether a BPTT kernel's autograd Function is in ``tensor``'s graph."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if "Recurrence" in type(node).__name__:
            return True
        stack.extend(child for child, _ in node.next_functions)
    return False


def test_auto_picks_the_bptt_kernel_and_the_eager_loop_otherwise():
    """auto: the BPTT kernel for a covered custom cell; the eager loop with feedback; torch's fused kernel stays
    first for the standard cells, but for the torch-compatible GRU on CPU where its steps run in C."""
    assert bptt_kernel_for(make_cell("lstm", D, H)) is None
    assert bptt_kernel_for(make_cell("elman", D, H)) is None
    assert bptt_kernel_for(make_cell("deep-transition", D, H)) is None
    in_c = ("cpu",) if pointwise_library() is not None else ()
    assert bptt_kernel_for(make_cell("gru", D, H)).over_fused_on == in_c
    assert bptt_kernel_for(make_cell("gru", D, H, dtype=torch.bfloat16)).over_fused_on == ()
    xs = torch.randn(B, T, D)
    for name in ("book-lstm-peephole", "book-gru", "leaky", "clockwork"):
        cell = make_cell(name, D, H)
        assert made_by_a_kernel(unroll(cell, xs)[0]), name
        assert not made_by_a_kernel(unroll(cell, xs, backend="eager")[0]), name
        assert not made_by_a_kernel(unroll(cell, xs, feedback=lambda y, t: xs[:, t + 1])[0]), name
    gru = make_cell("gru", D, H)
    assert made_by_a_kernel(unroll(gru, xs, backend="bptt")[0])
    assert made_by_a_kernel(unroll(gru, xs)[0]) == bool(in_c)
    assert not made_by_a_kernel(unroll(gru, xs, backend="fused")[0])


def test_bptt_backend_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="backend: 'bptt' needs"):
        unroll(make_cell("deep-transition", D, H), torch.randn(B, T, D), backend="bptt")
    with pytest.raises(ValueError, match="backend: 'bptt' needs"):
        unroll(make_cell("leaky", D, H), torch.randn(B, T, D), backend="bptt",
               feedback=lambda y, t: torch.zeros(B, D))


def test_no_gradient_and_inference_mode_give_the_same_outputs():
    cell = make_cell("book-gru", D, H, dtype=torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    lengths = ragged_lengths(B, T)
    reference, final = unroll(cell, xs, lengths=lengths, backend="eager")
    with torch.inference_mode():
        ys, final_fast = unroll(cell, xs, lengths=lengths, backend="bptt")
    assert_exact(ys, reference.detach())
    assert_exact(final_fast, tree_map(torch.Tensor.detach, final))


def test_gradients_of_gradients_need_the_eager_backend():
    cell = make_cell("leaky", D, H, dtype=torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    ys, _ = unroll(cell, xs, backend="bptt")
    grad, = torch.autograd.grad(ys.square().sum(), xs, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_bptt_equals_eager_on_cuda(name):
    cell = VARIANTS[name](torch.float64).cuda()
    xs = torch.randn(B, T, D, dtype=torch.float64, device="cuda")
    state = tree_map(lambda leaf: leaf.cuda(), random_state(cell, B, torch.float64))
    lengths = ragged_lengths(B, T).cuda()
    reference = run_and_differentiate(cell, xs, state, lengths, True, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, True, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_exact(ours, theirs)
