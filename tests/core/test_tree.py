"""Trees as data: parsing with line/column errors, printing that round-trips, binarisation, ``ast`` conversion."""
from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recnets.core.tree import (Tree, TreeSyntaxError, binarize, parse_tree, parse_trees, post_order, sexpr_tokens,
                               to_sexpr, tree_from_ast)

ATOMS = st.sampled_from(["a", "b", "MAX", "7", "'s", "-LRB-", "x.y"])


def trees(max_leaves: int = 12):
    leaf = ATOMS.map(Tree)
    node = lambda children: st.builds(Tree, st.none() | ATOMS, st.lists(children, min_size=1, max_size=4).map(tuple))
    return st.recursive(leaf, node, max_leaves=max_leaves)


def test_labels_leaves_and_unlabelled_nodes():
    tree = parse_tree("(MAX 2 9 (MIN 4 7) 0)")
    assert tree == Tree("MAX", (Tree("2"), Tree("9"), Tree("MIN", (Tree("4"), Tree("7"))), Tree("0")))
    assert (tree.size(), tree.height(), tree.max_children()) == (7, 2, 4)
    assert [leaf.label for leaf in tree.leaves()] == ["2", "9", "4", "7", "0"]
    assert parse_tree("((a b) c)") == Tree(None, (Tree("a", (Tree("b"),)), Tree("c")))
    assert parse_tree("(3 (2 It) (4 good))").children[0] == Tree("2", (Tree("It"),))
    assert parse_tree("word") == Tree("word") and parse_tree("(word)") == Tree("word")
    assert [node.label for node in post_order(tree)] == ["2", "9", "4", "7", "MIN", "0", "MAX"]
    assert sexpr_tokens(tree) == ["(", "MAX", "2", "9", "(", "MIN", "4", "7", ")", "0", ")"]


@given(trees())
def test_printing_round_trips(tree):
    assert parse_tree(to_sexpr(tree)) == tree
    assert parse_tree(str(binarize(tree))) == binarize(tree)


def test_several_trees_across_lines():
    assert parse_trees("(a b)\n(c\n  (d e))\n") == [Tree("a", (Tree("b"),)), Tree("c", (Tree("d", (Tree("e"),)),))]


@pytest.mark.parametrize("text, message", [
    ("(a b)\n(c d))", "line 2, column 6: ')' closes nothing"),
    ("(a b)\n  (c (d e)", "line 2, column 3: '(' is never closed"),
    ("(a ())", "line 1, column 4: empty tree '()'"),
    ("(a b) c", "line 1, column 7: expected '(' to start a tree, got the atom 'c'"),
])
def test_malformed_text_names_line_and_column(text, message):
    with pytest.raises(TreeSyntaxError, match="trees.txt: " + message.replace("(", r"\(").replace(")", r"\)")):
        parse_trees(text, source="trees.txt")


def test_exactly_one_tree_and_no_empty_tree():
    with pytest.raises(TreeSyntaxError, match="exactly one tree, got 2"):
        parse_tree("(a b) (c d)")
    with pytest.raises(TreeSyntaxError, match="exactly one tree, got 0"):
        parse_tree("   ")
    with pytest.raises(ValueError, match="expected a label or children"):
        Tree(None, ())
    with pytest.raises(ValueError, match="label: expected a non-empty atom"):
        to_sexpr(Tree("two words"))


@given(trees(), st.sampled_from(["left", "right"]))
def test_binarize_keeps_leaves_and_labels_and_has_at_most_two_children(tree, side):
    binary = binarize(tree, side)
    assert binary.max_children() <= 2
    assert [leaf.label for leaf in binary.leaves()] == [leaf.label for leaf in tree.leaves()]
    original = [node.label for node in post_order(tree) if node.label is not None]
    assert [node.label for node in post_order(binary) if node.label is not None] == original


def test_binarize_sides():
    tree = parse_tree("(f a b c d)")
    assert to_sexpr(binarize(tree, "left")) == "(f (((a) b) c) d)"
    assert to_sexpr(binarize(tree, "right")) == "(f a ((b) ((c) d)))"


def test_deep_trees_need_no_recursion():
    tree = Tree("x")
    for _ in range(5000):
        tree = Tree("s", (tree, Tree("y")))
    assert tree.height() == 5000 and tree.size() == 10001
    assert parse_tree(to_sexpr(tree)).height() == 5000


def test_tree_from_ast_has_one_node_per_ast_node():
    source = Path(sysconfig.get_paths()["stdlib"], "ast.py").read_text(encoding="utf-8")
    module = ast.parse(source)
    tree = tree_from_ast(module)
    assert tree.size() == sum(1 for _ in ast.walk(module))
    assert tree.label == "Module"
    function = tree_from_ast(ast.parse("def f(x):\n    return x + 1\n").body[0])
    assert to_sexpr(function) == "(FunctionDef (arguments arg) (Return (BinOp (Name Load) Add Constant)))"
