"""The shape of the code: no import loops, no API module importing the CLI, one definition.

Imports are read with :mod:`ast`, not by importing, so the tests are fast and see every
import: those at module level and those inside functions. An import inside a function
still ties two modules together (it only delays the tie), so it counts; an import under
``if TYPE_CHECKING:`` never runs and does not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("grading", "labcore")
#: Loops not broken yet, each to be removed from here when it is. A new loop, or one of
#: these growing, fails the tests.
KNOWN_LOOPS: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement in ``tree`` can load (outside TYPE_CHECKING)."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of our packages it imports, anywhere in its code.

    Returns
    -------
    dict
        ``"grading.autograde.run" -> {"grading.errors", ...}``.
    """
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = _imported_names(tree, name, path.name == "__init__.py")
        # `import grading.x` also runs grading/__init__.py, which cannot make a loop worth
        # reporting; keep the deepest module each name means
        graph[name] = {m for m in imported if m in modules and m != name and m not in PACKAGES}
    return graph


def import_loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or around a circle.

    Parameters
    ----------
    graph : dict
        From :func:`import_graph`.

    Returns
    -------
    list of set of str
        Each strongly connected group of two or more modules (Tarjan's algorithm).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                loops.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return loops


def test_the_loop_finder_sees_imports_inside_functions(tmp_path):
    # the kind of loop issue 20 names: one side imports at the top, the other in a function
    top = ast.parse("from grading.b import thing\n")
    inside = ast.parse("def f():\n    from grading.a import other\n")
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import grading.a\n")
    graph = {
        "grading.a": _imported_names(top, "grading.a", False) & {"grading.b"},
        "grading.b": _imported_names(inside, "grading.b", False) & {"grading.a"},
        "grading.c": _imported_names(typed, "grading.c", False) & {"grading.a"},
    }
    assert graph["grading.c"] == set()
    assert import_loops(graph) == [{"grading.a", "grading.b"}]


def test_no_import_loops():
    loops = [frozenset(group) for group in import_loops(import_graph())]
    new = [sorted(group) for group in loops if group not in KNOWN_LOOPS]
    assert not new, f"modules that import each other: {new}"
    fixed = [sorted(group) for group in KNOWN_LOOPS if group not in loops]
    assert not fixed, f"no longer loops, remove them from KNOWN_LOOPS: {fixed}"


def test_autograde_and_cluster_do_not_import_each_other():
    graph = import_graph()
    assert "grading.autograde.cluster" in graph["grading.autograde.run"]  # --scheduler
    assert "grading.autograde.run" not in graph["grading.autograde.cluster"]


def test_api_modules_never_import_the_cli():
    importers = sorted(
        name
        for name, imported in import_graph().items()
        if "grading.cli" in imported and name != "grading.cli"
    )
    assert importers == [], "shared argument helpers belong in grading.options"


def _constants(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


#: Environment variables still spelled out in a second module (not ours to edit yet).
KNOWN_SECOND_SPELLINGS: set[tuple[str, str]] = set()


def test_each_environment_variable_of_ours_is_defined_once():
    spelled: dict[str, list[str]] = {}
    for name, path in _modules().items():
        for value in _constants(path):
            if re.fullmatch(r"(CNNLAB|LABCORE)_[A-Z_]+", value):
                spelled.setdefault(value, []).append(name)
    assert spelled["CNNLAB_BUILD_DIR"] == ["labcore.runtime"]
    twice = {
        variable: modules
        for variable, modules in spelled.items()
        if len([m for m in modules if (m, variable) not in KNOWN_SECOND_SPELLINGS]) > 1
    }
    assert twice == {}, "import the constant instead of spelling the name again"


@pytest.mark.parametrize(
    "function",
    [
        "kill_process_tree",
        "select_assignments",
        "find_notebooks",
        "available_cores",
        "die_with_parent",
    ],
)
def test_one_definition_of_each_helper(function):
    defined = [
        name
        for name, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == function
    ]
    assert len(defined) == 1, f"{function} is defined in {defined}"


def test_tensorflow_log_noise_is_described_once():
    with_noise = [
        name
        for name, path in _modules().items()
        if any("absl::InitializeLog" in value for value in _constants(path))
    ]
    assert with_noise == ["labcore.runtime"]


#: Modules that may change ``os.environ``: each is a process of its own, or sets what
#: TensorFlow reads before it starts. Anything else passes settings as arguments.
ENVIRONMENT_WRITERS = {
    "grading.autograde.grade_in_sandbox": "the grading program, a process per submission",
    "labcore.runtime": "TensorFlow's logging variables, before TensorFlow is imported",
}


def _writes_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        if any(
            isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ" for t in targets
        ):
            return True
        if isinstance(node, ast.Call) and ast.unparse(node.func) in {
            "os.environ.pop",
            "os.environ.update",
            "os.environ.setdefault",
            "os.environ.clear",
            "os.putenv",
            "os.unsetenv",
        }:
            return True
    return False


def test_only_processes_of_their_own_change_the_environment():
    writers = {
        name
        for name, path in _modules().items()
        if _writes_environment(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert writers <= set(ENVIRONMENT_WRITERS), (
        f"{sorted(writers - set(ENVIRONMENT_WRITERS))} change os.environ, which every thread "
        "shares: pass the setting as an argument (or grading.paths.course_selected)"
    )
    assert not {"grading.base.nbgrader_driver", "grading.base.gradebook", "grading.cli"} & writers
