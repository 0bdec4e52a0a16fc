"""Gradient clipping (Book: 10.11.1): the bounds hold and the returned norm is the one before clipping."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.train import clip_gradients, clip_gradients_lazily


def _parameters(*grads: list) -> list[torch.Tensor]:
    params = []
    for grad in grads:
        p = torch.zeros(torch.tensor(grad).shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.tensor(grad, dtype=torch.float64)
        params.append(p)
    return params


def test_norm_clipping_rescales_to_the_bound_and_returns_the_norm_before():
    params = _parameters([3.0, 4.0], [[12.0]])  # global norm sqrt(9 + 16 + 144) = 13
    norm = clip_gradients(params, max_norm=6.5)
    assert norm == pytest.approx(13.0, rel=1e-12)
    scale = 6.5 / (13.0 + 1e-6)  # torch's rescaling factor max_norm / (norm + eps)
    assert torch.allclose(params[0].grad, torch.tensor([3.0, 4.0], dtype=torch.float64) * scale, rtol=1e-12)
    assert torch.allclose(params[1].grad, torch.tensor([[12.0]], dtype=torch.float64) * scale, rtol=1e-12)
    assert math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params)) <= 6.5


def test_norm_below_the_bound_is_left_alone():
    params = _parameters([0.3, 0.4])
    assert clip_gradients(params, max_norm=1.0) == pytest.approx(0.5, rel=1e-12)
    assert torch.equal(params[0].grad, torch.tensor([0.3, 0.4], dtype=torch.float64))


def test_value_clipping_bounds_every_element_and_returns_the_norm_before():
    params = _parameters([3.0, -4.0], [[12.0]])
    assert clip_gradients(params, max_value=3.5) == pytest.approx(13.0, rel=1e-12)
    assert torch.equal(params[0].grad, torch.tensor([3.0, -3.5], dtype=torch.float64))
    assert torch.equal(params[1].grad, torch.tensor([[3.5]], dtype=torch.float64))


def test_both_bounds_hold_together_on_random_gradients():
    generator = torch.Generator().manual_seed(0)
    params = [torch.zeros(shape, dtype=torch.float64, requires_grad=True) for shape in [(5, 3), (7,), (2, 2, 2)]]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator, dtype=torch.float64) * 10
    by_hand = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
    norm = clip_gradients(params, max_norm=2.0, max_value=1.0)
    assert norm == pytest.approx(by_hand, rel=1e-12)
    assert max(float(p.grad.abs().max()) for p in params) <= 1.0
    assert math.sqrt(sum(float((p.grad ** 2).sum()) for p in params)) <= 2.0 + 1e-9


def test_off_leaves_gradients_and_skips_parameters_without_one():
    params = _parameters([1.0, 2.0, 2.0])
    params.append(torch.zeros(3, requires_grad=True))  # no .grad
    assert clip_gradients(params) == pytest.approx(3.0, rel=1e-12)
    assert torch.equal(params[0].grad, torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    assert clip_gradients([torch.zeros(2, requires_grad=True)], max_norm=1.0) == 0.0


def test_lazy_variant_returns_a_tensor_on_the_gradients_device():
    params = _parameters([3.0, 4.0])
    norm = clip_gradients_lazily(params, max_norm=1.0)
    assert isinstance(norm, torch.Tensor) and norm.dim() == 0 and float(norm) == pytest.approx(5.0)
