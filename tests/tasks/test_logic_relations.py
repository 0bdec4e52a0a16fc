"""Logical relations: truth sets and the seven relations against brute force over assignments; the data's
determinism, disjoint splits, bins and labels."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch

from recnets.core.tree import Tree, parse_tree, post_order
from recnets.core.tree_batch import flatten_tree
from recnets.tasks.logic_relations import (ALL_WORLDS, NUM_RELATIONS, RELATION_NAMES, RELATION_SYMBOLS, VARIABLES,
                                           LogicRelationsConfig, TokenPairTask, TreePairTask, bin_split, binary_tree,
                                           draw_formula, flat_binary_tree, formula_tokens, majority_label,
                                           make_logic_relations, operator_count, relation, tree_of_drawn, truth_set)

SMALL = LogicRelationsConfig(draws=4000, seed=3)


@pytest.fixture(scope="module")
def data():
    return make_logic_relations(SMALL)


# ------------------------------------------------------------------------------------------- the oracle
def evaluate(formula: Tree, assignment: dict[str, bool]) -> bool:
    """Plain recursive evaluation of a prefix-form formula under one assignment."""
    if formula.is_leaf:
        return assignment[formula.label]
    values = [evaluate(child, assignment) for child in formula.children]
    return {"not": lambda: not values[0], "and": lambda: values[0] and values[1],
            "or": lambda: values[0] or values[1]}[formula.label]()


def satisfying(formula: Tree) -> frozenset[tuple[bool, ...]]:
    """The assignments (tuples of 6 truth values) that satisfy ``formula``, by enumerating all 64."""
    return frozenset(values for values in itertools.product((False, True), repeat=len(VARIABLES))
                     if evaluate(formula, dict(zip(VARIABLES, values))))


def relation_by_sets(x: frozenset, y: frozenset) -> str:
    """MacCartney's relation between two satisfying sets, from set operations alone."""
    universe = frozenset(itertools.product((False, True), repeat=len(VARIABLES)))
    if x == y:
        return "equivalence"
    if x < y:
        return "forward entailment"
    if x > y:
        return "reverse entailment"
    if not x & y and x | y == universe:
        return "negation"
    if not x & y:
        return "alternation"
    if x | y == universe:
        return "cover"
    return "independence"


def relation_of(left: str, right: str) -> str:
    return RELATION_NAMES[relation(truth_set(parse_tree(left)), truth_set(parse_tree(right)))]


# ------------------------------------------------------------------------------------------- relations
@pytest.mark.parametrize("left, right, expected", [
    ("a", "a", "equivalence"),
    ("(not (and a b))", "(or (not a) (not b))", "equivalence"),  # De Morgan
    ("a", "(or a b)", "forward entailment"),
    ("(and a b)", "a", "forward entailment"),
    ("(or a b)", "a", "reverse entailment"),
    ("a", "(not a)", "negation"),
    ("(and a b)", "(or (not a) (not b))", "negation"),
    ("(and a b)", "(not a)", "alternation"),  # disjoint, and (not a and not b) satisfies neither
    ("(or a b)", "(not a)", "cover"),  # together everything; both hold when b and not a
    ("a", "b", "independence"),
    ("(and a (not b))", "(or b c)", "independence"),
])
def test_relation_of_hand_worked_pairs(left, right, expected):
    assert relation_of(left, right) == expected


def test_relation_and_truth_set_agree_with_brute_force_over_assignments():
    rng = random.Random(0)
    checked = 0
    while checked < 300:
        variables = rng.sample(range(len(VARIABLES)), 4)
        (left, x, _), (right, y, _) = draw_formula(rng, variables), draw_formula(rng, variables)
        left_tree, right_tree = tree_of_drawn(left), tree_of_drawn(right)
        left_set, right_set = satisfying(left_tree), satisfying(right_tree)
        assert truth_set(left_tree) == x and bin(x).count("1") == len(left_set)
        if not (0 < x < ALL_WORLDS and 0 < y < ALL_WORLDS):
            continue
        assert RELATION_NAMES[relation(x, y)] == relation_by_sets(left_set, right_set), (left_tree, right_tree)
        checked += 1


def test_truth_set_of_a_variable_is_the_worlds_where_its_bit_is_set():
    mask = truth_set(Tree("c"))
    assert [world for world in range(64) if (mask >> world) & 1] == [w for w in range(64) if w & 0b100]


@pytest.mark.parametrize("x", [0, ALL_WORLDS, -1, ALL_WORLDS + 1])
def test_relation_refuses_contradictions_and_tautologies(x):
    with pytest.raises(ValueError, match="^x: expected a world mask"):
        relation(x, truth_set(Tree("a")))
    assert truth_set(parse_tree("(or a (not a))")) == ALL_WORLDS and truth_set(parse_tree("(and a (not a))")) == 0


def test_truth_set_rejects_unknown_symbols_and_arity():
    with pytest.raises(ValueError, match="^formula: expected a variable"):
        truth_set(Tree("g"))
    with pytest.raises(ValueError, match="^formula: expected 'not' over 1 operand"):
        truth_set(parse_tree("(and a)"))


# ------------------------------------------------------------------------------------------- tree forms
def test_binary_form_puts_every_word_at_a_leaf_under_two_child_nodes():
    formula = parse_tree("(and a (not (or b c)))")
    tree = binary_tree(formula)
    expected = Tree(None, (Tree("a"), Tree(None, (Tree("and"), Tree(None, (
        Tree("not"), Tree(None, (Tree("b"), Tree(None, (Tree("or"), Tree("c")))))))))))
    assert tree == expected
    assert all(len(node.children) == 2 and node.label is None for node in post_order(tree) if node.children)
    assert [leaf.label for leaf in tree.leaves()] == ["a", "and", "not", "b", "or", "c"]
    assert formula_tokens(formula) == "( a ( and ( not ( b ( or c ) ) ) ) )".split()
    assert operator_count(formula) == 3 and formula_tokens(Tree("d")) == ["d"]


# ------------------------------------------------------------------------------------------- the data
def test_the_data_is_a_pure_function_of_the_config(data):
    again = make_logic_relations(SMALL)
    assert [str(p) for p in again.train] == [str(p) for p in data.train]
    def texts(test):
        return {k: [str(p) for p in pairs] for k, pairs in test.items()}

    assert texts(again.test) == texts(data.test)
    other = make_logic_relations(LogicRelationsConfig(draws=4000, seed=4))
    assert [str(p) for p in other.train] != [str(p) for p in data.train]


def test_splits_are_disjoint_and_binned_by_the_larger_formulas_operators(data):
    def keys(pairs):
        return [(str(p.left), str(p.right)) for p in pairs]

    train, valid = keys(data.train), keys(data.valid)
    test = [key for pairs in data.test.values() for key in keys(pairs)]
    assert len(set(train)) == len(train) and len(set(valid)) == len(valid) and len(set(test)) == len(test)
    assert not set(train) & set(valid) and not set(train) & set(test) and not set(valid) & set(test)
    assert all(p.operators <= 4 for p in data.train + data.valid)
    assert sorted(data.test) == list(range(1, 13))
    for operators, pairs in data.test.items():
        for pair in pairs:
            assert pair.operators == operators == min(max(operator_count(pair.left), operator_count(pair.right)), 12)
    assert data.bin_sizes[0] > 0 and data.bin_sizes[12] > 0
    test_share = len(data.test[6]) / data.bin_sizes[6]
    assert abs(test_share - SMALL.test_fraction) < 0.01


def test_every_pair_is_labelled_exactly_and_uses_at_most_four_variables(data):
    for pair in data.train[:300] + data.test[8][:100]:
        left, right = satisfying(pair.left), satisfying(pair.right)
        assert 0 < len(left) < 64 and 0 < len(right) < 64  # no tautology, no contradiction
        assert RELATION_NAMES[pair.label] == relation_by_sets(left, right)
        used = {leaf.label for tree in (pair.left, pair.right) for leaf in tree.leaves()}
        assert len(used) <= 4
        assert str(pair).split("\t")[0] == RELATION_SYMBOLS[pair.label]


def test_all_seven_relations_occur_in_training_and_in_long_test_pairs(data):
    assert all(count > 0 for count in data.label_counts(data.train))
    long_pairs = [p for k in range(5, 13) for p in data.test[k]]
    assert all(count > 0 for count in data.label_counts(long_pairs))
    assert len(data.label_counts(data.train)) == NUM_RELATIONS
    assert RELATION_NAMES[majority_label(data.train)] == "independence"


@pytest.mark.parametrize("field, value, message", [
    ("draws", 0, "^draws: expected an integer >= 1, got 0"),
    ("train_max_operators", 13, "^train_max_operators: expected at most max_operators"),
    ("test_fraction", 1.0, "^test_fraction: expected a fraction in"),
    ("valid_fraction", 0.9, "^test_fraction: expected valid_fraction \\+ test_fraction < 1"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        LogicRelationsConfig(**{field: value})


# ------------------------------------------------------------------------------------------- tasks
@pytest.fixture(scope="module")
def tree_task(data):
    return TreePairTask(data, batch_size=8, eval_batch_size=50, seed=1)


@pytest.fixture(scope="module")
def token_task(data):
    return TokenPairTask(data, batch_size=8, eval_batch_size=50, seed=1)


def test_tree_batches_hold_the_left_formulas_then_the_right_ones(tree_task, data):
    batch = tree_task.train_batch(5)
    trees, words = batch.inputs, tree_task.vocabulary.tokens
    assert len(trees) == 16 and batch.targets.shape == (8,) and trees.max_children == 2
    for split in ("valid", bin_split(7)):
        eval_batch = next(tree_task.eval_batches(split))
        pairs = tree_task.pairs[split][:len(eval_batch.targets)]
        assert eval_batch.targets.tolist() == [pair.label for pair in pairs]
        for index, pair in enumerate(pairs):
            for tree, formula in ((index, pair.left), (len(pairs) + index, pair.right)):
                rows = eval_batch.inputs.tree_rows(tree)  # post-order, the root last
                expected = [node.label or "<none>" for node in post_order(binary_tree(formula))]
                assert [words[t] for t in eval_batch.inputs.tokens[rows].tolist()] == expected
                assert int(eval_batch.inputs.roots[tree]) == int(rows[-1])


def test_token_batches_hold_each_formulas_bracketed_tokens(token_task):
    batch = next(token_task.eval_batches(bin_split(3)))
    pairs = token_task.pairs[bin_split(3)][:len(batch.targets)]
    words = token_task.vocabulary.tokens
    assert batch.inputs.shape[0] == 2 * len(pairs) == batch.lengths.shape[0]
    for index, pair in enumerate(pairs):
        for row, formula in ((index, pair.left), (len(pairs) + index, pair.right)):
            length = int(batch.lengths[row])
            assert [words[t] for t in batch.inputs[row, :length].tolist()] == formula_tokens(formula)
            assert not batch.inputs[row, length:].any()


def test_training_batches_are_a_pure_function_of_the_step(token_task):
    first, again, other = token_task.train_batch(3), token_task.train_batch(3), token_task.train_batch(4)
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.targets, other.targets) or not torch.equal(first.lengths, other.lengths)


def test_the_test_split_is_every_bin_in_order_and_the_floors_are_the_majority_share(tree_task, data):
    assert tree_task.pairs["test"] == [pair for k in sorted(data.test) for pair in data.test[k]]
    floors = tree_task.baselines()
    majority = majority_label(data.train)
    for k, pairs in data.test.items():
        assert floors[f"majority_accuracy_{bin_split(k)}"] == pytest.approx(
            sum(p.label == majority for p in pairs) / len(pairs))
    with pytest.raises(ValueError, match="^split: expected one of train, valid, test, test1"):
        next(tree_task.eval_batches("test13"))


def test_flat_binary_tree_equals_flattening_the_binary_tree(data, tree_task):
    vocabulary = tree_task.vocabulary
    for pair in data.train[:200] + data.test[12][:20]:
        for formula in (pair.left, pair.right):
            fast, slow = flat_binary_tree(formula, vocabulary.ids), flatten_tree(binary_tree(formula),
                                                                                 vocabulary.node_token)
            for name in ("tokens", "children", "heights", "targets"):
                assert np.array_equal(getattr(fast, name), getattr(slow, name)), (name, formula)
