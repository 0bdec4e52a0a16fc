"""The fused element-wise steps (``pointwise.c``): both paths of each kernel that has them (the C steps and
the torch ops they replace) equal the eager reference loop, in float64 to 1e-10 and in float32 within a
relative tolerance, at hidden sizes that exercise the vectorised loops and their remainders; the C library's
float exp against torch's sigmoid and tanh over the whole range, NaN and infinities included; the library is
built once into its cache and reused; a failing compiler falls back to torch ops with one warning."""
from __future__ import annotations

import shutil
import tempfile

import pytest
import torch

from conftest import assert_exact, assert_relative, ragged_lengths
from recnets.cells import BookLSTMCell, GRUCell
from recnets.cells.layer_norm_lstm import LayerNormLSTMCell
from recnets.core import pointwise, unroll
from recnets.core.pointwise import pointwise_library, uses_pointwise
from test_bptt_kernels import random_state, run_and_differentiate

NEEDS_COMPILER = pytest.mark.skipif(pointwise._compiler() is None, reason="needs a C compiler")
# the kernels with C steps, every configuration: name -> factory(hidden, dtype)
CELLS = {"gru": lambda hidden, dtype: GRUCell(3, hidden, dtype=dtype),
         "layer-norm-lstm": lambda hidden, dtype: LayerNormLSTMCell(3, hidden, dtype=dtype),
         "book-lstm": lambda hidden, dtype: BookLSTMCell(3, hidden, dtype=dtype),
         "book-lstm-peephole-tanh": lambda hidden, dtype: BookLSTMCell(3, hidden, peepholes=True,
                                                                       input_activation="tanh", dtype=dtype)}


@pytest.fixture
def fresh_library(monkeypatch):
    """The library looked up anew under the test's environment, and again after it."""
    pointwise_library.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    pointwise_library.cache_clear()


@pytest.fixture(params=["c-steps", "torch-ops"])
def path(request, fresh_library):
    if request.param == "c-steps":
        if pointwise_library() is None:
            pytest.skip("the C steps are not available here (no compiler, or RECNETS_POINTWISE=0)")
    else:
        fresh_library.setenv("RECNETS_POINTWISE", "0")
    return request.param


def perturbed(name, dtype, hidden):
    torch.manual_seed(0)
    cell = CELLS[name](hidden, dtype)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return cell


# float64 to 1e-10 at small H, forward and reversed; float32 within 1e-5 at H = 37 (37 and 4 x 37: vector loops
# and their scalar remainders)
CASES = {"f64-H4": (torch.float64, 4, False), "f64-H13-reverse": (torch.float64, 13, True),
         "f32-H37": (torch.float32, 37, False)}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", CELLS)
def test_each_path_equals_the_eager_loop(name, case, path):
    dtype, hidden, reverse = CASES[case]
    cell = perturbed(name, dtype, hidden)
    batch, steps = 6, 7
    xs = torch.randn(batch, steps, 3, dtype=dtype)
    state = random_state(cell, batch, dtype)
    lengths = ragged_lengths(batch, steps)
    assert (uses_pointwise(xs) is not None) == (path == "c-steps")
    reference = run_and_differentiate(cell, xs, state, lengths, reverse, "eager")
    fast = run_and_differentiate(cell, xs, state, lengths, reverse, "bptt")
    for ours, theirs in zip(fast, reference):
        assert_exact(ours, theirs) if dtype == torch.float64 else assert_relative(ours, theirs, 1e-5)


def test_float_exp_gives_torchs_sigmoid_and_tanh():
    """Through the GRU step with m = 0 and h(t-1) = 0: r = σ(x), z = σ(x), n = tanh(x)."""
    if pointwise_library() is None:
        pytest.skip("the C steps are not available here (no compiler, or RECNETS_POINTWISE=0)")
    special = torch.tensor([float("inf"), float("-inf"), float("nan"), 0.0, -0.0, 1e-30, 88.5, -88.5, 200.0])
    x = torch.cat([torch.linspace(-120, 120, 4001), special])
    H = x.numel()
    px = x.repeat(3).unsqueeze(0)  # (1, 3H)
    m, h_prev, acts, h_new = torch.zeros(1, 3 * H), torch.zeros(1, H), torch.empty(1, 3 * H), torch.empty(1, H)
    step = pointwise_library()[torch.float32]["gru_forward"]
    step(1, H, px.data_ptr(), 3 * H, m.data_ptr(), 3 * H, h_prev.data_ptr(), H, None, acts.data_ptr(), 3 * H,
         h_new.data_ptr(), H)
    r, z, n = acts[0].unflatten(0, (3, H))
    for ours, theirs in ((r, torch.sigmoid(x)), (z, torch.sigmoid(x)), (n, torch.tanh(x))):
        assert torch.equal(ours.isnan(), theirs.isnan())
        real = ~theirs.isnan()
        assert (ours[real] - theirs[real]).abs().max() <= 3e-7
        assert ((ours[real] >= -1) & (ours[real] <= 1)).all()


@NEEDS_COMPILER
def test_the_library_is_built_once_into_its_cache(fresh_library, tmp_path):
    fresh_library.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh_library.setenv("RECNETS_POINTWISE", "1")
    assert pointwise_library() is not None
    built = list((tmp_path / "recnets").iterdir())
    assert len(built) == 1 and built[0].name.startswith("pointwise-") and built[0].suffix == ".so"
    stamp = built[0].stat().st_mtime_ns
    pointwise_library.cache_clear()
    assert pointwise_library() is not None
    assert list((tmp_path / "recnets").iterdir()) == built and built[0].stat().st_mtime_ns == stamp


@pytest.mark.skipif(shutil.which("false") is None, reason="needs the false command")
def test_a_failing_compiler_falls_back_to_torch_ops_with_one_warning(fresh_library, tmp_path):
    fresh_library.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh_library.setenv("CC", "false")
    fresh_library.setenv("RECNETS_POINTWISE", "1")
    with pytest.warns(RuntimeWarning, match="did not build"):
        assert pointwise_library() is None
    cell = perturbed("gru", torch.float64, 4)
    xs = torch.randn(2, 3, 3, dtype=torch.float64)
    assert_exact(unroll(cell, xs, backend="bptt")[0], unroll(cell, xs, backend="eager")[0])


def test_other_dtypes_and_devices_use_torch_ops():
    assert uses_pointwise(torch.zeros(2, dtype=torch.bfloat16)) is None
    assert uses_pointwise(torch.zeros(2), torch.zeros(2, dtype=torch.float64)) is None
    assert uses_pointwise(torch.zeros(2, device="meta")) is None


@NEEDS_COMPILER
def test_a_cache_folder_that_cannot_be_made_falls_back_to_the_temporary_folder(fresh_library, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    fresh_library.setenv("XDG_CACHE_HOME", str(blocker / "cache"))  # under a file: no folder can be made
    fresh_library.setenv("RECNETS_POINTWISE", "1")
    fresh_library.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    assert pointwise_library() is not None
    built = list((tmp_path / "temporary").glob("recnets-*/pointwise-*.so"))
    assert len(built) == 1
