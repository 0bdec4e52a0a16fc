"""Property: padding never changes a sequence's outputs or final state (float64 allclose), forward and
reverse, fused and eager, for every registered cell, over random batch sizes, lengths and paddings."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from recnets.cells import CELLS, make_cell
from recnets.core import tree_leaves, tree_map, unroll
from recnets.core.fused import fused_kernel_for

D, H = 2, 3
NAMES = list(CELLS)


def close(a, b) -> bool:
    return all(torch.allclose(x, y, rtol=1e-9, atol=1e-10) for x, y in zip(tree_leaves(a), tree_leaves(b)))


@st.composite
def padded_batches(draw):
    """(xs (B, T, D) with garbage padding, the same with other garbage and more of it, lengths (B,))."""
    lengths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    extra = draw(st.integers(0, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    steps = max(lengths) + extra
    xs = torch.randn(len(lengths), steps, D, generator=generator, dtype=torch.float64)
    other = torch.randn(len(lengths), steps + 2, D, generator=generator, dtype=torch.float64) * 50
    for row, length in enumerate(lengths):
        other[row, :length] = xs[row, :length]
    return xs, other, torch.tensor(lengths)


@pytest.mark.parametrize("name", NAMES)
@given(batch=padded_batches())
def test_padding_never_changes_a_sequence(name, batch):
    xs, other, lengths = batch
    torch.manual_seed(0)
    cell = make_cell(name, D, H, dtype=torch.float64)
    backends = ["eager"] + (["fused"] if fused_kernel_for(cell) is not None else [])
    for backend in backends:
        for reverse in (False, True):
            ys, final = unroll(cell, xs, lengths=lengths, reverse=reverse, backend=backend)
            ys_other, final_other = unroll(cell, other, lengths=lengths, reverse=reverse, backend=backend)
            assert close(final, final_other)
            assert close(tree_map(lambda y: y[:, :xs.shape[1]], ys_other), ys)
            for row, length in enumerate(lengths.tolist()):
                alone, final_alone = unroll(cell, xs[row:row + 1, :length], reverse=reverse, backend=backend)
                assert close(tree_map(lambda y: y[row:row + 1, :length], ys), alone)
                assert close(tree_map(lambda leaf: leaf[row:row + 1], final), final_alone)
                assert all(float(y[row, length:].detach().abs().sum()) == 0.0 for y in tree_leaves(ys))
