"""Python syntax trees: the generator label against CPython's own code flags (hand-made scope cases and the
standard library's files), what a function's tree keeps and drops, splits disjoint by file, determinism."""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

from recnets.core.tree import parse_tree, post_order, to_sexpr
from recnets.tasks.python_ast import (PythonASTConfig, _strip_contexts, _tree_of_stripped, contains_yield,
                                      function_definitions, function_tree, is_generator, make_python_ast,
                                      python_files, top_package)

GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _code_flags(source: str, filename: str = "<case>") -> dict[tuple[int, str], int]:
    """(first line, name) -> co_flags of every function code object CPython compiles from ``source``."""
    flags: dict[tuple[int, str], int] = {}
    stack = [compile(source, filename, "exec", dont_inherit=True)]  # not this file's __future__ flags
    while stack:
        code = stack.pop()
        if not code.co_name.startswith("<"):  # not the module, a lambda or a comprehension
            key = (code.co_firstlineno, code.co_name)
            assert key not in flags, f"{filename}: two code objects {key}"
            flags[key] = code.co_flags
        stack.extend(const for const in code.co_consts if inspect.iscode(const))
    return flags


def _first_line(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The line CPython gives a function's code object: its first decorator's, else the ``def``'s."""
    return min([function.lineno] + [decorator.lineno for decorator in function.decorator_list])


def _agree_with_cpython(source: str, filename: str = "<case>") -> int:
    """Assert is_generator equals CPython's flag for every function of ``source``; return how many."""
    flags = _code_flags(source, filename)
    module = ast.parse(source)
    keys = [(_first_line(f), f.name) for f, _ in function_definitions(module)]
    assert len(set(keys)) == len(keys), f"{filename}: two functions share a first line and a name"
    for (function, qualname), key in zip(function_definitions(module), keys):
        assert key in flags, f"{filename}: no code object for {qualname} at line {key[0]}"
        assert is_generator(function) == bool(flags[key] & GENERATOR_FLAGS), f"{filename}:{key[0]}: {qualname}"
    return len(keys)


SCOPE_CASES = {
    # yield in f's own scope, though syntactically under a nested def / lambda / class / comprehension
    "plain": ("def f():\n    yield 1\n", True),
    "yield_from": ("def f():\n    yield from range(3)\n", True),
    "async_generator": ("async def f():\n    yield 1\n", True),
    "dead_code": ("def f():\n    if 0:\n        yield\n", True),
    "nested_decorator": ("def f():\n    @(yield)\n    def g(): pass\n", True),
    "nested_default": ("def f():\n    def g(x=(yield)): pass\n", True),
    "nested_kw_default": ("def f():\n    def g(*, x=(yield)): pass\n", True),
    "nested_annotation": ("def f():\n    def g(x: (yield)): pass\n", True),
    "nested_return_annotation": ("def f():\n    def g() -> (yield): pass\n", True),
    "lambda_default": ("def f():\n    h = lambda x=(yield): x\n", True),
    "class_base": ("def f():\n    class C((yield)): pass\n", True),
    "comprehension_iterable": ("def f():\n    return [x for x in (yield)]\n", True),
    # yield only inside a nested scope's body: f is not a generator
    "nested_body": ("def f():\n    def g():\n        yield 1\n    return g\n", False),
    "lambda_body": ("def f():\n    return lambda: (yield)\n", False),
    "async_plain": ("async def f():\n    await g()\n", False),
    "no_yield": ("def f(x):\n    return [y for y in x]\n", False),
}


@pytest.mark.parametrize("name", sorted(SCOPE_CASES))
def test_generator_rule_matches_cpython_on_scope_cases(name):
    source, expected = SCOPE_CASES[name]
    module = ast.parse(source)
    outer = next(function for function, _ in function_definitions(module))
    assert is_generator(outer) is expected
    assert _agree_with_cpython(source, name) >= 1


def test_generator_rule_matches_cpython_on_the_standard_library():
    directory, files = python_files()
    with_yield = [f for f in files if b"yield" in (directory / f).read_bytes()]
    chosen = with_yield[::4]  # every fourth file that could hold a generator, in sorted order
    checked = generators = 0
    for relative in chosen:
        source = (directory / relative).read_text(encoding="utf-8")
        checked += _agree_with_cpython(source, relative)
        generators += sum(is_generator(f) for f, _ in function_definitions(ast.parse(source)))
    assert checked > 500 and generators > 30, (checked, generators)


def test_function_tree_drops_name_docstring_decorators_and_contexts():
    source = textwrap.dedent('''
        @decorate
        def secret_name(x, *, y=1) -> int:
            """A docstring."""
            z = x + y
            return z
    ''')
    function = ast.parse(source).body[0]
    tree = function_tree(function)
    expected = parse_tree("(FunctionDef (arguments arg arg Constant) (Assign Name (BinOp Name Add Name)) "
                          "(Return Name) Name)")
    assert tree == expected
    labels = {node.label for node in post_order(tree)}
    assert not labels & {"Load", "Store", "Del", "Expr", "secret_name", "decorate"}
    # the fast path of the pipeline (contexts deleted once per file) builds the same tree
    stripped = _strip_contexts(ast.parse(source)).body[0]
    assert _tree_of_stripped(stripped) == tree


def test_function_tree_keeps_a_string_that_is_not_first():
    function = ast.parse("def f():\n    x = 1\n    'not a docstring'\n").body[0]
    assert to_sexpr(function_tree(function)) == "(FunctionDef arguments (Assign Name Constant) (Expr Constant))"


def test_contains_yield_is_wrong_exactly_on_nested_yields():
    outer = ast.parse(SCOPE_CASES["nested_body"][0]).body[0]
    assert contains_yield(function_tree(outer)) and not is_generator(outer)


def test_qualified_names_follow_python():
    source = "class A:\n    def m(self):\n        def inner(): pass\n        return inner\ndef top(): pass\n"
    names = [qualname for _, qualname in function_definitions(ast.parse(source))]
    namespace: dict = {}
    exec(compile(source, "<q>", "exec"), namespace)
    assert names == ["A.m", "A.m.<locals>.inner", "top"]
    assert namespace["A"]().m().__qualname__ == "A.m.<locals>.inner"


def test_top_package():
    assert top_package("email/mime/text.py") == "email" and top_package("os.py") == "os"


def _write_package(root: Path) -> None:
    """A tiny source tree: two packages of five files, generators and non-generators in each."""
    for package in ("alpha", "beta"):
        for index in range(5):
            body = [f"def gen_{index}(n):\n    for i in range(n + {index}):\n        yield i * {index}\n",
                    f"def plain_{index}(n):\n    return n * {index} + 1\n",
                    f"def wrapper_{index}():\n    def inner():\n        yield {index}\n    return inner\n",
                    f"class K{index}:\n    def method(self, a, b):\n        return [a] * {index}\n"]
            path = root / package / f"m{index}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(body[: 2 + index % 3]) + "\n" + "x = 1\n" * index)
    (root / "test").mkdir()
    (root / "test" / "skipped.py").write_text("def gen():\n    yield 1\n")


@pytest.mark.parametrize("labeling", ["generator", "package"])
def test_splits_are_disjoint_by_file_deterministic_and_deduplicated(tmp_path, labeling):
    _write_package(tmp_path)
    config = PythonASTConfig(labeling=labeling, root=str(tmp_path), fractions=(0.6, 0.2, 0.2), min_package_files=5)
    data = make_python_ast(config)
    again = make_python_ast(config)
    assert data.splits == again.splits and data.sites == again.sites and data.source == again.source
    files = [set(data.files[split]) for split in ("train", "valid", "test")]
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])
    assert all(not f.startswith("test/") for group in files for f in group)
    for split, group in zip(("train", "valid", "test"), files):
        assert {site.file for site in data.sites[split]} <= group
    keys = [to_sexpr(tree) for split in data.splits.values() for tree, _ in split]
    assert len(keys) == len(set(keys)), "a tree occurs twice"
    assert all(tree.size() <= config.max_nodes for split in data.splits.values() for tree, _ in split)
    if labeling == "generator":
        for split, pairs in data.splits.items():
            labels = [label for _, label in pairs]
            assert labels.count(1) == labels.count(0), (split, labels)
    else:
        assert data.classes == ("alpha", "beta")
        for split in data.splits:
            for (_, label), site in zip(data.splits[split], data.sites[split]):
                assert data.classes[label] == top_package(site.file)


def test_a_different_seed_gives_a_different_split(tmp_path):
    _write_package(tmp_path)
    splits = [make_python_ast(PythonASTConfig(root=str(tmp_path), seed=seed, labeling="package",
                                              min_package_files=5)).files for seed in (0, 1, 2)]
    assert len({tuple(s["test"]) for s in splits}) > 1


def test_standard_library_labels_match_cpython_and_files_split_disjointly():
    config = PythonASTConfig(labeling="generator", max_files=16, fractions=(0.5, 0.25, 0.25))
    data = make_python_ast(config)
    directory = Path(data.source["root"])
    flags: dict[str, dict[tuple[int, str], int]] = {}
    module_of: dict[str, ast.Module] = {}
    for split in ("train", "valid", "test"):
        assert data.splits[split], split
        for (tree, label), site in zip(data.splits[split], data.sites[split]):
            if site.file not in flags:
                source = (directory / site.file).read_text(encoding="utf-8")
                flags[site.file], module_of[site.file] = _code_flags(source, site.file), ast.parse(source)
            function = next(f for f, q in function_definitions(module_of[site.file])
                            if f.lineno == site.line and q == site.qualname)
            assert label == bool(flags[site.file][(_first_line(function), function.name)] & GENERATOR_FLAGS)
            assert tree == function_tree(function)
    files = [set(data.files[s]) for s in ("train", "valid", "test")]
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])


def test_bad_configs_raise_one_line_errors():
    with pytest.raises(ValueError, match="labeling"):
        PythonASTConfig(labeling="colour")
    with pytest.raises(ValueError, match="fractions"):
        PythonASTConfig(fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="max_nodes"):
        PythonASTConfig(max_nodes=0)
    with pytest.raises(ValueError, match="root"):
        make_python_ast(PythonASTConfig(root="/nonexistent/dir"))
    with pytest.raises(TypeError, match="function"):
        is_generator(ast.parse("x = 1").body[0])
