"""The seeded train/valid/test split that the data tasks share: shuffle the keys, carve the held-out splits.

Book: 5.3 (a validation set held out of the training data to choose hyperparameters, a test set for the
final estimate), as used by the Chapter 10 tasks on the user's own data (10.2.3, 10.3, 10.4, 10.6).

**The rule.** ``n`` keys (sources, headwords, sequences, trees) are numbered ``0 .. n-1`` and that list is
shuffled with ``random.Random(seed)``. The held-out splits are then cut off its front in the order of
``fractions``: each gets ``max(1, round(fraction · n))`` keys; ``"train"`` gets the rest. ``random.shuffle``'s
permutation depends only on the list's length, so shuffling the positions and shuffling the keys themselves
give the same split.

**Too few keys for train** (``when_no_train``): ``"raise"`` (the default) refuses a split that leaves train
empty; ``"shrink"`` takes keys off the last held-out split so that train keeps one (``tasks/conll.py``);
``"allow"`` lets train be empty (``tasks/cmudict.py`` and the tree job, as they always have).
"""
from __future__ import annotations

import random
from typing import Mapping, Sized

__all__ = ["WHEN_NO_TRAIN", "check_fractions", "split_keys"]

WHEN_NO_TRAIN = ("raise", "shrink", "allow")


def check_fractions(fractions: Mapping[str, float], *, prefix: str = "") -> None:
    """Every held-out fraction in (0, 0.5).

    Raises:
        ValueError: one line naming ``{prefix}{split}_fraction`` (e.g. ``data.valid_fraction``) and the value.

    Book: 5.3.
    """
    for split, value in fractions.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
            raise ValueError(f"{prefix}{split}_fraction: expected a fraction in (0, 0.5), got {value!r}")


def split_keys(keys: int | Sized, fractions: Mapping[str, float], seed: int, *, name: str = "keys",
               items: str = "keys", when_no_train: str = "raise", prefix: str = "") -> dict[str, list[int]]:
    """The positions ``0 .. n-1`` of ``keys`` dealt into the held-out splits of ``fractions``, then ``"train"``.

    Args:
        keys: how many keys, or the keys themselves (only their number is used).
        fractions: held-out split -> its share of the keys, e.g. ``{"valid": 0.05, "test": 0.05}``; cut in
            this order from the front of the shuffled positions. ``"train"`` gets the rest.
        seed: of ``random.Random``, which shuffles the positions.
        name, items: for the errors: ``"{name}: expected at least 3 {items} ..."``.
        when_no_train: ``"raise"``, ``"shrink"`` or ``"allow"`` (see the module's docstring).
        prefix: before ``{split}_fraction`` in the error of a bad fraction (``"data."`` for a job's config).

    Returns:
        split -> positions, in shuffled order; the held-out splits in the order of ``fractions``, then train.

    Raises:
        ValueError: a fraction outside (0, 0.5) or a ``"train"`` key in ``fractions``; fewer keys than splits
            (e.g. 3 for train, valid and test); with ``"raise"`` (or ``"shrink"`` that cannot), an empty train.

    Book: 5.3.
    """
    if "train" in fractions:
        raise ValueError(f"fractions: expected the held-out splits only (train gets the rest), got {list(fractions)}")
    if when_no_train not in WHEN_NO_TRAIN:
        raise ValueError(f"when_no_train: expected one of {', '.join(WHEN_NO_TRAIN)}, got {when_no_train!r}")
    check_fractions(fractions, prefix=prefix)
    count = keys if isinstance(keys, int) and not isinstance(keys, bool) else len(keys)
    wanted = len(fractions) + 1
    if count < wanted:
        splits = ", ".join(["train", *fractions][:-1]) + f" and {[*fractions][-1]}" if fractions else "train"
        raise ValueError(f"{name}: expected at least {wanted} {items} ({splits}), got {count}")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    sizes = [max(1, round(fraction * count)) for fraction in fractions.values()]
    if when_no_train == "shrink" and sizes:
        sizes[-1] = min(sizes[-1], count - sum(sizes[:-1]) - 1)
    if when_no_train != "allow" and (sum(sizes) >= count or min(sizes, default=1) < 1):
        shown = " + ".join(map(str, sizes))
        raise ValueError(f"{name}: expected more {items} than {' + '.join(fractions)} ({shown}), got {count}")
    splits: dict[str, list[int]] = {}
    start = 0
    for split, size in zip(fractions, sizes):
        splits[split] = order[start:start + size]
        start += size
    splits["train"] = order[start:]
    return splits
