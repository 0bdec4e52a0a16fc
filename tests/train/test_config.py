"""TrainConfig: defaults are valid, the dataclass is frozen, every bad value names its field."""
from __future__ import annotations

import dataclasses

import pytest

from recnets.train import TrainConfig


def test_defaults_are_valid_and_frozen():
    config = TrainConfig()
    assert config.clip_norm == 0 and config.tbptt_steps == 0 and config.loss_reduction == "mean"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("field, value", [
    ("steps", 0), ("steps", 1.5), ("lr", 0.0), ("lr", float("nan")), ("lr", "fast"), ("optimizer", "lbfgs"),
    ("momentum", 1.0), ("momentum", -0.1), ("clip_norm", -1.0), ("clip_value", float("inf")),
    ("loss_reduction", "max"), ("tbptt_steps", -1), ("eval_every", -1), ("patience", 2.0),
    ("checkpoint_every", -2), ("keep_checkpoints", 0), ("seed", -1), ("log_every", 0), ("max_seconds", -1.0),
    ("device", "tpu"), ("progress", "yes"), ("steps", True),
])
def test_bad_values_raise_one_line_naming_the_field(field, value):
    with pytest.raises(ValueError) as caught:
        TrainConfig(**{field: value})
    message = str(caught.value)
    assert message.startswith(f"{field}: expected ") and repr(value) in message and "\n" not in message
