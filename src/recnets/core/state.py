"""State pytrees: NamedTuples of batch-first tensors, and the generic helpers that act on every leaf.

Book: 10.1 (the state h(t) summarises the past; eq. 10.5 carries it from step to step).

A state is a ``NamedTuple`` (or plain tuple) whose leaves are tensors with the batch as their first
dimension, or ``None``. Because every leaf is batch-first, masking by lengths, detaching for truncated
BPTT, reordering (sorting by length, beam search) and saving are one ``tree_map`` each; no cell writes them.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "tree_map",
    "tree_leaves",
    "mask_state",
    "detach_state",
    "reorder_state",
    "select_rows",
    "concat_rows",
    "state_to_flat",
    "state_from_flat",
]


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def tree_map(fn: Callable[..., Any], tree: Any, *others: Any) -> Any:
    """Apply ``fn`` to every tensor leaf of ``tree`` (and the matching leaves of ``others``).

    Tuples and NamedTuples are rebuilt with the same type; ``None`` leaves stay ``None``.
    """
    if tree is None:
        return None
    if isinstance(tree, Tensor):
        return fn(tree, *others)
    if isinstance(tree, tuple):
        for other in others:
            if not isinstance(other, tuple) or len(other) != len(tree):
                raise ValueError(
                    f"state structures differ: expected a tuple of {len(tree)} leaves, got {type(other).__name__}"
                )
        children = [tree_map(fn, child, *(o[i] for o in others)) for i, child in enumerate(tree)]
        return type(tree)(*children) if _is_namedtuple(tree) else tuple(children)
    raise TypeError(f"state leaves must be tensors, tuples or None, got {type(tree).__name__}")


def tree_leaves(tree: Any) -> list[Tensor]:
    """All tensor leaves of ``tree`` in order."""
    leaves: list[Tensor] = []
    tree_map(lambda leaf: leaves.append(leaf), tree)
    return leaves


def mask_state(new: Any, old: Any, keep_new: Tensor) -> Any:
    """Rows where ``keep_new`` (B,) is true take ``new``; the others keep ``old`` (a finished sequence)."""

    def pick(n: Tensor, o: Tensor) -> Tensor:
        mask = keep_new.view(-1, *([1] * (n.dim() - 1)))
        return torch.where(mask, n, o)

    return tree_map(pick, new, old)


def detach_state(state: Any) -> Any:
    """Cut the graph behind ``state``: truncated BPTT (Book: 10.2.2) carries values, not gradients."""
    return tree_map(lambda leaf: leaf.detach(), state)


def reorder_state(state: Any, index: Tensor) -> Any:
    """Rows of every leaf in the order of ``index`` (B',): sorting by length, beam reordering."""
    return tree_map(lambda leaf: leaf.index_select(0, index), state)


def select_rows(state: Any, stop: int, start: int = 0) -> Any:
    """Rows ``start:stop`` of every leaf."""
    return tree_map(lambda leaf: leaf[start:stop], state)


def concat_rows(first: Any, second: Any) -> Any:
    """Leaves of ``first`` stacked above the matching leaves of ``second`` along the batch."""
    return tree_map(lambda a, b: torch.cat([a, b], 0), first, second)


def state_to_flat(state: Any, prefix: str = "state") -> dict[str, Tensor]:
    """A flat ``{name: tensor}`` view of ``state`` for safetensors (leaf names from the NamedTuple fields)."""
    flat: dict[str, Tensor] = {}

    def walk(node: Any, name: str) -> None:
        if node is None:
            return
        if isinstance(node, Tensor):
            flat[name] = node.detach().contiguous()
            return
        fields = node._fields if _is_namedtuple(node) else [str(i) for i in range(len(node))]
        for field, child in zip(fields, node):
            walk(child, f"{name}.{field}")

    walk(state, prefix)
    return flat


def state_from_flat(template: Any, flat: dict[str, Tensor], prefix: str = "state") -> Any:
    """Rebuild a state shaped like ``template`` from ``state_to_flat``'s dictionary."""

    def build(node: Any, name: str) -> Any:
        if node is None:
            return None
        if isinstance(node, Tensor):
            if name not in flat:
                raise ValueError(f"saved state: expected a tensor named {name!r}, found {sorted(flat)}")
            return flat[name].to(device=node.device, dtype=node.dtype)
        fields = node._fields if _is_namedtuple(node) else [str(i) for i in range(len(node))]
        children = [build(child, f"{name}.{field}") for field, child in zip(fields, node)]
        return type(node)(*children) if _is_namedtuple(node) else tuple(children)

    return build(template, prefix)


class Hidden(NamedTuple):
    """The state of an Elman or GRU cell: h(t), (B, H)."""

    h: Tensor


__all__.append("Hidden")
