"""Dotted config overrides: types, unknown keys, round trips."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from recnets.config import apply_overrides, config_from_dict, config_keys, config_to_dict, parse_dotted_args
from recnets.experiments.char_lm import CharLMRunConfig


@dataclass(frozen=True)
class Inner:
    hidden: int = 3
    name: str = "lstm"
    path: str | None = None
    flag: bool = False
    rate: float = 0.5


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    steps: int = 10


def test_overrides_convert_to_the_field_types():
    config = apply_overrides(Outer(), parse_dotted_args(
        ["--inner.hidden", "512", "--steps=7", "--inner.path", "none", "--inner.flag", "yes", "--inner.rate", "3e-3"]))
    assert config == Outer(Inner(hidden=512, path=None, flag=True, rate=3e-3), steps=7)
    assert apply_overrides(Outer(), {"inner.path": "a.txt"}).inner.path == "a.txt"
    assert apply_overrides(Outer(), {"steps": "1e3"}).steps == 1000


def test_unknown_key_names_the_closest_known_one():
    with pytest.raises(ValueError, match=r"got 'inner.hiden' \(did you mean inner.hidden\?\)"):
        apply_overrides(Outer(), {"inner.hiden": "3"})
    with pytest.raises(ValueError, match="known keys: inner.hidden"):
        apply_overrides(Outer(), {"zzz": "3"})


@pytest.mark.parametrize("key, value, message", [
    ("inner.hidden", "x", "inner.hidden: expected an integer, got 'x'"),
    ("inner.hidden", "2.5", "inner.hidden: expected an integer"),
    ("inner.flag", "maybe", "inner.flag: expected true or false"),
    ("inner.rate", "fast", "inner.rate: expected a number"),
])
def test_bad_values_are_one_line_errors(key, value, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(Outer(), {key: value})


def test_parse_dotted_args_rejects_positional_and_missing_values():
    with pytest.raises(ValueError, match="expected --section.key VALUE"):
        parse_dotted_args(["hidden"])
    with pytest.raises(ValueError, match="--steps: expected a value"):
        parse_dotted_args(["--steps"])


def test_run_config_round_trips_through_json_dict():
    config = apply_overrides(CharLMRunConfig(), {"model.cell": "gru", "train.lr": "0.01", "data.data": "x.txt"})
    assert config_from_dict(CharLMRunConfig, config_to_dict(config)) == config
    assert "train.clip_norm" in config_keys(config)
    with pytest.raises(ValueError, match="config key"):
        config_from_dict(CharLMRunConfig, {"model": {"cells": "gru"}})


def test_dataclass_validation_runs_on_override():
    with pytest.raises(ValueError, match="model.cell: expected one of"):
        apply_overrides(CharLMRunConfig(), {"model.cell": "transformer"})
    with pytest.raises(ValueError, match="lr"):
        apply_overrides(CharLMRunConfig(), {"train.lr": "-1"})
