"""Shared test setup: a fixed seed per test, a deterministic hypothesis profile, float64 comparison helpers.

pyproject.toml sets ``filterwarnings = ["error"]``: every warning fails its test. Tests that expect one use
``pytest.warns``; a warning that must be tolerated goes on pyproject's curated ignore list with its reason.
"""
from __future__ import annotations

import random
import zlib
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from recnets.core.state import tree_leaves

# Deterministic property tests: the same examples on every run and machine (derandomize), few enough to keep
# the suite fast, no per-example deadline (torch's first call in a process is slow). The autouse seed fixture
# below is function-scoped but only reseeds the global generators; property tests draw their own seeds.
settings.register_profile("recnets", derandomize=True, max_examples=25, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("recnets")

EXACT = 1e-10  # float64 oracles (STYLE convention 10)


@pytest.fixture(autouse=True)
def fixed_seed(request: pytest.FixtureRequest) -> int:
    """Seed torch, numpy and random from the test's own id: each test is reproducible on its own and tests
    do not share one stream (adding a test does not change another's numbers)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    return seed


@pytest.fixture(autouse=True)
def one_thread():
    """Each test on one intra-op thread: the tests' models are tiny and gain nothing from more, and on a
    busy 2-core machine spinning extra threads costs up to ~50x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def leaves(tree: Any) -> list[torch.Tensor]:
    """Tensor leaves of a tensor, a (Named)tuple of tensors, or a list of such."""
    if isinstance(tree, list):
        return [leaf for item in tree for leaf in leaves(item)]
    return tree_leaves(tree)


def max_abs_diff(actual: Any, expected: Any) -> float:
    """The largest absolute difference over matching leaves (same structure and shapes required)."""
    actual_leaves, expected_leaves = leaves(actual), leaves(expected)
    assert len(actual_leaves) == len(expected_leaves), (len(actual_leaves), len(expected_leaves))
    worst = 0.0
    for a, e in zip(actual_leaves, expected_leaves):
        assert a.shape == e.shape, (a.shape, e.shape)
        if a.numel():
            worst = max(worst, float((a.detach().double() - e.detach().double()).abs().max()))
    return worst


def assert_exact(actual: Any, expected: Any, tol: float = EXACT) -> None:
    """float64 oracle comparison: every real leaf float64 and within ``tol`` absolutely (integer leaves, such
    as a step index, must then be equal)."""
    for leaf in leaves(actual) + leaves(expected):
        assert leaf.dtype == torch.float64 or not leaf.is_floating_point(), leaf.dtype
    diff = max_abs_diff(actual, expected)
    assert diff <= tol, f"max |actual - expected| = {diff:.3e} > {tol:.0e}"


def assert_relative(actual: Any, expected: Any, rtol: float) -> None:
    """float32 comparison: the largest difference within ``rtol`` times the largest magnitude of ``expected``."""
    scale = max((float(e.detach().abs().max()) for e in leaves(expected) if e.numel()), default=0.0)
    diff = max_abs_diff(actual, expected)
    assert diff <= rtol * max(scale, 1e-30), f"max diff {diff:.3e} > {rtol:.0e} x max |expected| {scale:.3e}"


def grads(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The ``.grad`` of each tensor, each required to exist."""
    out = []
    for tensor in tensors:
        assert tensor.grad is not None, "a tensor received no gradient"
        out.append(tensor.grad)
    return out


def ragged_lengths(batch: int, steps: int) -> torch.Tensor:
    """Distinct-ish lengths in scrambled order with at least one full and one short sequence: (B,) int64."""
    base = [steps, 1, max(1, steps - 2), max(1, steps // 2), steps, max(1, steps - 1)]
    return torch.tensor((base * batch)[:batch], dtype=torch.long)


def one_line_error(capsys, *needles: str) -> str:
    """The CLI's stderr after a user's mistake: exactly one line, ``recnets: error: ...``, holding each needle."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("recnets: error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err
