"""``unroll`` under CPU bf16 autocast: the fused and BPTT kernels run in the parameters' precision (oneDNN's LSTM
and the kernels' buffers take no bf16 here), equal to a float32 unroll of the same (bf16-rounded) inputs."""
from __future__ import annotations

import pytest
import torch

from recnets.cells.registry import make_cell
from recnets.core.unroll import unroll


@pytest.mark.parametrize("name", ["elman", "lstm", "gru", "book-lstm", "book-lstm-peephole", "book-gru", "leaky",
                                  "clockwork"])
def test_kernels_under_bf16_autocast_equal_float32_on_the_same_inputs(name):
    torch.manual_seed(0)
    cell = make_cell(name, 6, 16)
    xs = torch.randn(4, 8, 6).bfloat16()  # what a bf16 layer below would hand over
    lengths = torch.tensor([8, 5, 3, 8])
    expected, expected_final = unroll(cell, xs.float(), lengths=lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ys, final = unroll(cell, xs, lengths=lengths)
    assert ys.dtype == torch.float32
    torch.testing.assert_close(ys, expected, rtol=0, atol=0)
    for leaf, expected_leaf in zip(final, expected_final):
        torch.testing.assert_close(leaf, expected_leaf, rtol=0, atol=0)
    ys.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in cell.parameters())


def test_without_autocast_a_dtype_mismatch_is_still_an_error():
    cell = make_cell("lstm", 6, 16)
    with pytest.raises(ValueError, match="xs: expected dtype"):
        unroll(cell, torch.randn(2, 3, 6).bfloat16())
