"""The shared seeded split (tasks/splits.py) against a manual oracle: the loop the four data tasks used to
copy (shuffle the keys with random.Random(seed), valid then test off the front, train the rest)."""
from __future__ import annotations

import random

import pytest

from recnets.tasks.splits import check_fractions, split_keys

FRACTIONS = [(0.05, 0.05), (0.1, 0.2), (0.25, 0.25), (0.4, 0.45), (0.49, 0.49)]


def oracle(keys: list, valid: float, test: float, seed: int) -> dict[str, list]:
    """The old copies' loop, on the keys themselves (not their positions)."""
    shuffled = list(keys)
    random.Random(seed).shuffle(shuffled)
    n_valid, n_test = max(1, round(valid * len(keys))), max(1, round(test * len(keys)))
    return {"valid": shuffled[:n_valid], "test": shuffled[n_valid:n_valid + n_test],
            "train": shuffled[n_valid + n_test:]}


@pytest.mark.parametrize("count", [5, 7, 20, 101, 1000])
@pytest.mark.parametrize("valid, test", FRACTIONS)
@pytest.mark.parametrize("seed", [0, 3])
def test_matches_the_old_loop_disjoint_covering_and_sized(count, valid, test, seed):
    keys = [f"key{i}" for i in range(count)]
    expected = oracle(keys, valid, test, seed)
    if not expected["train"]:
        with pytest.raises(ValueError, match="expected more keys than valid"):
            split_keys(keys, {"valid": valid, "test": test}, seed)
        return
    got = split_keys(keys, {"valid": valid, "test": test}, seed)
    assert list(got) == ["valid", "test", "train"]
    assert {split: [keys[i] for i in got[split]] for split in got} == expected
    everything = [i for split in got.values() for i in split]
    assert sorted(everything) == list(range(count))  # disjoint and covering
    assert len(got["valid"]) == max(1, round(valid * count)) and len(got["test"]) == max(1, round(test * count))
    assert split_keys(count, {"valid": valid, "test": test}, seed) == got  # a count or the keys: the same


def test_seeded_determinism_and_the_order_of_fractions():
    one = split_keys(500, {"valid": 0.1, "test": 0.2}, 11)
    assert one == split_keys(500, {"valid": 0.1, "test": 0.2}, 11)
    assert one != split_keys(500, {"valid": 0.1, "test": 0.2}, 12)
    flipped = split_keys(500, {"test": 0.2, "valid": 0.1}, 11)  # test is cut first: other keys
    assert list(flipped) == ["test", "valid", "train"]
    assert len(flipped["test"]) == 100 and flipped["test"] != one["test"]


def test_when_no_train_raise_shrink_allow():
    fractions = {"valid": 0.45, "test": 0.45}  # 4 keys: 2 + 2 leaves none for train
    with pytest.raises(ValueError) as error:
        split_keys(4, fractions, 0, name="pairs", items="distinct sources")
    assert str(error.value) == "pairs: expected more distinct sources than valid + test (2 + 2), got 4"
    shrunk = split_keys(4, fractions, 0, when_no_train="shrink")
    assert [len(shrunk[s]) for s in ("valid", "test", "train")] == [2, 1, 1]
    allowed = split_keys(4, fractions, 0, when_no_train="allow")
    assert [len(allowed[s]) for s in ("valid", "test", "train")] == [2, 2, 0]
    for mode in ("shrink", "allow"):  # the front of the shuffle is the same in every mode
        assert split_keys(4, fractions, 0, when_no_train=mode)["valid"] == allowed["valid"]


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1.2, -0.1, True, "0.1", None])
def test_bad_fractions_are_one_line_value_errors(value):
    with pytest.raises(ValueError) as error:
        split_keys(100, {"valid": 0.1, "test": value}, 0, prefix="data.")
    text = str(error.value)
    assert "\n" not in text and text.startswith("data.test_fraction: expected a fraction in (0, 0.5), got ")
    assert text.endswith(repr(value))
    with pytest.raises(ValueError, match="^valid_fraction: expected a fraction"):
        check_fractions({"valid": value})


def test_too_few_keys_bad_mode_and_train_among_fractions():
    with pytest.raises(ValueError) as error:
        split_keys(["a", "b"], {"valid": 0.1, "test": 0.1}, 0, name="data", items="trees")
    assert str(error.value) == "data: expected at least 3 trees (train, valid and test), got 2"
    with pytest.raises(ValueError, match="^when_no_train: expected one of raise, shrink, allow, got 'keep'"):
        split_keys(10, {"valid": 0.1}, 0, when_no_train="keep")
    with pytest.raises(ValueError, match="^fractions: expected the held-out splits only"):
        split_keys(10, {"train": 0.1}, 0)
