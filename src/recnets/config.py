"""Frozen dataclass configs with dotted overrides (``--model.hidden 512``), unknown keys rejected.

Every run saves its whole config as ``config.json``; :func:`config_from_dict` reads it back.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

__all__ = ["apply_overrides", "config_to_dict", "config_from_dict", "config_keys", "parse_dotted_args"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def config_keys(config: Any, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a (nested) dataclass config."""
    keys: list[str] = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        name = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            keys.extend(config_keys(value, name + "."))
        else:
            keys.append(name)
    return keys


def _convert(key: str, text: Any, annotation: Any) -> Any:
    """``text`` (a string from the command line, or a JSON value) as the type ``annotation`` names."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if type(None) in options and (text is None or (isinstance(text, str) and text.lower() in {"none", "null"})):
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(key, text, option)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0])
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if text not in choices:
            raise ValueError(f"{key}: expected one of {', '.join(map(str, choices))}, got {text!r}")
        return text
    if annotation is bool:
        if isinstance(text, bool):
            return text
        lowered = str(text).lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"{key}: expected true or false, got {text!r}")
    if annotation is int:
        if isinstance(text, bool):
            raise ValueError(f"{key}: expected an integer, got {text!r}")
        try:
            number = float(text) if isinstance(text, str) and any(c in text for c in ".eE") else text
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected an integer, got {text!r}") from None
    if annotation is float:
        try:
            return float(text)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected a number, got {text!r}") from None
    if annotation is str:
        return str(text)
    if origin in (tuple, list):
        items = text if isinstance(text, (list, tuple)) else [t for t in str(text).split(",") if t]
        (item_type, *_rest) = typing.get_args(annotation) or (str,)
        return tuple(_convert(key, item, item_type) for item in items)
    raise ValueError(f"{key}: cannot set a field of type {annotation!r} from the command line")


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """A copy of ``config`` with dotted ``overrides`` applied (values converted to the fields' types).

    Raises:
        ValueError: an unknown key (listing the known ones) or a value of the wrong type.
    """
    known = config_keys(config)
    for key in overrides:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise ValueError(f"config key: expected a known key, got {key!r} ({hint})")
    return _apply(config, overrides, "")


def _apply(config: Any, overrides: dict[str, Any], prefix: str) -> Any:
    hints = _hints(type(config))
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        name = f"{prefix}{field.name}"
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            nested = {k: v for k, v in overrides.items() if k.startswith(name + ".")}
            if nested:
                changes[field.name] = _apply(value, nested, name + ".")
        elif name in overrides:
            changes[field.name] = _convert(name, overrides[name], hints[field.name])
    return dataclasses.replace(config, **changes) if changes else config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a dataclass config."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Rebuild a config of type ``cls`` from :func:`config_to_dict`'s output (unknown keys rejected)."""
    if not isinstance(data, dict):
        raise ValueError(f"config {prefix or 'root'}: expected a JSON object, got {type(data).__name__}")
    hints = _hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ValueError(f"config key: expected one of {', '.join(sorted(names))} under "
                             f"{prefix or 'the root'}, got {key!r}")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        annotation = hints[field.name]
        raw = data[field.name]
        if dataclasses.is_dataclass(annotation):
            values[field.name] = config_from_dict(annotation, raw, f"{prefix}{field.name}.")
        else:
            values[field.name] = _convert(f"{prefix}{field.name}", raw, annotation)
    return cls(**values)


def parse_dotted_args(tokens: list[str]) -> dict[str, str]:
    """``["--model.hidden", "512", "--train.lr=3e-3"]`` -> ``{"model.hidden": "512", "train.lr": "3e-3"}``."""
    overrides: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--"):
            raise ValueError(f"arguments: expected --section.key VALUE, got {token!r}")
        key = token[2:]
        if "=" in key:
            key, value = key.split("=", 1)
        else:
            if index + 1 >= len(tokens):
                raise ValueError(f"--{key}: expected a value after it, got nothing")
            index += 1
            value = tokens[index]
        overrides[key] = value
        index += 1
    return overrides
