"""The LSTM and torch-layout GRU BPTT kernels with their packed recurrent product (oneDNN, float32 CPU) equal
the eager reference loop: outputs, final states and every gradient, ragged and reversed, with the packing
forced on at a tiny size."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_relative, ragged_lengths
from recnets.cells import BookLSTMCell, GRUCell
from recnets.core import bptt_lstm
from test_bptt_kernels import random_state, run_and_differentiate

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN (mkldnn)")

B, T, D, H = 5, 7, 3, 4


def test_recurrent_product_packed_equals_a_plain_product(monkeypatch):
    monkeypatch.setattr(bptt_lstm, "PACKED_MIN_HIDDEN", 1)
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(4 * H, H, generator=generator)
    v = torch.randn(B, H, generator=generator)
    assert_relative(bptt_lstm.recurrent_product(W, B, H)(v), v @ W.t(), 1e-6)
    assert_relative(bptt_lstm.recurrent_product(W.t(), B, H)(v @ W.t()), v @ W.t() @ W, 1e-6)
    add = torch.randn(B, 4 * H, generator=generator)
    for smallest in (1, 10 ** 9):  # packed, then the plain path
        monkeypatch.setattr(bptt_lstm, "PACKED_MIN_HIDDEN", smallest)
        out = torch.empty(B, 4 * H)
        assert bptt_lstm.recurrent_product(W, B, H)(v, add, out=out).data_ptr() == out.data_ptr()
        assert_relative(out, add + v @ W.t(), 1e-6)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("name", ["lstm", "lstm-peephole", "gru"])
def test_packed_kernel_equals_eager_float32(monkeypatch, name, reverse):
    monkeypatch.setattr(bptt_lstm, "PACKED_MIN_HIDDEN", 1)
    torch.manual_seed(0)
    cell = GRUCell(D, H) if name == "gru" else BookLSTMCell(D, H, peepholes=name == "lstm-peephole",
                                                             input_activation="tanh")
    xs = torch.randn(B, T, D)
    state = random_state(cell, B, torch.float32)
    lengths = ragged_lengths(B, T)
    reference = run_and_differentiate(cell, xs, state, lengths, reverse, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, reverse, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_relative(ours, theirs, 1e-5)
