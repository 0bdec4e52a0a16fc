"""Attention-map pictures: a PNG with its numbers beside it, shapes checked."""
from __future__ import annotations

import json

import pytest
import torch

from recnets.analysis.attention_maps import AttentionExample, plot_attention_maps


def test_plot_attention_maps_writes_png_and_numbers(tmp_path):
    anti = torch.eye(4).flip(1)
    examples = [AttentionExample(anti, list("abcd"), list("dcba"), "reversal"),
                AttentionExample(torch.full((2, 3), 1 / 3), list("xyz"), ["p", "q"], "uniform"),
                AttentionExample(torch.softmax(torch.randn(50, 45), -1), ["s"] * 45, ["o"] * 50, "long")]
    path = plot_attention_maps(examples, tmp_path / "maps.png", columns=2, title="maps")
    assert path.stat().st_size > 1000
    numbers = json.loads(path.with_suffix(".json").read_text())
    assert numbers["examples"][0]["weights"] == anti.tolist() and numbers["examples"][1]["output"] == ["p", "q"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="examples: expected at least one"):
        plot_attention_maps([], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"examples\[0\].weights: expected shape \(2, 3\)"):
        plot_attention_maps([AttentionExample(torch.zeros(3, 2), "abc", "de")], tmp_path / "x.png")
    with pytest.raises(ValueError, match="path: expected a file name ending in .png"):
        plot_attention_maps([AttentionExample(torch.zeros(1, 1), "a", "b")], tmp_path / "x.jpg")
