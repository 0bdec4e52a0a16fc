"""Trees as data: a small immutable ``Tree``, bracketed s-expressions, binarisation, Python ``ast`` conversion.

Book: 10.6 (a recursive network reads a tree: the same composition at every node, leaves first).

A tree is written ``(label child child ...)``: the first atom of a parenthesised list is that node's label
(optional: a list that starts with another list has none), each further atom is a leaf, each further list a
subtree. ``(MAX 2 9 (MIN 4 7))`` is a node ``MAX`` with leaves ``2`` and ``9`` and a subtree ``MIN``; the
Penn-treebank style ``(3 (2 It) (4 (2 's) (3 good)))`` reads the same way (a preterminal ``(2 It)`` is a node
``2`` with one leaf ``It``). Atoms are runs of characters other than whitespace and parentheses.

Every walk here is iterative, so trees deeper than Python's recursion limit parse, print and measure.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable, Iterator

__all__ = ["Tree", "TreeSyntaxError", "parse_tree", "parse_trees", "to_sexpr", "sexpr_tokens", "binarize",
           "tree_from_ast", "post_order"]


@dataclass(frozen=True)
class Tree:
    """One node and, through its children, the whole subtree below it.

    Attributes:
        label: the node's symbol (a word, an operator, a class), or None for an unlabelled node.
        children: the subtrees, in order; a leaf has none.
    """

    label: str | None = None
    children: tuple["Tree", ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.children, tuple):
            object.__setattr__(self, "children", tuple(self.children))
        for child in self.children:
            if not isinstance(child, Tree):
                raise TypeError(f"children: expected Tree nodes, got {type(child).__name__}")
        if self.label is not None and not isinstance(self.label, str):
            raise TypeError(f"label: expected a str or None, got {type(self.label).__name__}")
        if self.label is None and not self.children:
            raise ValueError("Tree: expected a label or children, got neither (an empty tree)")

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def size(self) -> int:
        """The number of nodes."""
        return sum(1 for _ in post_order(self))

    def leaves(self) -> list["Tree"]:
        """The leaves from left to right."""
        return [node for node in post_order(self) if node.is_leaf]

    def height(self) -> int:
        """0 for a leaf, else 1 + the largest child height (the number of ``fold`` levels minus one)."""
        heights: dict[int, int] = {}
        for node in post_order(self):
            heights[id(node)] = 1 + max((heights[id(c)] for c in node.children), default=-1)
        return heights[id(self)]

    def max_children(self) -> int:
        """The largest number of children of any node."""
        return max(len(node.children) for node in post_order(self))

    def __str__(self) -> str:
        return to_sexpr(self)


def post_order(tree: Tree) -> Iterator[Tree]:
    """The nodes of ``tree``, children before their parent, left to right; the root comes last."""
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or node.is_leaf:
            yield node
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.children))


def _check_atom(label: str) -> str:
    if not label or any(ch.isspace() or ch in "()" for ch in label):
        raise ValueError(f"label: expected a non-empty atom without whitespace or parentheses, got {label!r}")
    return label


def to_sexpr(tree: Tree) -> str:
    """The bracketed form that :func:`parse_tree` reads back. A labelled leaf prints as its atom, except as
    the first child of an unlabelled node, where it prints as ``(atom)`` (else it would read as a label)."""
    parts: list[str] = []
    stack: list[tuple[Tree, int]] = [(tree, 0)]  # state 0: open (3: open, wrapped leaf), 1: close, 2: space
    while stack:
        node, state = stack.pop()
        if state in (0, 3):
            if node.is_leaf and node.label is not None:
                atom = _check_atom(node.label)
                parts.append(f"({atom})" if state == 3 else atom)
                continue
            parts.append("(" if node.label is None else f"({_check_atom(node.label)}")
            stack.append((node, 1))
            for index in range(len(node.children) - 1, -1, -1):
                stack.append((node.children[index], 3 if index == 0 and node.label is None else 0))
                stack.append((node.children[index], 2))  # a separating space before the child
        elif state == 2:
            if parts[-1] != "(":
                parts.append(" ")
        else:
            parts.append(")")
    return "".join(parts)


def sexpr_tokens(tree: Tree) -> list[str]:
    """The tokens of ``tree``'s bracketed form, parentheses included: the flat sequence a chain RNN reads."""
    return [token for token, _, _ in _tokens(to_sexpr(tree))]


class TreeSyntaxError(ValueError):
    """A malformed s-expression; the message names the line and column."""


def _tokens(text: str, first_line: int = 1) -> Iterator[tuple[str, int, int]]:
    """Parentheses and atoms of ``text`` with their line (the first is ``first_line``) and 1-based column."""
    line, column, index = first_line, 1, 0
    while index < len(text):
        char = text[index]
        if char == "\n":
            line, column, index = line + 1, 1, index + 1
            continue
        if char.isspace():
            column, index = column + 1, index + 1
            continue
        if char in "()":
            yield char, line, column
            column, index = column + 1, index + 1
            continue
        start = index
        while index < len(text) and not text[index].isspace() and text[index] not in "()":
            index += 1
        yield text[start:index], line, column
        column += index - start


def parse_trees(text: str, *, source: str = "text", first_line: int = 1) -> list[Tree]:
    """Every top-level bracketed tree in ``text`` (one per line or spread over lines), in order; error
    messages count lines from ``first_line`` (for a line read out of a larger file).

    Raises:
        TreeSyntaxError: unbalanced parentheses, an empty ``()``, or an atom outside any parentheses, with
            the line and column, e.g. ``trees.txt: line 3, column 17: ')' closes nothing``.
    """
    trees: list[Tree] = []
    # Each open list: [label, children, line, column]
    stack: list[list] = []
    for token, line, column in _tokens(text, first_line):
        where = f"{source}: line {line}, column {column}"
        if token == "(":
            stack.append([None, [], line, column, True])  # the last flag: the next atom may be the label
        elif token == ")":
            if not stack:
                raise TreeSyntaxError(f"{where}: ')' closes nothing (unbalanced parentheses)")
            label, children, open_line, open_column, _ = stack.pop()
            if label is None and not children:
                raise TreeSyntaxError(f"{source}: line {open_line}, column {open_column}: empty tree '()'")
            node = Tree(label, tuple(children))
            if stack:
                stack[-1][1].append(node)
                stack[-1][4] = False
            else:
                trees.append(node)
        else:
            if not stack:
                raise TreeSyntaxError(f"{where}: expected '(' to start a tree, got the atom {token!r}")
            if stack[-1][4]:
                stack[-1][0] = token
            else:
                stack[-1][1].append(Tree(token))
            stack[-1][4] = False
    if stack:
        _, _, line, column, _ = stack[-1]
        raise TreeSyntaxError(f"{source}: line {line}, column {column}: '(' is never closed (unbalanced parentheses)")
    return trees


def parse_tree(text: str, *, source: str = "text") -> Tree:
    """Exactly one tree: a bracketed expression, or a bare atom (a single leaf).

    Raises:
        TreeSyntaxError: as :func:`parse_trees`, or when ``text`` holds no tree or more than one.
    """
    stripped = text.strip()
    if stripped and "(" not in stripped and ")" not in stripped and not any(c.isspace() for c in stripped):
        return Tree(stripped)
    trees = parse_trees(text, source=source)
    if len(trees) != 1:
        raise TreeSyntaxError(f"{source}: expected exactly one tree, got {len(trees)}")
    return trees[0]


def binarize(tree: Tree, side: str = "left") -> Tree:
    """The same leaves and labels with at most two children per node, for binary (N = 2) cells.

    A node with children c1 ... ck (k > 2) keeps its label and gets two children: with ``side="left"`` the
    unlabelled chain ``((c1 c2) c3) ... c(k-1)`` and ck; with ``side="right"``, c1 and ``(c2 (c3 ... ck))``.
    Nodes with one or two children are kept.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side: expected 'left' or 'right', got {side!r}")
    done: dict[int, Tree] = {}
    for node in post_order(tree):
        kids = [done[id(child)] for child in node.children]
        while len(kids) > 2:
            if side == "left":
                kids = [Tree(None, (kids[0], kids[1]))] + kids[2:]
            else:
                kids = kids[:-2] + [Tree(None, (kids[-2], kids[-1]))]
        done[id(node)] = Tree(node.label, tuple(kids)) if node.children else node
    return done[id(tree)]


def _type_name(node: ast.AST) -> str:
    return type(node).__name__


def tree_from_ast(node: ast.AST, label_of: Callable[[ast.AST], str] = _type_name) -> Tree:
    """A ``Tree`` of a Python syntax tree: one node per ``ast`` node (its children in ``ast.iter_child_nodes``
    order), labelled by ``label_of`` (default: the node's class name, e.g. ``FunctionDef``, ``Name``)."""
    if not isinstance(node, ast.AST):
        raise TypeError(f"node: expected an ast.AST, got {type(node).__name__}")
    # Iterative post-order over the ast (deeply nested expressions exceed the recursion limit).
    done: dict[int, Tree] = {}
    stack: list[tuple[ast.AST, bool]] = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        children = list(ast.iter_child_nodes(current))
        if expanded or not children:
            done[id(current)] = Tree(_check_atom(label_of(current)), tuple(done[id(c)] for c in children))
            continue
        stack.append((current, True))
        stack.extend((child, False) for child in reversed(children))
    return done[id(node)]
