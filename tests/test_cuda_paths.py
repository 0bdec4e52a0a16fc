"""CUDA paths of ``unroll``: cuDNN (fused) and the eager loop against torch.nn on the GPU.

Oracles: torch.nn.RNN/LSTM/GRU on CUDA with the cell's weights copied (float32, tolerance relative to the
largest magnitude, and float64); the book's cells against their own CPU float64 results. Also checked:
gradients land in the cell's own ``.grad`` and a dense unroll asks for no host synchronisation beyond what
torch's own module does; a ragged one syncs a fixed number of times, not once per distinct length.

Also the reservoir (Book 10.8) loops and ridge readout against their CPU float64 results.

Every test skips with its reason on a machine without a GPU (CI).
"""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from recnets import BookGRUCell, BookLSTMCell, ElmanCell, GRUCell, LSTMCell, unroll

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (torch.cuda.is_available() is False)")

CUDA = torch.device("cuda")
B, T, D, H = 5, 7, 3, 4
CELL_TYPES = {"elman": (ElmanCell, nn.RNN), "lstm": (LSTMCell, nn.LSTM), "gru": (GRUCell, nn.GRU)}
# float32 tolerance relative to the largest magnitude (STYLE 10: fused gradients differ ~1e-4 from eager)
RTOL = {torch.float32: 2e-4, torch.float64: 1e-10}


@pytest.fixture(autouse=True)
def exact_float32():
    """cuDNN's RNNs use TF32 on Hopper by default (``cudnn.allow_tf32``); compare in true float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    actual, expected = actual.detach(), expected.detach()
    scale = max(float(expected.abs().max()), 1e-3)
    error = float((actual.to(expected.dtype) - expected).abs().max())
    assert error <= RTOL[dtype] * scale, f"{what}: max error {error:.3g} > {RTOL[dtype]:.0e} x {scale:.3g}"


def twin(kind: str, cell: nn.Module) -> nn.Module:
    """torch.nn module computing what ``cell`` computes, on the cell's device and dtype."""
    module = CELL_TYPES[kind][1](D, H, batch_first=True, device=cell.U.device, dtype=cell.U.dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(cell.U)
        module.weight_hh_l0.copy_(cell.W)
        if kind == "elman":
            module.bias_ih_l0.copy_(cell.b)
            module.bias_hh_l0.zero_()
        else:
            module.bias_ih_l0.copy_(cell.b_U)
            module.bias_hh_l0.copy_(cell.b_W)
    return module


def reverse_rows(xs: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Each row reversed within its own length, written out row by row (independent of the library)."""
    out = xs.clone()
    for row, length in enumerate(lengths):
        out[row, :length] = xs[row, :length].flip(0)
    return out


def torch_reference(kind: str, module: nn.Module, xs: torch.Tensor, lengths: list[int] | None,
                    reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (B, T, H), zero past each length, and the final h (B, H) of torch.nn on a packed batch."""
    steps = xs.shape[1]
    lengths = lengths or [steps] * xs.shape[0]
    inputs = reverse_rows(xs, lengths) if reverse else xs
    packed = pack_padded_sequence(inputs, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    ys, final = module(packed)
    ys = pad_packed_sequence(ys, batch_first=True, total_length=steps)[0]
    h_n = final[0] if kind == "lstm" else final
    return (reverse_rows(ys, lengths) if reverse else ys), h_n[0]


def our_gradients(kind: str, cell: nn.Module) -> list[torch.Tensor]:
    return [cell.U.grad, cell.W.grad, cell.b.grad] if kind == "elman" else \
        [cell.U.grad, cell.W.grad, cell.b_U.grad, cell.b_W.grad]


def torch_gradients(kind: str, module: nn.Module) -> list[torch.Tensor]:
    grads = [module.weight_ih_l0.grad, module.weight_hh_l0.grad, module.bias_ih_l0.grad]
    return grads if kind == "elman" else grads + [module.bias_hh_l0.grad]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("backend", ["fused", "eager"])
@pytest.mark.parametrize("kind", list(CELL_TYPES))
def test_unroll_on_cuda_equals_torch_nn(kind, backend, ragged, reverse, dtype):
    torch.manual_seed(0)
    cell = CELL_TYPES[kind][0](D, H, device=CUDA, dtype=dtype)
    module = twin(kind, cell)
    xs = torch.randn(B, T, D, device=CUDA, dtype=dtype)
    lengths = [7, 3, 5, 1, 7] if ragged else None
    weights = torch.randn(B, T, H, device=CUDA, dtype=dtype)  # a loss that weighs every output differently
    parameters_before = [p.data_ptr() for p in cell.parameters()]

    ys, final = unroll(cell, xs, lengths=None if lengths is None else torch.tensor(lengths, device=CUDA),
                       reverse=reverse, backend=backend)
    expected_ys, expected_h = torch_reference(kind, module, xs, lengths, reverse)
    assert ys.device.type == "cuda" and ys.dtype == dtype
    assert_close(ys, expected_ys, dtype, "ys")
    assert_close(final.h, expected_h, dtype, "final h")

    ((ys * weights).sum() + final.h.square().sum()).backward()
    ((expected_ys * weights).sum() + expected_h.square().sum()).backward()
    names = ["U", "W", "b"] if kind == "elman" else ["U", "W", "b_U", "b_W"]
    for name, ours, theirs in zip(names, our_gradients(kind, cell), torch_gradients(kind, module)):
        assert ours is not None and ours.device.type == "cuda", f"{name}.grad did not land on the cell"
        assert_close(ours, theirs, dtype, f"{name}.grad")
    assert [p.data_ptr() for p in cell.parameters()] == parameters_before  # the cell's own tensors, no copies


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("make", [
    lambda **kw: BookLSTMCell(D, H, **kw),
    lambda **kw: BookLSTMCell(D, H, peepholes=True, **kw),
    lambda **kw: BookGRUCell(D, H, **kw),
    lambda **kw: BookGRUCell(D, H, candidate_activation="tanh", **kw),
], ids=["book-lstm", "book-lstm-peephole", "book-gru", "book-gru-tanh"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_book_cells_on_cuda_match_their_cpu_float64_results(make, reverse, dtype):
    torch.manual_seed(0)
    reference = make(dtype=torch.float64)
    cell = copy.deepcopy(reference).to(device=CUDA, dtype=dtype)
    xs = torch.randn(B, T, D, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5, 1, 7])
    weights = torch.randn(B, T, H, dtype=torch.float64)

    expected_ys, expected_final = unroll(reference, xs, lengths=lengths, reverse=reverse)
    ((expected_ys * weights).sum() + expected_final.h.square().sum()).backward()
    ys, final = unroll(cell, xs.to(CUDA, dtype), lengths=lengths.to(CUDA), reverse=reverse)
    ((ys * weights.to(CUDA, dtype)).sum() + final.h.square().sum()).backward()

    assert ys.device.type == "cuda" and ys.dtype == dtype
    assert_close(ys.cpu(), expected_ys, dtype, "ys")
    for ours, theirs in zip(final, expected_final):
        assert_close(ours.cpu(), theirs, dtype, "final state")
    for (name, ours), theirs in zip(cell.named_parameters(), reference.parameters()):
        assert ours.grad is not None and ours.grad.device.type == "cuda", f"{name}.grad did not land on the cell"
        assert_close(ours.grad.cpu(), theirs.grad, dtype, f"{name}.grad")


def synchronisations(fn) -> list[str]:
    """Where ``fn()`` asks for a host-device synchronisation ("file:line"), by torch's sync debug mode.

    torch warns "called a synchronizing CUDA operation" at each ``.item()``, ``.cpu()``, ``.tolist()``,
    ``nonzero`` and stream synchronisation (not every sync is covered: see ``set_sync_debug_mode``).
    """
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # match the exact text: the first use also warns once that the mode is a prototype ("Synchronization ...")
    return [f"{w.filename.rsplit('/', 1)[-1]}:{w.lineno}" for w in caught
            if "called a synchronizing CUDA operation" in str(w.message)]


@pytest.mark.parametrize("backend", ["fused", "eager"])
@pytest.mark.parametrize("kind", list(CELL_TYPES))
def test_dense_unroll_asks_for_no_more_host_syncs_than_torch_nn(kind, backend):
    torch.manual_seed(0)
    cell = CELL_TYPES[kind][0](D, H, device=CUDA)
    module = twin(kind, cell)
    xs = torch.randn(B, T, D, device=CUDA)
    unroll(cell, xs, backend=backend)[0].sum().backward()  # warm: cuDNN plans, allocator
    module(xs)[0].sum().backward()
    ours = synchronisations(lambda: unroll(cell, xs, backend=backend)[0].sum().backward())
    theirs = synchronisations(lambda: module(xs)[0].sum().backward())
    print(f"{kind}/{backend}: host syncs ours={ours} torch.nn={theirs}")
    assert len(ours) <= len(theirs)


@pytest.mark.parametrize("backend", ["fused", "eager"])
def test_ragged_unroll_syncs_once_for_the_lengths_not_once_per_segment(backend):
    torch.manual_seed(0)
    cell = LSTMCell(D, H, device=CUDA)
    batch = 16
    xs = torch.randn(batch, 20, D, device=CUDA)
    two_lengths = torch.tensor([20, 10] * (batch // 2), device=CUDA)
    all_distinct = torch.arange(5, 5 + batch, device=CUDA)  # 16 distinct lengths: 16 fused segments
    counts = {}
    for name, lengths in (("2 distinct", two_lengths), ("16 distinct", all_distinct)):
        unroll(cell, xs, lengths=lengths, backend=backend)[0].sum().backward()  # warm
        counts[name] = synchronisations(
            lambda lengths=lengths: unroll(cell, xs, lengths=lengths, backend=backend)[0].sum().backward())
    print(f"ragged {backend}: host syncs {counts}")
    assert len(counts["2 distinct"]) == len(counts["16 distinct"])
    assert len(counts["16 distinct"]) <= 2  # the lengths read once to validate, once to plan the segments


# --- reservoirs (Book 10.8): the sparse (CSR) and dense loops and the chunked ridge readout on the GPU ---
@pytest.mark.parametrize("connectivity", [0.1, 1.0], ids=["sparse", "dense"])
@pytest.mark.parametrize("batch", [1, 3])
def test_reservoir_run_on_cuda_equals_cpu(connectivity, batch):
    from recnets.reservoir import ReservoirCell

    cell = ReservoirCell(2, 30, connectivity=connectivity, leak=0.4, bias_scaling=0.2, dtype=torch.float64)
    us = torch.randn(batch, 40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected, final = cell.run(us)
    on_gpu = copy.deepcopy(cell).to(CUDA)
    actual, final_gpu = on_gpu.run(us.to(CUDA))
    assert actual.device.type == "cuda"
    assert_close(actual.cpu(), expected, torch.float64, "states")
    assert_close(final_gpu.h.cpu(), final.h, torch.float64, "final state")


def test_echo_state_network_fit_and_generate_on_cuda_equal_cpu():
    from recnets.reservoir import EchoStateNetwork, ReservoirCell

    steps = torch.arange(400, dtype=torch.float64)
    series = (torch.sin(steps * 0.3) * torch.cos(steps * 0.05))[:, None]  # (T, 1)
    models = {}
    for device in ("cpu", CUDA):
        esn = EchoStateNetwork(ReservoirCell(1, 40, leak=0.5, dtype=torch.float64), 1).to(device)
        report = esn.fit(series[:-1].to(device), series[1:].to(device), washout=20, ridge=1e-3,  # well conditioned
                         chunk_size=64)
        models[str(device)] = (esn, report)
    (cpu, cpu_report), (gpu, gpu_report) = models["cpu"], models["cuda"]
    assert_close(gpu.W_out.cpu(), cpu.W_out, torch.float64, "W_out")
    generated_cpu, _ = cpu.generate(20, cpu_report.state)
    generated_gpu, _ = gpu.generate(20, gpu_report.state)
    assert_close(generated_gpu.cpu(), generated_cpu, torch.float64, "generated")


@pytest.mark.parametrize("name", ["recursive", "rntn", "child-sum-tree-lstm", "nary-tree-lstm"])
def test_fold_on_cuda_matches_cpu_float64(name):
    """The tree engine (Book 10.6) on the GPU: a TreeClassifier's outputs and gradients equal its CPU float64
    ones, with the TreeBatch moved by ``.to``."""
    from recnets.cells.registry import make_tree_cell
    from recnets.core.tree import binarize, parse_tree
    from recnets.core.tree_batch import batch_trees, flatten_tree
    from recnets.nets.tree_models import TreeClassifier

    texts = ["(MAX 2 9 (MIN 4 7) 0)", "(SM (MED 1 2 3) 5)", "(MIN 8 (MAX (SM 1 2) 3))"]
    torch.manual_seed(0)
    cpu = TreeClassifier(make_tree_cell(name, 3, 4), 16, 5).double()
    trees = [parse_tree(text) for text in texts]
    if cpu.cell.max_children is not None:
        trees = [binarize(tree) for tree in trees]
    ids = {}
    batch = batch_trees([flatten_tree(tree, lambda node: ids.setdefault(node.label, len(ids))) for tree in trees])
    gpu = copy.deepcopy(cpu).to(CUDA)
    for model, device in ((cpu, "cpu"), (gpu, CUDA)):
        logits, _ = model(batch.to(device))
        logits[batch.roots.to(device)].pow(2).sum().backward()
    assert_close(gpu(batch.to(CUDA))[0].cpu(), cpu(batch)[0], torch.float64, "node logits")
    for (label, p_cpu), p_gpu in zip(cpu.named_parameters(), gpu.parameters()):
        assert_close(p_gpu.grad.cpu(), p_cpu.grad, torch.float64, f"grad {label}")
