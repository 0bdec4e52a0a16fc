"""float64 ``torch.autograd.gradcheck`` of every registered cell through ``unroll`` (tiny sizes: D, H <= 4,
T <= 4), against the input, the initial state and every parameter; dense and ragged, forward and reverse,
each backend the cell has."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck
from torch.autograd.gradcheck import GradcheckError

from recnets.cells import CELLS, make_cell
from recnets.core import tree_leaves, tree_map, unroll
from recnets.core.fused import fused_kernel_for

B, T, D, H = 2, 3, 3, 2
NAMES = list(CELLS)


def check_unroll(cell, lengths, reverse, backend):
    xs = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    # real leaves get random values and gradients; integer leaves (a clockwork's step index) stay as they are
    state = tree_map(lambda leaf: (0.5 * torch.randn_like(leaf)).requires_grad_() if leaf.is_floating_point()
                     else leaf.clone(), cell.initial_state(B))
    state_leaves = tree_leaves(state)
    real = [i for i, leaf in enumerate(state_leaves) if leaf.is_floating_point()]
    parameters = list(cell.parameters())

    def function(xs, *rest):  # the parameters are gradcheck inputs too: it perturbs these very tensors
        values = list(state_leaves)
        for index, value in zip(real, rest[:len(real)]):
            values[index] = value
        ys, final = unroll(cell, xs, type(state)(*values), lengths=lengths, reverse=reverse, backend=backend)
        return tuple(leaf for leaf in (*tree_leaves(ys), *tree_leaves(final)) if leaf.is_floating_point())

    assert gradcheck(function, (xs, *(state_leaves[i] for i in real), *parameters), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_cell(name, ragged, reverse):
    cell = make_cell(name, D, H, dtype=torch.float64)
    lengths = torch.tensor([T, 1]) if ragged else None
    backends = ["eager"] + (["fused"] if fused_kernel_for(cell) is not None else [])
    for backend in backends:
        check_unroll(cell, lengths, reverse, backend)


def test_gradcheck_catches_a_wrong_gradient():
    """The check above can fail: a step with a deliberately wrong backward is caught."""

    class WrongTanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value):
            out = torch.tanh(value)
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            (out,) = ctx.saved_tensors
            return grad * (1 - out)  # should be 1 - out²

    cell = make_cell("elman", D, H, dtype=torch.float64)
    cell._phi = WrongTanh.apply
    with pytest.raises(GradcheckError):
        check_unroll(cell, None, False, "eager")
