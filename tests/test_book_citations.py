"""Every public class of the model layers cites the book section it implements (STYLE convention 6)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import recnets

LAYERS = ["core", "cells", "nets", "analysis", "tasks", "train", "reservoir", "memory"]


def public_objects():
    modules = [importlib.import_module("recnets.decode"), importlib.import_module("recnets.beam_search")]
    for layer in LAYERS:
        package = importlib.import_module(f"recnets.{layer}")
        modules += [importlib.import_module(f"recnets.{layer}.{info.name}") for info in pkgutil.iter_modules(package.__path__)]
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj, module


@pytest.mark.parametrize("qualified, obj, module", list(public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_object_cites_the_book(qualified, obj, module):
    own = inspect.getdoc(obj) or ""
    assert own.strip(), f"{qualified} has no docstring"
    assert "Book:" in own or "Book:" in (inspect.getdoc(module) or ""), f"{qualified} cites no book section"


def test_top_level_names_are_exported_explicitly():
    for name in recnets.__all__:
        assert hasattr(recnets, name), name
