"""core/state: tree_map and the helpers built on it; core/lengths: masks and reversal within lengths."""
from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_exact
from recnets.cells import ElmanCell, LSTMState
from recnets.core import (Hidden, concat_rows, detach_state, mask_state, reorder_state, reverse_within_lengths,
                          state_from_flat, state_to_flat, tree_leaves, tree_map, unroll)
from recnets.core.lengths import check_lengths, step_masks, zero_past_lengths
from recnets.core.state import select_rows


class Nested(NamedTuple):
    lstm: LSTMState
    t: torch.Tensor
    ring: tuple
    empty: None


def nested(batch: int = 3) -> Nested:
    return Nested(LSTMState(torch.randn(batch, 4), torch.randn(batch, 4)), torch.arange(batch),
                  (torch.randn(batch, 2, 4), torch.randn(batch, 2, 4)), None)


def test_tree_map_keeps_namedtuple_types_and_none():
    state = nested()
    doubled = tree_map(lambda leaf: leaf * 2, state)
    assert type(doubled) is Nested and type(doubled.lstm) is LSTMState and type(doubled.ring) is tuple
    assert doubled.empty is None
    for leaf, original in zip(tree_leaves(doubled), tree_leaves(state)):
        assert torch.equal(leaf, original * 2)
    assert len(tree_leaves(state)) == 5
    assert tree_map(lambda leaf: leaf, None) is None


def test_tree_map_over_several_trees():
    a, b = nested(), nested()
    summed = tree_map(lambda x, y: x + y, a, b)
    assert torch.equal(summed.lstm.c, a.lstm.c + b.lstm.c)
    assert torch.equal(summed.ring[1], a.ring[1] + b.ring[1])


def test_tree_map_rejects_mismatched_structures_and_bad_leaves():
    with pytest.raises(ValueError, match="state structures differ"):
        tree_map(lambda x, y: x, Hidden(torch.ones(2)), LSTMState(torch.ones(2), torch.ones(2)))
    with pytest.raises(TypeError, match="state leaves"):
        tree_map(lambda x: x, Hidden([1.0, 2.0]))


def test_mask_state_picks_rows():
    new, old = nested(), nested()
    keep = torch.tensor([True, False, True])
    mixed = mask_state(new, old, keep)
    for m, n, o in zip(tree_leaves(mixed), tree_leaves(new), tree_leaves(old)):
        assert torch.equal(m[0], n[0]) and torch.equal(m[1], o[1]) and torch.equal(m[2], n[2])


def test_detach_state_cuts_the_graph():
    """Truncated BPTT: gradients from the second chunk do not reach the first chunk's inputs."""
    cell = ElmanCell(2, 3)
    first = torch.randn(2, 4, 2, requires_grad=True)
    second = torch.randn(2, 4, 2, requires_grad=True)
    _, state = unroll(cell, first)
    carried = detach_state(state)
    assert carried.h.grad_fn is None and not carried.h.requires_grad
    assert torch.equal(carried.h, state.h)
    ys, _ = unroll(cell, second, carried)
    ys.sum().backward()
    assert first.grad is None and second.grad is not None
    # without detaching, the gradient does reach the first chunk
    ys, _ = unroll(cell, second, state)
    ys.sum().backward()
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_reorder_select_and_concat_rows():
    state = nested(4)
    index = torch.tensor([2, 0, 3, 1])
    reordered = reorder_state(state, index)
    for r, s in zip(tree_leaves(reordered), tree_leaves(state)):
        assert torch.equal(r, s[index])
    inverse = torch.argsort(index)
    for back, s in zip(tree_leaves(reorder_state(reordered, inverse)), tree_leaves(state)):
        assert torch.equal(back, s)
    top, bottom = select_rows(state, 1), select_rows(state, 4, 1)
    for joined, s in zip(tree_leaves(concat_rows(top, bottom)), tree_leaves(state)):
        assert torch.equal(joined, s)
    beams = reorder_state(state, torch.tensor([1, 1, 1]))  # beam search duplicates rows
    assert torch.equal(beams.lstm.h, state.lstm.h[1].expand(3, -1))


def test_state_flat_round_trip():
    state = nested()
    flat = state_to_flat(state)
    assert set(flat) == {"state.lstm.h", "state.lstm.c", "state.t", "state.ring.0", "state.ring.1"}
    assert all(tensor.is_contiguous() and tensor.grad_fn is None for tensor in flat.values())
    template = tree_map(lambda leaf: torch.zeros_like(leaf, dtype=torch.float64)
                        if leaf.is_floating_point() else torch.zeros_like(leaf), state)
    rebuilt = state_from_flat(template, flat)
    assert type(rebuilt) is Nested and rebuilt.empty is None
    for r, s in zip(tree_leaves(rebuilt), tree_leaves(state)):
        assert torch.equal(r, s.to(r.dtype))
    assert rebuilt.lstm.h.dtype == torch.float64 and rebuilt.t.dtype == torch.long  # template's dtypes
    with pytest.raises(ValueError, match="state.lstm.c"):
        state_from_flat(template, {k: v for k, v in flat.items() if k != "state.lstm.c"})


# ---- core/lengths --------------------------------------------------------------------------------------------

@given(st.integers(1, 5), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_reverse_within_lengths_is_an_involution_keeping_pads_at_the_end(batch, steps, seed):
    generator = torch.Generator().manual_seed(seed)
    xs = torch.randn(batch, steps, 2, generator=generator)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    reversed_xs = reverse_within_lengths(xs, lengths)
    assert torch.equal(reverse_within_lengths(reversed_xs, lengths), xs)
    for row, length in enumerate(lengths.tolist()):
        assert torch.equal(reversed_xs[row, :length], xs[row, :length].flip(0))
        assert torch.equal(reversed_xs[row, length:], xs[row, length:])  # pads stay where they were
    assert torch.equal(reverse_within_lengths(xs, None), xs.flip(1))
    assert torch.equal(reverse_within_lengths(xs[..., 0], lengths), reversed_xs[..., 0])  # (B, T) works too


def test_step_masks_and_zero_past_lengths():
    lengths = torch.tensor([3, 1, 2])
    masks = step_masks(lengths, 4)
    assert masks.shape == (4, 3)
    assert masks.t().tolist() == [[True, True, True, False], [True, False, False, False], [True, True, False, False]]
    ys = torch.randn(3, 4, 2)
    zeroed = zero_past_lengths(ys, lengths)
    assert torch.equal(zeroed[0, :3], ys[0, :3]) and float(zeroed[0, 3:].abs().sum()) == 0.0
    assert torch.equal(zeroed[2, :2], ys[2, :2]) and float(zeroed[2, 2:].abs().sum()) == 0.0
    assert zero_past_lengths(ys, None) is ys


def test_check_lengths_returns_none_when_every_sequence_is_full():
    assert check_lengths(torch.tensor([4, 4]), 2, 4, torch.device("cpu")) is None
    assert check_lengths(None, 2, 4, torch.device("cpu")) is None
    checked = check_lengths(torch.tensor([4, 2], dtype=torch.int32), 2, 4, torch.device("cpu"))
    assert checked.dtype == torch.long and checked.tolist() == [4, 2]


def test_full_lengths_equal_no_lengths():
    cell = ElmanCell(2, 3, dtype=torch.float64)
    xs = torch.randn(3, 4, 2, dtype=torch.float64)
    assert_exact(unroll(cell, xs, lengths=torch.full((3,), 4)), unroll(cell, xs))
