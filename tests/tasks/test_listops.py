"""ListOps: the exact evaluator against hand-worked values and an independent string-rewriting evaluator; the
generator's statistics (no bare digits, 2-5 arguments, depth <= 20), determinism, disjoint splits."""
from __future__ import annotations

import itertools
import random
import re
import statistics
from collections import Counter

import pytest

from recnets.core.tree import Tree, parse_tree
from recnets.tasks.listops import (DIGITS, MAX_DEPTH, OPERATORS, ListOpsConfig, binary_parse, evaluate_listops,
                                   generate_tree, listops_tokens, majority_class, make_listops, operator_depth,
                                   parse_listops)

SMALL = ListOpsConfig(train_size=1500, valid_size=300, test_size=300, seed=7)


@pytest.fixture(scope="module")
def small_data():
    return make_listops(SMALL)


@pytest.mark.parametrize("text, value", [
    ("(MAX 2 9 (MIN 4 7) 0)", 9),          # the paper's Figure 1 example
    ("(MIN 4 7)", 4),
    ("(SM 9 8 7)", 4),                     # 24 mod 10
    ("(SM 5 5)", 0),
    ("(MED 3 1 2)", 2),                    # odd count: the middle value
    ("(MED 1 4)", 2),                      # even count: floor((1 + 4) / 2), the authors' int(np.median)
    ("(MED 9 1 8 2)", 5),                  # sorted 1 2 8 9: floor((2 + 8) / 2)
    ("(MED 7 7 0 0 9)", 7),
    ("(MAX (MIN 3 8) (SM 6 7) (MED 0 9))", 4),  # MIN 3, SM 3, MED 4
    ("(SM (MAX 9 9) (MAX 9 9) (MIN 2 3 4))", 0),  # 9 + 9 + 2 = 20
    ("(MIN (MAX 1 (MIN 8 (SM 4 5 6))) 3 9)", 3),  # SM 5, MIN 5, MAX 5, MIN 3
])
def test_evaluator_matches_hand_worked_values(text, value):
    assert evaluate_listops(parse_tree(text)) == value


def _reduced(operator: str, values: list[int]) -> int:
    """An independent reading of the operators: statistics' median (the mean of the two middle values for an
    even count), truncated to an integer as the authors' int(np.median) does."""
    if operator == "MIN":
        return min(values)
    if operator == "MAX":
        return max(values)
    if operator == "SM":
        return sum(values) % 10
    return int(statistics.median(values))


_INNERMOST = re.compile(r"\[(MIN|MAX|MED|SM)((?: \d)+) \]")


def _value_by_rewriting(text: str) -> int:
    """Evaluate the dataset's flat form by rewriting innermost ``[OP d d ... ]`` lists to their digit until one
    digit is left: no tree, no recursion."""
    while True:
        text, count = _INNERMOST.subn(lambda m: str(_reduced(m.group(1), [int(t) for t in m.group(2).split()])),
                                      text)
        if count == 0:
            return int(text)


def test_evaluator_agrees_with_independent_rewriting_on_generated_trees(small_data):
    for tree, label in zip(*small_data.split("train")):
        assert label == evaluate_listops(tree) == _value_by_rewriting(" ".join(listops_tokens(tree)))


@pytest.mark.parametrize("operator", OPERATORS)
def test_every_operator_on_every_two_and_three_digit_list(operator):
    for count in (2, 3):
        for values in itertools.product(range(10), repeat=count):
            tree = Tree(operator, tuple(Tree(str(v)) for v in values))
            assert evaluate_listops(tree) == _reduced(operator, list(values)), (operator, values)


def test_evaluator_rejects_foreign_labels():
    with pytest.raises(ValueError, match="tree: expected a digit"):
        evaluate_listops(parse_tree("(MAX 2 x)"))
    with pytest.raises(ValueError, match="tree: expected an operator"):
        evaluate_listops(parse_tree("(AVG 2 3)"))


def test_dataset_form_round_trips_and_reads_the_papers_example():
    tree = parse_listops("[MAX 2 9 [MIN 4 7 ] 0 ]")
    assert str(tree) == "(MAX 2 9 (MIN 4 7) 0)"
    assert listops_tokens(tree) == ["[MAX", "2", "9", "[MIN", "4", "7", "]", "0", "]"]
    rng = random.Random(3)
    for _ in range(200):
        tree = generate_tree(rng)
        assert parse_listops(" ".join(listops_tokens(tree))) == tree


def test_binary_parse_is_the_datasets_left_branching_tree():
    tree = parse_listops("[MAX 2 9 [MIN 4 7 ] 0 ]")
    binary = binary_parse(tree)
    assert str(binary) == "(((((([MAX) 2) 9) (((([MIN) 4) 7) ])) 0) ])"
    rng = random.Random(5)
    for _ in range(100):
        tree = generate_tree(rng)
        binary = binary_parse(tree)
        assert [leaf.label for leaf in binary.leaves()] == listops_tokens(tree)
        inner = [node for node in _nodes(binary) if node.children]
        assert all(node.label is None and len(node.children) == 2 for node in inner)


@pytest.mark.parametrize("text, message", [
    ("[MAX 2 9", "unclosed"), ("[MAX 2 ] ]", "after it"), ("2 ]", "after it"), ("[MAX ]", "at least one"),
    ("[AVG 2 3 ]", "got '\\[AVG'"), ("", "complete expression")])
def test_dataset_form_errors_are_one_line(text, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_listops(text)
    assert "\n" not in str(error.value)


def test_generator_draws_follow_the_authors_probabilities():
    """Without dedup: a root is a bare digit with probability 0.75; an operator has 2-5 children uniformly,
    its operator uniform over four; digits are uniform."""
    rng = random.Random(11)
    trees = [generate_tree(rng) for _ in range(20_000)]
    bare = sum(tree.is_leaf for tree in trees) / len(trees)
    assert abs(bare - 0.75) < 0.015
    inner = [node for tree in trees if not tree.is_leaf for node in _nodes(tree) if not node.is_leaf]
    counts = Counter(len(node.children) for node in inner)
    assert set(counts) == {2, 3, 4, 5}
    assert max(abs(counts[k] / len(inner) - 0.25) for k in counts) < 0.02
    operators = Counter(node.label for node in inner)
    assert max(abs(operators[op] / len(inner) - 0.25) for op in OPERATORS) < 0.02
    digits = Counter(node.label for tree in trees for node in _nodes(tree) if node.is_leaf)
    assert set(digits) == set(DIGITS)
    assert max(abs(digits[d] / sum(digits.values()) - 0.1) for d in DIGITS) < 0.01


def _nodes(tree: Tree) -> list[Tree]:
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def test_splits_have_no_bare_digits_at_most_five_arguments_and_depth_at_most_20(small_data):
    heights = []
    for name in ("train", "valid", "test"):
        trees, labels = small_data.split(name)
        assert len(trees) == getattr(SMALL, f"{name}_size") == len(labels)
        for tree in trees:
            assert not tree.is_leaf
            assert 2 <= min(len(n.children) for n in _nodes(tree) if n.children) <= tree.max_children() <= 5
            heights.append(operator_depth(tree))
    assert max(heights) == MAX_DEPTH - 1  # the root is depth 1, leaves are forced at depth 20: 19 levels of operators
    assert min(heights) == 1


def test_splits_are_distinct_disjoint_and_fixed_by_the_seed(small_data):
    keys = {name: [str(tree) for tree in small_data.trees[name]] for name in ("train", "valid", "test")}
    everything = keys["train"] + keys["valid"] + keys["test"]
    assert len(set(everything)) == len(everything)
    again = make_listops(SMALL)
    assert again.trees == small_data.trees and again.labels == small_data.labels and again.draws == small_data.draws
    other = make_listops(ListOpsConfig(train_size=1500, valid_size=300, test_size=300, seed=8))
    assert [str(t) for t in other.trees["test"]] != keys["test"]


def test_token_cap_drops_only_long_trees(small_data):
    capped = make_listops(ListOpsConfig(train_size=500, valid_size=50, test_size=50, seed=7, max_tokens=30))
    assert max(len(listops_tokens(t)) for name in ("train", "valid", "test") for t in capped.trees[name]) <= 30
    assert capped.trees["train"][0] == small_data.trees["train"][0]  # short trees come in the same order


def test_majority_class_and_label_balance(small_data):
    labels = small_data.labels["train"]
    counts = Counter(labels)
    assert set(counts) == set(range(10))
    assert counts[majority_class(labels)] == max(counts.values())
    assert majority_class([3, 1, 1, 3]) == 1  # ties: the smallest label


@pytest.mark.parametrize("field, value", [("train_size", 0), ("max_args", 1), ("value_p", 1.0), ("max_tokens", 3),
                                          ("seed", -1)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        ListOpsConfig(**{field: value})
