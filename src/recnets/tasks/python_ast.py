"""Real trees: the function definitions of the Python standard library's own source, with exact labels.

**The trees.** Every ``def`` and ``async def`` (methods and nested functions included) of the standard
library's ``*.py`` files (``sysconfig.get_paths()["stdlib"]``; files under ``test/``, ``tests/``,
``idlelib/``, ``site-packages/`` are skipped, as for the character corpus), parsed with :mod:`ast` and
converted by :func:`~recnets.core.tree.tree_from_ast` with node labels = ``ast`` class names
(``FunctionDef``, ``For``, ``Call``, ``Name``, ``Add`` ...). What a tree keeps and drops:

- kept: the signature (``arguments``, the return annotation) and the body, nested functions and classes
  whole; the root is labelled ``FunctionDef`` or ``AsyncFunctionDef``;
- dropped: the function's name and every identifier and constant value (labels are node *types* only, so
  the vocabulary is bounded, about a hundred labels: nothing can be read off a name like ``iter_lines``);
  the function's own docstring (the first statement when it is a string constant); its decorators (a
  ``@contextmanager`` marks a generator); and the ``Load``/``Store``/``Del`` context leaves under every
  ``Name``, ``Attribute``, ``Subscript`` ... (one per variable use, no information the parent lacks).
  Labels seen fewer than ``min_count`` times in training read as ``<unk>`` (the vocabulary's job).

**Two labellings, both exact** (computed from the syntax, checked in the tests against CPython's own
compiler):

- ``"generator"``: is the function a generator? True when its body holds a ``yield`` or ``yield from``
  that belongs to the function's own scope: not inside the *body* of a nested ``def``, ``lambda`` or
  ``class`` (those are scopes of their own), but anywhere else, including a nested function's decorators,
  default values and annotations and a class's bases, which run in the enclosing scope, and dead code
  (``if 0: yield``): exactly when CPython sets ``CO_GENERATOR`` (``CO_ASYNC_GENERATOR`` for ``async def``)
  on the code object. The nesting is what makes the label structural: a ``yield`` token under a nested
  ``def`` does not count. Only files whose text contains ``yield`` can hold a generator, so both classes
  are drawn from those files (file and package style cannot separate them). Balanced: every generator,
  every *hard negative* (a non-generator with a ``yield`` in a nested scope, the cases where the
  bag-of-tokens answer is wrong) and as many other non-generators, drawn with the seed from the same
  split's functions, as make the classes equal; small (about 240 generators in Python 3.11).
- ``"package"``: which top-level package the function comes from, among the ``num_packages`` packages with
  at least ``min_package_files`` files that define the most functions (Python 3.11: tkinter, asyncio, xml,
  multiprocessing, distutils, encodings, email, importlib). A style task over thousands of trees: no single
  node decides it.

**Splits, by file.** Each package's files (one stratum for ``"generator"``) are visited in a seeded order,
each file going to the split furthest below its share (``fractions``) of the stratum's functions (of its
generators, for ``"generator"``), so no file contributes to two splits and the shares hold in functions even
though a few files hold most of them.
Each distinct tree (its bracketed form) is kept once: trees are built split by split (train, valid, test;
in sorted file order and source order, the generator labelling's ordinary negatives in a seeded order until
the classes balance) and one equal to a tree already kept is dropped, so no tree is in two splits (the
standard library repeats many small functions: ``encodings``' codec classes, one-line properties). Trees
over ``max_nodes`` nodes are dropped (budget: ``fold`` costs one call per level and the chain baseline reads
~2.3 tokens per node).
``max_per_class`` caps each class per split (seeded choice). Files are read in sorted path order, so the
data are the same on every machine with the same Python version; :attr:`PythonASTData.source` records the
version and a SHA-256 of the files read.

Book: 10.6 (recursive networks over trees: the parse tree of a program is the classic structure).
"""
from __future__ import annotations

import ast
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from recnets.core.tree import Tree, post_order, to_sexpr, tree_from_ast
from recnets.tasks.char_corpus import _stdlib_files, _stdlib_root

__all__ = ["LABELINGS", "PythonASTConfig", "PythonASTData", "FunctionSite", "make_python_ast", "function_definitions",
           "function_tree", "is_generator", "contains_yield", "top_package", "python_files"]

LABELINGS = ("generator", "package")
SPLITS = ("train", "valid", "test")
CONTEXT_LABELS = frozenset({"Load", "Store", "Del"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_YIELDS = (ast.Yield, ast.YieldFrom)


@dataclass(frozen=True)
class PythonASTConfig:
    """What :func:`make_python_ast` builds.

    Attributes:
        labeling: ``"generator"`` (2 classes) or ``"package"`` (``num_packages`` classes).
        seed: the file split's and the negatives' seed.
        fractions: (train, valid, test) shares of each stratum's files.
        max_nodes: trees with more nodes are dropped.
        num_packages: K, for ``"package"``.
        min_package_files: a package needs this many files to be a candidate (so it splits by file).
        packages: an explicit package list instead of the K largest (``"package"`` only).
        max_per_class: at most this many examples of each class per split (None: all).
        max_files: read at most this many files of each stratum (a seeded choice; None: all), for quick runs.
        root: a directory of ``*.py`` files instead of the standard library (tests).
    """

    labeling: str = "generator"
    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    max_nodes: int = 300
    num_packages: int = 8
    min_package_files: int = 10
    packages: tuple[str, ...] | None = None
    max_per_class: int | None = None
    max_files: int | None = None
    root: str | None = None

    def __post_init__(self) -> None:
        if self.labeling not in LABELINGS:
            raise ValueError(f"labeling: expected one of {LABELINGS}, got {self.labeling!r}")
        if len(self.fractions) != 3 or any(f <= 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError(f"fractions: expected three positive numbers summing to 1, got {self.fractions}")
        for name in ("max_nodes", "num_packages", "min_package_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name in ("max_per_class", "max_files"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}: expected a positive integer or None, got {value!r}")


@dataclass(frozen=True)
class FunctionSite:
    """Where an example comes from: file (relative path), line of the ``def``, qualified name."""

    file: str
    line: int
    qualname: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.qualname}"


@dataclass(frozen=True)
class PythonASTData:
    """The examples of each split with their origin.

    Attributes:
        splits: split -> ``(tree, class)`` pairs.
        sites: split -> the :class:`FunctionSite` of each example, in the same order.
        files: split -> the files the split was drawn from.
        classes: class index -> name (``("no", "yes")`` for ``"generator"``, package names for ``"package"``).
        source: Python version, standard-library path, number of files read and their SHA-256.
        counts: bookkeeping: functions found, dropped as too large, dropped as duplicates.
    """

    config: PythonASTConfig
    splits: dict[str, list[tuple[Tree, int]]]
    sites: dict[str, list[FunctionSite]]
    files: dict[str, tuple[str, ...]]
    classes: tuple[str, ...]
    source: dict[str, object]
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        """Sizes per split and class, the trees' sizes and heights, the source and the bookkeeping."""
        out: dict[str, object] = {"labeling": self.config.labeling, "classes": list(self.classes), **self.counts,
                                  "source": self.source}
        for split in SPLITS:
            pairs = self.splits[split]
            per_class = Counter(label for _, label in pairs)
            sizes = [tree.size() for tree, _ in pairs]
            out[split] = {"examples": len(pairs), "files": len(self.files[split]),
                          "per_class": {self.classes[c]: per_class.get(c, 0) for c in range(len(self.classes))},
                          "median_nodes": float(np.median(sizes)) if sizes else 0.0,
                          "max_nodes": max(sizes, default=0),
                          "max_height": max((tree.height() for tree, _ in pairs), default=0)}
            if self.config.labeling == "generator":  # non-generators with a yield in a nested scope
                out[split]["hard_negatives"] = sum(1 for tree, label in pairs if not label and contains_yield(tree))
        return out


# ---------------------------------------------------------------------------------------------- the syntax


def function_definitions(module: ast.AST) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """Every ``def`` / ``async def`` under ``module`` in source order (pre-order), with its qualified name
    (``Class.method``, ``outer.<locals>.inner`` as Python writes ``__qualname__``)."""
    stack: list[tuple[ast.AST, str]] = [(module, "")]
    while stack:
        node, prefix = stack.pop()
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, _FUNCTIONS):
            yield node, prefix + node.name
            inner = f"{prefix}{node.name}.<locals>."
        elif isinstance(node, ast.ClassDef):
            inner = f"{prefix}{node.name}."
        else:
            inner = prefix
        stack.extend((child, inner) for child in reversed(children))


def _own_scope_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``function``'s body that run in its own scope: everything except the bodies of nested
    functions, lambdas and classes (their decorators, defaults, annotations and bases do run here)."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _FUNCTIONS):
            stack.extend(node.decorator_list)
            stack.append(node.args)
            if node.returns is not None:
                stack.append(node.returns)
        elif isinstance(node, ast.Lambda):
            stack.append(node.args)
        elif isinstance(node, ast.ClassDef):
            stack.extend(node.decorator_list + node.bases + node.keywords)
        else:
            stack.extend(ast.iter_child_nodes(node))


def is_generator(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether CPython compiles ``function`` to a generator (``CO_GENERATOR``, or ``CO_ASYNC_GENERATOR`` for an
    ``async def``): a ``yield`` / ``yield from`` in its own scope (see the module's docstring)."""
    if not isinstance(function, _FUNCTIONS):
        raise TypeError(f"function: expected an ast.FunctionDef or AsyncFunctionDef, got {type(function).__name__}")
    return any(isinstance(node, _YIELDS) for node in _own_scope_nodes(function))


def contains_yield(tree: Tree) -> bool:
    """Whether any node of ``tree`` is labelled ``Yield`` or ``YieldFrom``: the bag-of-tokens guess at
    "generator", wrong exactly on the hard negatives."""
    return any(node.label in ("Yield", "YieldFrom") for node in post_order(tree))


def _without_context_leaves(tree: Tree) -> Tree:
    """``tree`` without its ``Load`` / ``Store`` / ``Del`` leaves (a node left childless is a leaf)."""
    done: dict[int, Tree] = {}
    for node in post_order(tree):
        if node.children:
            kept = tuple(done[id(c)] for c in node.children if not (c.is_leaf and c.label in CONTEXT_LABELS))
            done[id(node)] = Tree(node.label, kept)
        else:
            done[id(node)] = node
    return done[id(tree)]


def _has_docstring(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = function.body[0] if function.body else None
    return (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str))


def _tree_parts(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """What a function's tree is made of: its ``arguments``, its body less the docstring, its annotation."""
    body = function.body[1:] if _has_docstring(function) else function.body
    return [function.args, *body] + ([function.returns] if function.returns is not None else [])


def function_tree(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Tree:
    """The :class:`Tree` of one function: root ``FunctionDef`` / ``AsyncFunctionDef`` over its ``arguments``,
    body statements and return annotation, labels = ``ast`` class names; name, own docstring, decorators and
    ``Load``/``Store``/``Del`` leaves removed (see the module's docstring)."""
    if not isinstance(function, _FUNCTIONS):
        raise TypeError(f"function: expected an ast.FunctionDef or AsyncFunctionDef, got {type(function).__name__}")
    children = tuple(_without_context_leaves(tree_from_ast(part)) for part in _tree_parts(function))
    return Tree(type(function).__name__, children)


def _tree_of_stripped(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Tree:
    """:func:`function_tree` of a function whose module went through :func:`_strip_contexts` (no filtering)."""
    return Tree(type(function).__name__, tuple(tree_from_ast(part) for part in _tree_parts(function)))


def _strip_contexts(module: ast.AST) -> ast.AST:
    """Delete every node's ``ctx`` field in place (what :func:`_without_context_leaves` does on trees, done
    once per parsed file: ``ast.iter_child_nodes`` skips a missing field)."""
    for node in ast.walk(module):
        if isinstance(getattr(node, "ctx", None), ast.expr_context):
            del node.ctx
    return module


def _yields_anywhere(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``contains_yield(function_tree(function))`` without building the tree."""
    return any(isinstance(node, _YIELDS) for part in _tree_parts(function) for node in ast.walk(part))


# ---------------------------------------------------------------------------------------------- the files


def python_files(root: str | Path | None = None) -> tuple[Path, list[str]]:
    """The directory and its ``*.py`` files (relative POSIX paths, sorted) outside the skipped directories;
    the standard library's when ``root`` is None."""
    directory = _stdlib_root() if root is None else Path(root)
    if not directory.is_dir():
        raise ValueError(f"root: expected a directory of Python files, got {str(directory)!r}")
    return directory, [path.relative_to(directory).as_posix() for path in _stdlib_files(directory)]


def top_package(relative_path: str) -> str:
    """The top-level package (or module) of a file: ``email/mime/text.py`` -> ``email``, ``os.py`` -> ``os``."""
    first = relative_path.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def _parse(directory: Path, relative: str) -> tuple[bytes, ast.Module | None]:
    """A file's bytes and its syntax tree (None for a file this Python cannot parse; none in a clean stdlib)."""
    data = (directory / relative).read_bytes()
    try:
        return data, _strip_contexts(ast.parse(data, filename=relative))
    except (SyntaxError, ValueError):
        return data, None


def _split_files(strata: dict[str, list[str]], weights: dict[str, int], seed: int,
                 fractions: Sequence[float]) -> dict[str, list[str]]:
    """Each stratum's files in a seeded order, each given to the split furthest below its share of the
    stratum's weight (its number of functions; of generators for ``"generator"``): ``fractions`` of the
    functions rather than of the files, since a few files hold most of them (tkinter's ``__init__.py``). Of
    two splits equally far below their shares, the first in the order valid, test, train takes the file."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {split: [] for split in SPLITS}
    order_of_ties = ("valid", "test", "train")
    for stratum in sorted(strata):
        files = sorted(strata[stratum])
        total = sum(weights[f] for f in files)
        held = {split: 0 for split in SPLITS}
        for index in rng.permutation(len(files)):
            deficit = {s: fractions[SPLITS.index(s)] * total - held[s] for s in SPLITS}
            split = max(order_of_ties, key=lambda s: deficit[s])
            out[split].append(files[index])
            held[split] += weights[files[index]]
    return {split: sorted(files) for split, files in out.items()}


def make_python_ast(config: PythonASTConfig = PythonASTConfig()) -> PythonASTData:
    """The labelled function trees, split by file (see the module's docstring).

    Returns:
        :class:`PythonASTData`.

    Book: 10.6.
    """
    directory, files = python_files(config.root)
    if config.labeling == "generator":
        # only a file whose text says "yield" can define a generator; both classes come from those files
        files = [f for f in files if b"yield" in (directory / f).read_bytes()]
        strata = {"all": files}
        classes: tuple[str, ...] = ("no", "yes")
    else:
        by_package: dict[str, list[str]] = {}
        for relative in files:
            if "/" in relative:  # a package, not a single-file module
                by_package.setdefault(top_package(relative), []).append(relative)
        candidates = [p for p, fs in by_package.items() if len(fs) >= config.min_package_files]
        if config.packages is not None:
            unknown = [p for p in config.packages if p not in by_package]
            if unknown:
                raise ValueError(f"packages: expected packages of {directory}, got unknown {unknown}")
            candidates = list(config.packages)
        strata = {package: by_package[package] for package in candidates}
    if config.max_files is not None:
        chooser = np.random.default_rng([config.seed, 2])
        strata = {name: sorted(fs[i] for i in chooser.permutation(len(fs))[:config.max_files])
                  for name, fs in sorted(strata.items())}
    parsed = {f: _parse(directory, f) for fs in strata.values() for f in fs}
    functions = {f: list(function_definitions(module)) if module is not None else []
                 for f, (_, module) in parsed.items()}
    if config.labeling == "package":
        if config.packages is not None:
            classes = tuple(config.packages)
        else:
            defined = {p: sum(len(functions[f]) for f in fs) for p, fs in strata.items()}
            classes = tuple(sorted(strata, key=lambda p: (-defined[p], p))[:config.num_packages])
            if len(classes) < 2:
                raise ValueError(f"num_packages: expected at least 2 packages with >= {config.min_package_files} "
                                 f"files, got {len(classes)}")
        strata = {package: strata[package] for package in classes}
    if config.labeling == "generator":  # the scarce class sets the shares: weigh a file by its generators
        weights = {f: sum(is_generator(function) for function, _ in functions[f]) for f in strata["all"]}
    else:
        weights = {f: len(functions[f]) for fs in strata.values() for f in fs}
    split_files = _split_files(strata, weights, config.seed, config.fractions)

    digest = hashlib.sha256()
    counts: Counter = Counter()
    # (function, label, site, hard) per split, in sorted file order and source order
    found: dict[str, list[tuple[ast.AST, int, FunctionSite, bool]]] = {split: [] for split in SPLITS}
    for split in SPLITS:
        for relative in split_files[split]:
            data, module = parsed[relative]
            digest.update(relative.encode() + b"\0" + data + b"\0")
            counts["unparsable_files"] += module is None
            for function, qualname in functions[relative]:
                if config.labeling == "generator":
                    label = int(is_generator(function))
                    hard = not label and _yields_anywhere(function)
                else:
                    label, hard = classes.index(top_package(relative)), False
                found[split].append((function, label, FunctionSite(relative, function.lineno, qualname), hard))
    counts["functions"] = sum(len(rows) for rows in found.values())

    # Trees are built, and duplicates and oversize trees dropped, in split order (train, valid, test); for
    # "generator" the ordinary negatives are visited in a seeded order and built only until the classes are
    # balanced.
    rng = np.random.default_rng([config.seed, 1])
    seen: set[str] = set()
    splits: dict[str, list[tuple[Tree, int]]] = {}
    sites: dict[str, list[FunctionSite]] = {}

    def admitted(index: int, rows: list) -> Tree | None:
        tree = _tree_of_stripped(rows[index][0])
        if tree.size() > config.max_nodes:
            counts["too_large"] += 1
            return None
        key = to_sexpr(tree)
        if key in seen:
            counts["duplicates"] += 1
            return None
        seen.add(key)
        return tree

    for split in SPLITS:
        rows = found[split]
        kept: dict[int, Tree] = {}
        if config.labeling == "generator":
            for index, row in enumerate(rows):
                if row[1] or row[3]:
                    tree = admitted(index, rows)
                    if tree is not None:
                        kept[index] = tree
            wanted = 2 * sum(rows[i][1] for i in kept) - len(kept)  # positives - hard negatives
            others = [i for i, row in enumerate(rows) if not row[1] and not row[3]]
            for position in rng.permutation(len(others)):
                if wanted <= 0:
                    break
                tree = admitted(others[position], rows)
                if tree is not None:
                    kept[others[position]] = tree
                    wanted -= 1
        else:
            for index in range(len(rows)):
                tree = admitted(index, rows)
                if tree is not None:
                    kept[index] = tree
        if config.max_per_class is not None:
            by_class: dict[int, list[int]] = {}
            for index in sorted(kept):
                by_class.setdefault(rows[index][1], []).append(index)
            chosen = [i for label in sorted(by_class) for i in
                      (by_class[label] if len(by_class[label]) <= config.max_per_class else
                       [by_class[label][j] for j in rng.permutation(len(by_class[label]))[:config.max_per_class]])]
            kept = {i: kept[i] for i in chosen}
        order = sorted(kept)  # source order
        splits[split] = [(kept[i], rows[i][1]) for i in order]
        sites[split] = [rows[i][2] for i in order]
    source = {"python": sys.version.split()[0], "root": str(directory),
              "files": sum(len(v) for v in split_files.values()), "sha256": digest.hexdigest()}
    return PythonASTData(config, splits, sites, {s: tuple(v) for s, v in split_files.items()}, classes, source,
                         dict(counts))
