"""The deep-rnn experiment's size matching: closed-form weight counts and the width closest to a target."""
from __future__ import annotations

import pytest
import torch

from recnets.experiments.deep_rnn import VARIANTS, LastOutput, build_variant, weights_of, width_for_weights

SHALLOW, DEEP_INPUT, DEEP_TRANSITION, SHORTCUT, DEEP_OUTPUT, DOTS = VARIANTS
V, D = 50, 8


def closed_form(variant, H):
    """Embedding V D; input MLP D H + H (the cell then reads H); transition U, W, b plus (H^2 + H) per
    extra layer and H^2 for the shortcut; output MLP H^2 + H; readout H V + V."""
    width = H if variant.input_layers else D
    count = V * D + variant.input_layers * (D * H + H)
    count += H * width + H * H + H + (variant.transition_depth - 1) * (H * H + H) + (H * H if variant.shortcut else 0)
    count += variant.output_layers * (H * H + H) + H * V + V
    return count


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.label.split(" ")[0])
def test_weights_follow_the_closed_form(variant):
    for H in (3, 17):
        assert weights_of(build_variant(variant, D, H, V, vocab_size=V)) == closed_form(variant, H)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.label.split(" ")[0])
def test_width_for_weights_is_the_closest_width(variant):
    target = closed_form(DEEP_TRANSITION, 40)
    hidden, weights = width_for_weights(variant, D, V, target, vocab_size=V)
    assert weights == closed_form(variant, hidden)
    best = min(range(1, 200), key=lambda h: (abs(closed_form(variant, h) - target), h))
    assert hidden == best
    if variant is DEEP_TRANSITION:
        assert (hidden, weights) == (40, target)


def test_width_for_weights_rejects_a_nonpositive_target():
    with pytest.raises(ValueError, match="target"):
        width_for_weights(SHALLOW, D, V, 0)


def test_last_output_reads_each_sequence_at_its_own_last_step():
    torch.manual_seed(0)
    net = build_variant(SHORTCUT, 3, 5, 2)
    inputs, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    every, _ = net(inputs, lengths=lengths)
    last, _ = LastOutput(net)(inputs, lengths=lengths)
    torch.testing.assert_close(last, every[torch.arange(3), lengths - 1], rtol=0, atol=0)
    alone, _ = LastOutput(net)(inputs[1:2, :2])
    torch.testing.assert_close(last[1:2], alone, rtol=1e-6, atol=1e-6)
