"""Edit distance against a recursive oracle and hand-computed cases; WER and PER with several references,
their conventions (any reference matches; the closest reference, ties to the shorter) checked by brute force."""
from __future__ import annotations

import itertools
from functools import lru_cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recnets.tasks.sequence_errors import (closest_reference, edit_distance, error_rates, phoneme_error_rate,
                                           word_error_rate)


def recursive_distance(a: tuple, b: tuple) -> int:
    """Levenshtein distance straight from its recursive definition (the oracle)."""
    @lru_cache(maxsize=None)
    def d(i: int, j: int) -> int:
        if i == 0:
            return j
        if j == 0:
            return i
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
    return d(len(a), len(b))


def brute_force_distance(a: tuple, b: tuple, limit: int = 4) -> int:
    """The fewest single-token edits (over the tokens of a and b) reaching b from a: breadth-first search."""
    alphabet = sorted(set(a) | set(b))
    frontier, seen = {a}, {a}
    for distance in range(limit + 1):
        if b in frontier:
            return distance
        following = set()
        for s in frontier:
            for i in range(len(s) + 1):
                for token in alphabet:
                    following.add(s[:i] + (token,) + s[i:])  # insertion
                if i < len(s):
                    following.add(s[:i] + s[i + 1:])  # deletion
                    for token in alphabet:
                        following.add(s[:i] + (token,) + s[i + 1:])  # substitution
        frontier = following - seen
        seen |= following
    raise AssertionError("beyond the search limit")


@pytest.mark.parametrize("a, b, expected", [
    ("kitten", "sitting", 3), ("", "", 0), ("", "abc", 3), ("abc", "", 3), ("abc", "abc", 0),
    ("flaw", "lawn", 2), ("intention", "execution", 5), ("ab", "ba", 2),
    (["K", "AE", "T"], ["K", "AA", "T", "S"], 2), (["HH", "AH", "L", "OW"], ["HH", "EH", "L", "OW"], 1),
])
def test_hand_computed_distances(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


@given(st.lists(st.sampled_from("abc"), max_size=8), st.lists(st.sampled_from("abc"), max_size=8))
def test_edit_distance_equals_the_recursive_definition(a, b):
    assert edit_distance(a, b) == recursive_distance(tuple(a), tuple(b))


@given(st.lists(st.sampled_from("ab"), max_size=4), st.lists(st.sampled_from("ab"), max_size=4))
def test_edit_distance_is_the_fewest_edits_by_search(a, b):
    assert edit_distance(a, b) == brute_force_distance(tuple(a), tuple(b))


@given(*(st.lists(st.sampled_from("abc"), max_size=6) for _ in range(3)))
def test_edit_distance_is_a_metric(a, b, c):
    assert edit_distance(a, b) == edit_distance(b, a)
    assert (edit_distance(a, b) == 0) == (a == b)
    assert edit_distance(a, c) <= edit_distance(a, b) + edit_distance(b, c)
    assert abs(len(a) - len(b)) <= edit_distance(a, b) <= max(len(a), len(b))


def test_word_error_rate_counts_a_match_with_any_reference():
    hypotheses = [["K", "AE", "T"], ["T", "AH", "M", "EY", "T", "OW"], ["D", "AO", "G"]]
    references = [[["K", "AE", "T"]],
                  [["T", "AH", "M", "EY", "T", "OW"], ["T", "AH", "M", "AA", "T", "OW"]],
                  [["D", "AA", "G"], ["D", "AO", "G", "Z"]]]
    assert word_error_rate(hypotheses, references) == pytest.approx(1 / 3)
    references[1] = references[1][::-1]  # the second reference matches as well as the first
    assert word_error_rate(hypotheses, references) == pytest.approx(1 / 3)


def test_phoneme_error_rate_uses_the_closest_reference_and_breaks_ties_to_the_shorter():
    # "D AO G": 1 edit from "D AA G" (3 tokens) and 1 from "D AO G Z" (4 tokens): the shorter is chosen
    assert closest_reference(["D", "AO", "G"], [["D", "AO", "G", "Z"], ["D", "AA", "G"]]) == (1, 1)
    # equal distance and length: the first listed
    assert closest_reference(["a"], [["b"], ["c"]]) == (0, 1)
    hypotheses = [["K", "AE", "T"], ["D", "AO", "G"]]
    references = [[["K", "AE", "T"]], [["D", "AO", "G", "Z"], ["D", "AA", "G"]]]
    assert phoneme_error_rate(hypotheses, references) == pytest.approx((0 + 1) / (3 + 3))
    rates = error_rates(hypotheses, references)
    assert (rates.items, rates.wrong_items, rates.edits, rates.reference_tokens) == (2, 1, 1, 6)
    assert rates.word_error_rate == pytest.approx(0.5)


@given(st.lists(st.tuples(st.lists(st.sampled_from("ab"), max_size=4),
                          st.lists(st.lists(st.sampled_from("ab"), min_size=1, max_size=4), min_size=1, max_size=3)),
                min_size=1, max_size=5))
def test_error_rates_against_brute_force(items):
    hypotheses = [h for h, _ in items]
    references = [r for _, r in items]
    edits = tokens = wrong = 0
    for h, options in items:
        # every reference, ranked by (distance, length, position): the first is the closest
        ranked = sorted(itertools.starmap(lambda i, r: (recursive_distance(tuple(h), tuple(r)), len(r), i),
                                          enumerate(options)))
        edits += ranked[0][0]
        tokens += ranked[0][1]
        wrong += all(h != r for r in options)
    rates = error_rates(hypotheses, references)
    assert (rates.edits, rates.reference_tokens, rates.wrong_items) == (edits, tokens, wrong)
    assert rates.phoneme_error_rate == pytest.approx(edits / tokens)
    assert word_error_rate(hypotheses, references) == pytest.approx(wrong / len(items))


@pytest.mark.parametrize("hypotheses, references, message", [
    ([["a"]], [], "expected one list of references per hypothesis (1), got 0"),
    ([], [], "hypotheses: expected at least one item"),
    ([["a"]], [[]], "references[0]: expected a non-empty list of reference sequences"),
    ([["a"]], ["ab"], "references[0]: expected a non-empty list of reference sequences"),
    ([["a"]], [[[]]], "expected closest references of positive total length"),
])
def test_bad_arguments_are_one_line_errors(hypotheses, references, message):
    with pytest.raises(ValueError) as error:
        error_rates(hypotheses, references)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_fast_enough_for_a_test_split():
    import time

    words = [list("ABCDEFGH"[i % 5:]) + list("XYZ"[: i % 3]) for i in range(6700)]
    references = [[w[::-1], w[1:]] for w in words]
    started = time.perf_counter()
    error_rates(words, references)
    assert time.perf_counter() - started < 2.0  # ~6,700 words x 2 references: 0.8 s measured on the busy 2-core machine
