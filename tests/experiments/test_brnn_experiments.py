"""The brnn-window and brnn-tokenize experiments' pieces: size matching against closed-form weight counts,
the delayed and bidirectional models they build, and their plots. (Their --quick runs are in test_quick.)"""
from __future__ import annotations

import json

import pytest
import torch

from recnets.experiments.brnn_tokenize import build_models, plot_scores
from recnets.experiments.brnn_window import (bidirectional_model, forward_model, matched_width,
                                             plot_error_against_delay, weights_of)
from recnets.nets.bidirectional import BidirectionalRNN
from recnets.nets.delay import DelayedOutput
from recnets.tasks.token_tagging import LABELS


def lstm_weights(D: int, H: int) -> int:
    """U (4H, D), W (4H, H), two biases (4H each)."""
    return 4 * H * (D + H + 2)


@pytest.mark.parametrize("H", [1, 7, 32])
def test_window_models_weights_follow_the_closed_form(H):
    assert weights_of(forward_model("lstm", H, 3)) == lstm_weights(1, H) + H + 1  # readout V (1, H), c
    assert weights_of(bidirectional_model("lstm", H)) == 2 * lstm_weights(1, H) + 2 * H + 1  # V (1, 2H), c


def test_matched_width_is_the_closest_width():
    target = weights_of(forward_model("lstm", 32, 0))
    hidden, weights = matched_width(lambda h: bidirectional_model("lstm", h), target)
    closed = {h: 2 * lstm_weights(1, h) + 2 * h + 1 for h in range(1, 60)}
    assert hidden == min(closed, key=lambda h: (abs(closed[h] - target), h)) and weights == closed[hidden]


def test_forward_model_answers_late_and_bidirectional_sees_the_future():
    xs = torch.rand(2, 12, 1)
    late = forward_model("lstm", 5, 4)
    assert isinstance(late, DelayedOutput) and late.delay == 4 and late.pad == 0.5
    outputs, _ = late(xs)
    changed = xs.clone()
    changed[:, 8] = 0.9 - changed[:, 8]  # a change at step 8 reaches the answers for steps 4 .. 11, not before
    moved = (late(changed)[0] - outputs).abs().sum((0, 2)).detach()
    assert float(moved[:4].sum()) == 0.0 and bool((moved[4:] > 0).all())
    both = bidirectional_model("lstm", 5)
    moved = (both(changed)[0] - both(xs)[0]).abs().sum((0, 2)).detach()
    assert bool((moved > 0).all())  # every step's output reads step 8


def test_plots_are_written(tmp_path):
    forward = [{"delay": d, "mse": 0.5 / (d + 1), "floor": 0.4 / (d + 1)} for d in range(4)]
    floors = {"constant_mse": 0.9, "causal_mse": 0.4}
    path = plot_error_against_delay(tmp_path, forward, {"mse": 0.01}, floors, "test")
    assert path.stat().st_size > 1000
    saved = json.loads((tmp_path / "plots" / "error_vs_delay.json").read_text())
    assert saved["brnn"] == 0.01 and [r["delay"] for r in saved["forward"]] == [0, 1, 2, 3]
    scores = {"f1": {label: 0.5 for label in LABELS}, "by_position": [0.9] * 10}
    results = [{"label": name, "scores": scores} for name in ("a", "b", "c")]
    tagging = plot_scores(tmp_path, results, {"majority_accuracy": 0.3, "majority_label": "NAME"})
    assert tagging.stat().st_size > 1000


def test_tokenize_models_are_of_similar_size_and_tag_every_character():
    models = build_models(vocab_size=30, embedding=8, hidden=20, delay=3)
    assert list(models) == ["forward LSTM", "forward LSTM, delay 3", "bidirectional LSTM"]
    (forward, _), (delayed, _), (brnn, brnn_hidden) = models.values()
    assert isinstance(delayed, DelayedOutput) and delayed.delay == 3 and isinstance(brnn, BidirectionalRNN)
    assert weights_of(forward) == weights_of(delayed)
    assert abs(weights_of(brnn) - weights_of(forward)) <= 2 * lstm_weights(8, brnn_hidden + 1) - 2 * lstm_weights(
        8, brnn_hidden)  # the closest width: within one step of widths
    ids, lengths = torch.randint(30, (3, 11)), torch.tensor([11, 4, 7])
    for model, _ in models.values():
        outputs, _ = model(ids, lengths=lengths)
        assert outputs.shape == (3, 11, len(LABELS))
        assert float(outputs[1, 4:].detach().abs().sum()) == 0.0
