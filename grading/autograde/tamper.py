"""Tampering: a static scan of the student's code, and the policy for what it finds.

Runs before nbgrader sees a submission, after its tests are restored from the source
(:mod:`grading.autograde.restore`), and is one of two checks:

1. A static scan of the student's code (:func:`scan_notebook`)
   Solution cells and cells the student added are parsed (IPython magics included, and the
   code inside ``%time``-like magics) and searched for what can make failing tests pass or
   change how later cells run (the rules: :mod:`grading.autograde.tamper_rules`): exception
   and display hooks (``set_custom_exc``, ``sys.excepthook``, ``showtraceback``), input and
   AST transformers, ``pre_run_cell``-style events, tracing, rebinding builtins or exception
   classes or the names the setup cells import, monkeypatching imported modules
   (``np.testing.assert_allclose = ...``, ``labcore.checks``, ``keras``, ``unittest.mock``),
   changing ``sys`` or the environment variables that pick the profile (``LABCORE_*``,
   ``NBGRADER_*``; also ``%env``), ``%config``, signal handlers (which can ignore the
   grader's interrupt) and code built at run time (``exec``, ``eval``, ``compile``, computed
   imports). Calls that end the kernel (``exit()``, ``sys.exit``, ``os._exit``,
   ``raise SystemExit``) are findings of their own kind, ``"exit"``: recorded, but graded by
   their effect (a dead kernel scores 0 from there).

2. At run time, checks from outside the kernel (:mod:`grading.autograde.grade_in_sandbox`):
   each test cell is scored from the kernel's execute reply and its outputs
   (:mod:`grading.autograde.scoring`), and before and after each test cell an integrity probe
   compares what the tests rely on with its state before any student code ran
   (:mod:`grading.autograde.probe`).

Tamper policy
-------------
A static finding of kind ``"tampering"`` in student cell X, or an integrity probe that found
a change before or during test cell T, makes every autograded test cell after X
(respectively T and every test after it) score 0 and marks those grades for manual review in
nbgrader (formgrader shows them; the submission's notebook is flagged). The reason reads
``"tampering: <what> in cell X (line N); tests after it score 0, needs instructor review"``.
Tests before X keep their points: cells run in order, so code in X cannot have affected them.
A false alarm costs an instructor a look, never a silent wrong grade. The scan raises the
bar; it does not prove good faith: code that builds its attack from strings at run time can
escape it, which is what the run-time probe is for, and what both miss is up to the
instructor's review.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grading.autograde.cells import (
    cell_label,
    is_locked_code,
    is_solution_cell,
    is_tracked_cell,
    parse_cell,
)
from grading.autograde.tamper_rules import (
    ALWAYS_GUARDED,
    ATTRIBUTE_ALLOWLIST,
    CODE_MAGICS,
    DANGEROUS_MAGICS,
    DEFERRED_CALLS,
    DYNAMIC_CALLS,
    ENVIRON_METHODS,
    EXIT_CALLS,
    HOOK_ATTRIBUTES,
    MUTATING_METHODS,
    PATCHING_MODULES,
    PROTECTED_BUILTINS,
    PROTECTED_ENVIRONMENT,
    SAFE_CONFIG,
    SHELL,
    SIGNAL_CALLS,
)

__all__ = ["Finding", "scan_notebook", "scan_source"]


@dataclass(frozen=True)
class Finding:
    """One suspicious construct in a student's cell.

    Attributes
    ----------
    kind : str
        ``"tampering"`` (tests after it score 0, review) or ``"exit"`` (recorded only).
    what : str
        What was found, e.g. ``"set_custom_exc (replaces error reporting)"``.
    cell_index : int
        The cell's position in the graded notebook (0-based).
    cell : str
        The cell's label (:func:`cell_label`).
    line : int
        The line in the cell (1-based; the magic's line for code inside a magic).
    """

    kind: str
    what: str
    cell_index: int
    cell: str
    line: int

    def reason(self) -> str:
        """The reason line recorded for this finding.

        Returns
        -------
        str
            ``"tampering: ... in cell X (line N); ..."`` or ``"exit: ..."``.
        """
        if self.kind == "exit":
            return (
                f"exit: {self.what} in cell {self.cell} (line {self.line}); graded by its "
                "effect on the kernel"
            )
        return (
            f"tampering: {self.what} in cell {self.cell} (line {self.line}); tests after it "
            "score 0, needs instructor review"
        )


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else ``None``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Scanner(ast.NodeVisitor):
    """Walks one cell's code; ``aliases`` maps names bound by imports to what they are."""

    def __init__(
        self,
        aliases: dict[str, str],
        protected_names: dict[str, str],
        guarded_builtins: set[str] | frozenset[str] = frozenset(PROTECTED_BUILTINS),
    ):
        self.aliases = aliases
        self.protected_names = protected_names
        self.guarded_builtins = guarded_builtins
        self.found: list[tuple[int, str, str]] = []
        self.depth = 0  # > 0 inside a function or class body, where names are local

    # helpers
    def _add(self, node, kind, what):
        self.found.append((getattr(node, "lineno", 1), kind, what))

    def _resolve(self, node) -> str | None:
        """The imported thing an expression names (``np.testing`` -> ``numpy.testing``)."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        root, _, rest = dotted.partition(".")
        if root in self.aliases:
            return self.aliases[root] + ("." + rest if rest else "")
        return None

    def _is_shell(self, node) -> bool:
        """``get_ipython()``, or a name bound to it."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id) == SHELL
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "get_ipython"
        )

    def _bind(self, name: str, node, origin: str | None = None):
        if self.depth and origin is None:
            return  # a local name shadows nothing the tests see
        if name in self.guarded_builtins:
            self._add(node, "tampering", f"rebinds the builtin {name}")
        elif name in self.protected_names and origin != self.protected_names[name]:
            self._add(node, "tampering", f"rebinds {name}, which the setup cells define")
        if origin is not None:
            self.aliases[name] = origin
        else:
            self.aliases.pop(name, None)

    def _check_store_target(self, target, node):
        if isinstance(target, ast.Name):
            self._bind(target.id, node)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._check_store_target(element, node)
        elif isinstance(target, ast.Starred):
            self._check_store_target(target.value, node)
        elif isinstance(target, ast.Attribute):
            self._check_attribute_store(target, node)
        elif isinstance(target, ast.Subscript):
            self._check_subscript_store(target, node)

    def _check_attribute_store(self, target: ast.Attribute, node):
        if target.attr in HOOK_ATTRIBUTES:
            return  # reported by visit_Attribute
        resolved = self._resolve(target.value)
        if resolved is not None and not resolved.startswith(ATTRIBUTE_ALLOWLIST):
            self._add(node, "tampering", f"monkeypatches {resolved}.{target.attr}")
        elif self._is_shell(target.value):
            self._add(node, "tampering", f"changes the IPython shell ({target.attr})")
        elif self._through_sys_modules(target.value):
            self._add(
                node, "tampering", f"monkeypatches a module through sys.modules ({target.attr})"
            )

    def _through_sys_modules(self, node) -> bool:
        """Whether an expression reaches into ``sys.modules[...]`` (``sys.modules['np'].x``)."""
        while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
            if isinstance(node, ast.Subscript) and (
                (self._resolve(node.value) or _dotted(node.value) or "") == "sys.modules"
            ):
                return True
            node = node.func if isinstance(node, ast.Call) else node.value
        return False

    def _check_subscript_store(self, target: ast.Subscript, node):
        resolved = self._resolve(target.value) or _dotted(target.value) or ""
        namespace = self._namespace_of(target.value)
        if resolved in ("os.environ",):
            self._check_environment_key(target.slice, node)
        elif resolved.startswith("sys.") or resolved == "__builtins__":
            self._add(node, "tampering", f"changes {resolved}")
        elif namespace is not None:
            self._add(node, "tampering", f"writes into the namespace of {namespace}")
        elif (
            isinstance(target.value, ast.Call)
            and isinstance(target.value.func, ast.Name)
            and target.value.func.id in ("globals", "locals")
        ):
            key = target.slice
            name = key.value if isinstance(key, ast.Constant) else None
            if not isinstance(name, str):
                self._add(node, "tampering", "globals()[...] with a computed name")
            else:
                self._bind(name, node)

    def _namespace_of(self, node) -> str | None:
        """The module a ``vars(m)`` or ``m.__dict__`` expression exposes, or ``None``."""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "vars"
            and node.args
        ):
            return self._resolve(node.args[0]) or ("an object" if node.args else None)
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return self._resolve(node.value) or "an object"
        return None

    def _check_environment_key(self, key, node):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if PROTECTED_ENVIRONMENT.match(key.value):
                self._add(node, "tampering", f"sets the environment variable {key.value}")
        else:
            self._add(node, "tampering", "sets an environment variable whose name is computed")

    # statements
    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.startswith(PATCHING_MODULES):
                self._add(node, "tampering", f"imports {alias.name} (a patching tool)")
            if alias.asname:
                self._bind(alias.asname, node, alias.name)
            else:
                root = alias.name.split(".")[0]
                self._bind(root, node, root)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if module.startswith(PATCHING_MODULES) or any(
            f"{module}.{a.name}".startswith(PATCHING_MODULES) for a in node.names
        ):
            self._add(node, "tampering", f"imports from {module} (a patching tool)")
        for alias in node.names:
            if alias.name == "*":
                continue
            self._bind(alias.asname or alias.name, node, f"{module}.{alias.name}")

    def visit_Assign(self, node):
        for target in node.targets:
            self._check_store_target(target, node)
        # simple aliases of imported things (t = np.testing) and of the shell
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            resolved = SHELL if self._is_shell(node.value) else self._resolve(node.value)
            if resolved is not None:
                self.aliases[node.targets[0].id] = resolved
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._check_store_target(node.target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._check_store_target(node.target, node)
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._check_store_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                self._check_subscript_store(target, node)
            elif isinstance(target, ast.Attribute):
                self._check_attribute_store(target, node)
            elif isinstance(target, ast.Name) and target.id in self.guarded_builtins:
                self._add(node, "tampering", f"deletes the builtin {target.id}")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self._bind(node.name, node)
        self._visit_body(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._bind(node.name, node)
        self._visit_body(node)

    def visit_Lambda(self, node):
        self._visit_body(node)

    def _visit_body(self, node):
        self.depth += 1
        try:
            self.generic_visit(node)
        finally:
            self.depth -= 1

    def visit_For(self, node):
        self._check_store_target(node.target, node)
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self._check_store_target(item.optional_vars, node)
        self.generic_visit(node)

    def visit_Global(self, node):
        for name in node.names:
            if name in self.guarded_builtins or name in self.protected_names:
                self._add(node, "tampering", f"declares global {name}")
        self.generic_visit(node)

    def visit_Raise(self, node):
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name) and exc.id in ("SystemExit", "KeyboardInterrupt"):
            self._add(node, "exit", f"raise {exc.id}")
        self.generic_visit(node)

    # expressions
    def visit_Name(self, node):
        if node.id == "__builtins__":
            self._add(node, "tampering", "uses __builtins__")

    def visit_Attribute(self, node):
        if node.attr in HOOK_ATTRIBUTES:
            self._add(node, "tampering", HOOK_ATTRIBUTES[node.attr])
        elif (
            node.attr in ("register", "unregister", "callbacks")
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "events"
        ):
            self._add(node, "tampering", f"events.{node.attr} (runs code around later cells)")
        elif (
            node.attr in ("modules", "meta_path", "path_hooks")
            and self._resolve(node.value) == "sys"
            and isinstance(node.ctx, ast.Store | ast.Del)
        ):
            self._add(node, "tampering", f"changes sys.{node.attr}")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        called = self._resolve(func) or _dotted(func) or ""
        if (
            isinstance(func, ast.Name)
            and func.id in ("exit", "quit")
            and func.id not in (self.aliases)
        ):
            self._add(node, "exit", EXIT_CALLS[func.id])
        elif called in EXIT_CALLS:
            self._add(node, "exit", EXIT_CALLS[called])
        elif called in SIGNAL_CALLS:
            self._add(node, "tampering", f"{called} (can ignore the grader's interrupt)")
        elif called in DEFERRED_CALLS or called.startswith("ctypes.pythonapi."):
            self._add(
                node, "tampering", DEFERRED_CALLS.get(called, DEFERRED_CALLS["ctypes.pythonapi"])
            )
        elif isinstance(func, ast.Name) and func.id in DYNAMIC_CALLS:
            self._add(node, "tampering", f"{func.id}() of code built at run time")
        elif called == "importlib.import_module" and not (
            node.args and isinstance(node.args[0], ast.Constant)
        ):
            self._add(node, "tampering", "an import whose module name is computed")
        elif called == "importlib.reload":
            self._add(node, "tampering", "importlib.reload")
        elif (
            isinstance(func, ast.Name)
            and func.id in ("getattr", "setattr", "delattr", "hasattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in HOOK_ATTRIBUTES
        ):
            self._add(node, "tampering", HOOK_ATTRIBUTES[node.args[1].value])
        elif (
            isinstance(func, ast.Name)
            and func.id in ("setattr", "delattr", "getattr")
            and any(isinstance(arg, ast.Starred) for arg in node.args)
        ):
            self._add(node, "tampering", f"{func.id}() with computed arguments")
        elif (
            isinstance(func, ast.Name)
            and func.id == "getattr"
            and len(node.args) > 1
            and not isinstance(node.args[1], ast.Constant)
            and (self._is_shell(node.args[0]) or (self._resolve(node.args[0]) or "") == "sys")
        ):
            self._add(node, "tampering", "getattr() with a computed name on the shell or sys")
        elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
            target = node.args[0]
            resolved = self._resolve(target)
            if resolved is not None and not resolved.startswith(ATTRIBUTE_ALLOWLIST):
                self._add(node, "tampering", f"{func.id}() on {resolved}")
            elif self._is_shell(target) or (
                isinstance(target, ast.Name) and target.id == "__builtins__"
            ):
                self._add(node, "tampering", f"{func.id}() on the IPython shell or builtins")
        elif called in ("os.putenv", "os.unsetenv"):
            self._check_environment_key(node.args[0] if node.args else None, node)
        elif isinstance(func, ast.Attribute):
            owner = self._resolve(func.value) or _dotted(func.value) or ""
            if owner == "os.environ" and func.attr in ENVIRON_METHODS:
                self._check_environment_call(func.attr, node)
            elif owner in ("sys.modules", "sys.meta_path", "sys.path_hooks") and (
                func.attr in MUTATING_METHODS
            ):
                self._add(node, "tampering", f"changes {owner}")
            elif self._is_shell(func.value) and func.attr not in HOOK_ATTRIBUTES:
                self._check_shell_call(func.attr, node)
        self.generic_visit(node)

    def _check_environment_call(self, method: str, node):
        if method in ("clear", "popitem"):
            self._add(node, "tampering", f"os.environ.{method}()")
            return
        if method == "update":
            for arg in node.args:
                if isinstance(arg, ast.Dict):
                    for key in arg.keys:
                        self._check_environment_key(key, node)
                else:
                    self._add(node, "tampering", "os.environ.update() with computed names")
            for keyword in node.keywords:
                self._check_environment_key(ast.Constant(keyword.arg or ""), node)
            return
        self._check_environment_key(node.args[0] if node.args else None, node)

    def _check_shell_call(self, method: str, node):
        if method in ("run_line_magic", "run_cell_magic", "magic"):
            name = (
                node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
            )
            text = (
                node.args[1].value
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                else ""
            )
            if name == "config" and str(text).strip().startswith(SAFE_CONFIG):
                pass  # how figures look: nothing a test depends on
            elif name in DANGEROUS_MAGICS:
                self._add(node, "tampering", DANGEROUS_MAGICS[name])
            elif not (node.args and isinstance(node.args[0], ast.Constant)):
                self._add(node, "tampering", f"get_ipython().{method}() with a computed name")
            elif name == "load_ext" and str(text).strip() not in ("autoreload",):
                self._add(node, "tampering", f"%load_ext {text} (runs an extension's code)")
            elif name in ("env", "set_env"):
                key = str(text).replace("=", " ").split()
                if key and PROTECTED_ENVIRONMENT.match(key[0]):
                    self._add(node, "tampering", f"sets the environment variable {key[0]}")
            elif name in CODE_MAGICS:
                bodies = [str(a.value) for a in node.args[1:] if isinstance(a, ast.Constant)]
                for body in bodies:
                    for _, kind, what in _scan_code(body, self.aliases, self.protected_names):
                        self._add(node, kind, what)
        elif method not in ("system", "getoutput"):
            self._add(node, "tampering", f"get_ipython().{method}")


def _scan_code(
    code: str,
    aliases: dict,
    protected_names: dict,
    guarded_builtins: set[str] | frozenset[str] = frozenset(PROTECTED_BUILTINS),
) -> list[tuple[int, str, str]]:
    try:
        tree = parse_cell(code)
    except (SyntaxError, ValueError):  # does not run at all, so it cannot tamper
        return []
    scanner = _Scanner(aliases, protected_names, guarded_builtins)
    scanner.visit(tree)
    return scanner.found


def scan_source(
    source: str,
    aliases: dict[str, str] | None = None,
    protected_names: dict[str, str] | None = None,
) -> list[tuple[int, str, str]]:
    """Scan one cell's code for tampering (see the module docstring).

    Parameters
    ----------
    source : str
        The cell's source, IPython syntax allowed.
    aliases : dict, optional
        Names bound by imports so far (``{"np": "numpy"}``); updated with this cell's.
    protected_names : dict, optional
        Names the setup cells bind, and to what (rebinding them is tampering).

    Returns
    -------
    list of tuple
        ``(line, kind, what)`` per finding, ``kind`` being ``"tampering"`` or ``"exit"``.
    """
    return _scan_code(source, aliases if aliases is not None else {}, protected_names or {})


def _setup_bindings(source: str) -> dict[str, str]:
    """Names a locked cell binds with imports, functions and classes, and what to."""
    try:
        tree = parse_cell(source)
    except (SyntaxError, ValueError):
        return {}
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                bound[name] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound[node.name] = f"<setup>.{node.name}"
    return bound


def _names_used(sources) -> set[str]:
    """Every name the given cells read."""
    used = set()
    for source in sources:
        try:
            tree = parse_cell(source)
        except (SyntaxError, ValueError):
            continue
        used.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return used


def scan_notebook(notebook) -> list[Finding]:
    """Scan every cell the student wrote, in order, sharing what imports bind.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        The notebook to grade (after :func:`restore`).

    Returns
    -------
    list of Finding
        In notebook order.
    """
    aliases: dict[str, str] = {}
    protected: dict[str, str] = {}
    findings = []
    # a builtin's name used as a variable matters only where a test or setup cell uses it
    used = _names_used(c.source for c in notebook.cells if is_locked_code(c))
    guarded = (PROTECTED_BUILTINS & used) | ALWAYS_GUARDED
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        student_written = is_solution_cell(cell) or not is_tracked_cell(cell)
        if not student_written:
            bindings = _setup_bindings(cell.source)
            protected.update(bindings)
            aliases.update({k: v for k, v in bindings.items() if not v.startswith("<setup>")})
            continue
        for line, kind, what in _scan_code(cell.source, aliases, protected, guarded):
            findings.append(Finding(kind, what, index, cell_label(cell, index), line))
    return findings
