"""The fused backend equals the eager loop, runs on the cell's own parameters, and reaches torch's kernels."""
from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from conftest import assert_exact, assert_relative, leaves, ragged_lengths
from recnets.cells import ElmanCell, GRUCell, LSTMCell
from recnets.core import unroll
from recnets.core.fused import fused_kernel_for
from recnets.core.pointwise import pointwise_library

B, T, D, H = 6, 8, 3, 5
CELLS = {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell}
TORCH_OP = {"elman": "aten::rnn_tanh", "lstm": "aten::lstm", "gru": "aten::gru"}


def run(cell, xs, lengths, reverse, backend, weights):
    """Outputs, final state, each parameter's .grad and the input's grad after one backward."""
    cell.zero_grad(set_to_none=True)
    xs = xs.clone().requires_grad_()
    ys, final = unroll(cell, xs, lengths=lengths, reverse=reverse, backend=backend)
    loss = (ys * weights[0]).sum() + sum((leaf * w).sum() for leaf, w in zip(final, weights[1:]))
    loss.backward()
    parameter_grads = [p.grad.clone() for p in cell.parameters()]
    return ys.detach(), tuple(leaf.detach() for leaf in final), parameter_grads, xs.grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("kind", list(CELLS))
def test_fused_equals_eager(kind, ragged, reverse, dtype):
    cell = CELLS[kind](D, H, dtype=dtype)
    xs = torch.randn(B, T, D, dtype=dtype)
    lengths = ragged_lengths(B, T) if ragged else None
    state_leaves = 2 if kind == "lstm" else 1
    weights = [torch.randn(B, T, H, dtype=dtype)] + [torch.randn(B, H, dtype=dtype) for _ in range(state_leaves)]
    fused = run(cell, xs, lengths, reverse, "fused", weights)
    eager = run(cell, xs, lengths, reverse, "eager", weights)
    if dtype == torch.float64:
        for fused_part, eager_part in zip(fused, eager):
            assert_exact(fused_part, eager_part)
    else:  # kernels sum in another order: ~1e-4 relative on gradients (STYLE 10)
        assert_relative(fused[0], eager[0], 1e-5)
        assert_relative(fused[1], eager[1], 1e-5)
        for fused_grad, eager_grad in zip(fused[2] + [fused[3]], eager[2] + [eager[3]]):
            assert_relative(fused_grad, eager_grad, 1e-4)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("kind", list(CELLS))
def test_fused_equals_eager_without_grad(kind, mode):
    """Without grad the kernels run their inference paths (``train=False``): still the same function."""
    cell = CELLS[kind](D, H, dtype=torch.float64)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    with mode():
        for lengths in (None, ragged_lengths(B, T)):
            fused = unroll(cell, xs, lengths=lengths, backend="fused")
            assert_exact(fused, unroll(cell, xs, lengths=lengths, backend="eager"))
            assert not leaves(fused)[0].requires_grad


@pytest.mark.parametrize("kind", list(CELLS))
def test_fused_uses_the_cells_own_parameters(kind):
    """``parameters()`` holds each tensor once, nothing is added by running fused, and the fused backward
    fills the cell's own ``.grad`` (no shadow copy of the weights)."""
    cell = CELLS[kind](D, H)
    names_before = [name for name, _ in cell.named_parameters()]
    pointers = [p.data_ptr() for p in cell.parameters()]
    assert len(pointers) == len(set(pointers))
    expected = {"elman": ["U", "W", "b"], "lstm": ["U", "W", "b_U", "b_W"], "gru": ["U", "W", "b_U", "b_W"]}
    assert names_before == expected[kind]
    buffers_before = list(cell.buffers())

    ys, _ = unroll(cell, torch.randn(B, T, D), lengths=ragged_lengths(B, T), backend="fused")
    ys.square().sum().backward()
    assert [name for name, _ in cell.named_parameters()] == names_before
    assert [p.data_ptr() for p in cell.parameters()] == pointers
    assert list(cell.buffers()) == buffers_before
    for name, parameter in cell.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name

    # a change to the cell's own weight changes what the fused kernel computes
    xs = torch.randn(2, 3, D)
    before, _ = unroll(cell, xs, backend="fused")
    with torch.no_grad():
        cell.W.mul_(2.0)
    after, _ = unroll(cell, xs, backend="fused")
    assert (before - after).abs().max() > 1e-3


def test_only_exact_standard_classes_are_fusable():
    class Derived(ElmanCell):  # a subclass may change step(): it must not silently take the kernel
        pass

    assert fused_kernel_for(ElmanCell(2, 3)) is not None
    assert fused_kernel_for(Derived(2, 3)) is None


def profiled_events(cell, xs, lengths, backend):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        ys, _ = unroll(cell, xs, lengths=lengths, backend=backend)
        ys.sum().backward()
    return {event.name for event in prof.events()}


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("kind", list(CELLS))
def test_fused_runs_torchs_kernel_and_eager_does_not(kind, ragged):
    cell = CELLS[kind](D, H)
    xs = torch.randn(B, T, D)
    lengths = ragged_lengths(B, T) if ragged else None
    assert TORCH_OP[kind] in profiled_events(cell, xs, lengths, "fused")
    # auto: torch's kernel, but for the GRU on CPU where its BPTT kernel's steps run in C (faster there)
    gru_in_c = kind == "gru" and pointwise_library() is not None
    assert (TORCH_OP[kind] in profiled_events(cell, xs, lengths, "auto")) != gru_in_c
    assert TORCH_OP[kind] not in profiled_events(cell, xs, lengths, "eager")


ONEDNN_ONLY_LSTM = pytest.mark.xfail(
    strict=True, reason="torch 2.13 on CPU sends only the LSTM to oneDNN (mkldnn_rnn); rnn_tanh and gru run "
                        "aten's native loop, for torch.nn.RNN/GRU too")


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("kind", ["lstm", pytest.param("elman", marks=ONEDNN_ONLY_LSTM),
                                  pytest.param("gru", marks=ONEDNN_ONLY_LSTM)])
def test_fused_float32_on_cpu_runs_onednn(kind, ragged):
    """The fused path in float32 on CPU reaches the oneDNN kernel, forward and backward, dense and ragged
    (the ragged batch is cut into dense segments, never packed: packing does not reach oneDNN)."""
    if not torch.backends.mkldnn.is_available():
        pytest.fail("this torch build has no oneDNN")
    cell = CELLS[kind](D, H)
    lengths = ragged_lengths(B, T) if ragged else None
    names = profiled_events(cell, torch.randn(B, T, D), lengths, "fused")
    assert any("mkldnn_rnn_layer" in name for name in names), sorted(names)
    assert any("mkldnn_rnn_layer_backward" in name for name in names), sorted(names)
