"""The cell contract, for every registered cell (STYLE convention 8).

Shapes, dtype and device follow the input; batch rows are independent; lengths are respected; the initial
state is never stored on the module.
"""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact, leaves
from recnets.cells import CELLS, make_cell
from recnets.core import tree_map, unroll

B, T, D, H = 4, 6, 3, 5
NAMES = list(CELLS)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LENGTHS = torch.tensor([T, 2, 5, 1])


def backends(cell):
    from recnets.core.fused import fused_kernel_for
    return ["fused", "eager"] if fused_kernel_for(cell) is not None else ["eager"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtype_and_device_follow_the_input(name, dtype, device):
    cell = make_cell(name, D, H, dtype=dtype, device=device)
    xs = torch.randn(B, T, D, dtype=dtype, device=device)
    state0 = cell.initial_state(B, dtype=dtype, device=device)
    for leaf in leaves(state0):
        assert leaf.shape[0] == B and leaf.device.type == device
        if leaf.is_floating_point():
            assert leaf.dtype == dtype
    for backend in backends(cell):
        for lengths in (None, LENGTHS):
            ys, final = unroll(cell, xs, lengths=lengths, backend=backend)
            for leaf in leaves(ys):
                assert leaf.shape[:2] == (B, T) and leaf.dtype == dtype and leaf.device.type == device
            assert leaves(ys)[0].shape == (B, T, H)  # the main output: h(t)
            assert [leaf.shape for leaf in leaves(final)] == [leaf.shape for leaf in leaves(state0)]
            for leaf in leaves(final):
                assert leaf.device.type == device
                if leaf.is_floating_point():
                    assert leaf.dtype == dtype
            y_t, state_1 = cell(xs[:, 0], state0)
            assert leaves(y_t)[0].shape == (B, H)
            assert [leaf.shape for leaf in leaves(state_1)] == [leaf.shape for leaf in leaves(state0)]


def test_initial_state_defaults_to_the_parameters_dtype():
    for name in NAMES:
        cell = make_cell(name, D, H, dtype=torch.float64)
        assert all(leaf.dtype == torch.float64 for leaf in leaves(cell.initial_state(2)) if leaf.is_floating_point())
        y_t, _ = cell(torch.randn(2, D, dtype=torch.float64))  # forward without a state starts from zeros
        assert leaves(y_t)[0].dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_batch_rows_are_independent(name):
    """Changing one row's input changes that row's outputs and final state and nothing else."""
    cell = make_cell(name, D, H, dtype=torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    changed = xs.clone()
    changed[1] = torch.randn(T, D, dtype=torch.float64)
    others = [0, 2, 3]
    for backend in backends(cell):
        for lengths in (None, LENGTHS):
            ys, final = unroll(cell, xs, lengths=lengths, backend=backend)
            ys2, final2 = unroll(cell, changed, lengths=lengths, backend=backend)
            pick = lambda tree, rows: tree_map(lambda leaf: leaf[rows], tree)  # noqa: E731
            assert_exact(pick((ys, final), others), pick((ys2, final2), others))
            assert (leaves(ys)[0][1] - leaves(ys2)[0][1]).detach().abs().max() > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_lengths_are_respected(name):
    """Outputs past each length are zero; the final state is the state at the last real step."""
    cell = make_cell(name, D, H, dtype=torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    for backend in backends(cell):
        ys, final = unroll(cell, xs, lengths=LENGTHS, backend=backend)
        for row, length in enumerate(LENGTHS.tolist()):
            for leaf in leaves(ys):
                assert float(leaf[row, length:].detach().abs().sum()) == 0.0
            # the state after `length` steps of the batch unrolled without lengths
            _, state_at_length = unroll(cell, xs[:, :length], backend=backend)
            assert_exact(tree_map(lambda leaf: leaf[row], final), tree_map(lambda leaf: leaf[row], state_at_length))
            if length < T:  # and not the state at T - 1, which differs
                _, state_at_t = unroll(cell, xs, backend=backend)
                assert (leaves(final)[0][row] - leaves(state_at_t)[0][row]).detach().abs().max() > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_initial_state_is_never_stored_on_the_module(name):
    cell = make_cell(name, D, H, dtype=torch.float64)
    attributes = set(vars(cell))
    state_keys = list(cell.state_dict())
    state = cell.initial_state(B)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    ys, final = unroll(cell, xs, state)
    cell(xs[:, 0], final)
    assert set(vars(cell)) == attributes
    assert list(cell.state_dict()) == state_keys
    held = [value for value in vars(cell).values() if isinstance(value, (torch.Tensor, tuple))]
    for leaf in leaves(state) + leaves(final):
        assert all(leaf is not value for value in held)
    # nothing carried between calls: a second, differently sized batch gives the same rows as before
    ys_again, _ = unroll(cell, xs[:2])
    assert_exact(leaves(ys_again)[0], leaves(ys)[0][:2])
