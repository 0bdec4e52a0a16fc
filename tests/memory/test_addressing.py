"""NTM addressing, reading and writing against Graves et al.'s equations written out row by row (float64)."""
from __future__ import annotations

import math

import torch

from conftest import assert_exact
from recnets.memory.addressing import content_weights, interpolate, read, sharpen, shift, write

B, HEADS, N, W = 2, 2, 5, 3
f64 = {"dtype": torch.float64}


def test_content_focus_is_a_softmax_of_scaled_cosine_similarity():  # eqs. 5-6
    memory, key, beta = torch.randn(B, N, W, **f64), torch.randn(B, HEADS, W, **f64), torch.rand(B, HEADS, **f64) * 5
    expected = torch.empty(B, HEADS, N, **f64)
    for b in range(B):
        for h in range(HEADS):
            scores = [float(beta[b, h]) * float(key[b, h] @ memory[b, i]) /
                      (float(key[b, h].norm()) * float(memory[b, i].norm())) for i in range(N)]
            total = sum(math.exp(s) for s in scores)
            expected[b, h] = torch.tensor([math.exp(s) / total for s in scores], **f64)
    assert_exact(content_weights(memory, key, beta), expected, tol=1e-7)  # ε = 1e-8 in the denominator


def test_interpolation_shift_and_sharpening():  # eqs. 7-9
    content = torch.softmax(torch.randn(B, HEADS, N, **f64), -1)
    previous = torch.softmax(torch.randn(B, HEADS, N, **f64), -1)
    gate = torch.rand(B, HEADS, **f64)
    gated = interpolate(content, previous, gate)
    assert_exact(gated, gate[..., None] * content + (1 - gate[..., None]) * previous)
    shifts = torch.softmax(torch.randn(B, HEADS, 3, **f64), -1)  # shifts -1, 0, +1
    expected = torch.zeros(B, HEADS, N, **f64)
    for i in range(N):
        for j in range(N):
            for k, offset in enumerate((-1, 0, 1)):
                if (i - j) % N == offset % N:
                    expected[:, :, i] += gated[:, :, j] * shifts[:, :, k]
    shifted = shift(gated, shifts)
    assert_exact(shifted, expected)
    gamma = 1 + 3 * torch.rand(B, HEADS, **f64)
    powered = shifted ** gamma[..., None]
    assert_exact(sharpen(shifted, gamma), powered / powered.sum(-1, keepdim=True), tol=1e-7)
    one_hot = torch.zeros(B, HEADS, N, **f64)
    one_hot[..., 2] = 1.0  # exact zeros: log space keeps it finite and one-hot
    assert torch.isfinite(sharpen(one_hot, gamma)).all() and sharpen(one_hot, gamma)[..., 2].min() > 0.999


def test_a_shift_by_one_moves_a_focused_weighting_one_row_on():
    one_hot = torch.zeros(1, 1, N, **f64)
    one_hot[..., N - 1] = 1.0
    plus_one = torch.tensor([[[0.0, 0.0, 1.0]]], **f64)
    assert shift(one_hot, plus_one)[0, 0].argmax() == 0  # circular: the last row wraps to the first


def test_read_and_write_with_erase_and_add():  # eqs. 2-4, two write heads
    memory = torch.randn(B, N, W, **f64)
    weights = torch.softmax(torch.randn(B, HEADS, N, **f64), -1)
    erase, add = torch.rand(B, HEADS, W, **f64), torch.randn(B, HEADS, W, **f64)
    expected = memory.clone()
    for b in range(B):
        for i in range(N):
            kept = memory[b, i].clone()
            for h in range(HEADS):
                kept = kept * (1 - weights[b, h, i] * erase[b, h])
            expected[b, i] = kept + sum(weights[b, h, i] * add[b, h] for h in range(HEADS))
    assert_exact(write(memory, weights, erase, add), expected)
    reads = read(memory, weights)
    assert_exact(reads[1, 0], sum(weights[1, 0, i] * memory[1, i] for i in range(N)))
    assert_exact(write(memory, weights, torch.zeros_like(erase), torch.zeros_like(add)), memory)
