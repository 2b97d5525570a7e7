"""What the tamper scan looks for: the rules of :mod:`grading.autograde.tamper`, as tables.

Each table names constructs in a student's cell that can make failing tests pass or change
how later cells run (hooks, patched modules, rebound builtins, the environment, magics), or
that end the kernel. :class:`grading.autograde.tamper.Finding` explains each finding with the
text given here.
"""

from __future__ import annotations

import builtins
import re

__all__ = [
    "ALWAYS_GUARDED",
    "ATTRIBUTE_ALLOWLIST",
    "CODE_MAGICS",
    "DANGEROUS_MAGICS",
    "DEFERRED_CALLS",
    "DYNAMIC_CALLS",
    "ENVIRON_METHODS",
    "EXIT_CALLS",
    "HOOK_ATTRIBUTES",
    "MUTATING_METHODS",
    "PATCHING_MODULES",
    "PROTECTED_BUILTINS",
    "PROTECTED_ENVIRONMENT",
    "SAFE_CONFIG",
    "SHELL",
    "SIGNAL_CALLS",
]

#: Attributes whose use changes how IPython runs or reports later cells.
HOOK_ATTRIBUTES = {
    "set_custom_exc": "set_custom_exc (replaces error reporting)",
    "custom_exceptions": "custom_exceptions (replaces error reporting)",
    "showtraceback": "showtraceback (replaces error reporting)",
    "_showtraceback": "_showtraceback (replaces error reporting)",
    "showsyntaxerror": "showsyntaxerror (replaces error reporting)",
    "input_transformers_cleanup": "input_transformers_cleanup (rewrites later cells)",
    "input_transformers_post": "input_transformers_post (rewrites later cells)",
    "input_transformer_manager": "input_transformer_manager (rewrites later cells)",
    "ast_transformers": "ast_transformers (rewrites later cells)",
    "transform_cell": "transform_cell (rewrites later cells)",
    "run_cell": "run_cell (replaces how cells run)",
    "run_cell_async": "run_cell_async (replaces how cells run)",
    "run_ast_nodes": "run_ast_nodes (replaces how cells run)",
    "run_code": "run_code (replaces how cells run)",
    "excepthook": "excepthook (replaces error reporting)",
    "displayhook": "displayhook (replaces how results show)",
    "settrace": "settrace (can skip lines of later cells)",
    "setprofile": "setprofile (runs code around every call)",
    "user_ns_hidden": "user_ns_hidden",
    "__code__": "__code__ (rewrites a function's code)",
    "__globals__": "__globals__ (rewrites a function's globals)",
    "__defaults__": "__defaults__ (rewrites a function's defaults)",
    "__kwdefaults__": "__kwdefaults__ (rewrites a function's defaults)",
    "__subclasses__": "__subclasses__ (reaches every class of the interpreter)",
}
#: Builtins that tests rely on: rebinding one is tampering (common variable names such as
#: ``sum``, ``max``, ``list`` or ``input`` are left alone: shadowing them breaks tests at most).
PROTECTED_BUILTINS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
} | {
    "print",
    "isinstance",
    "issubclass",
    "len",
    "abs",
    "all",
    "any",
    "round",
    "float",
    "int",
    "bool",
    "str",
    "repr",
    "getattr",
    "hasattr",
    "callable",
    "exec",
    "eval",
    "compile",
    "globals",
    "locals",
    "vars",
    "open",
    "__import__",
    "__build_class__",
    "__builtins__",
    "get_ipython",
}
#: Environment variables that select how a notebook is graded.
PROTECTED_ENVIRONMENT = re.compile(r"^(LABCORE_|NBGRADER_|CNNLAB_)")
#: Configuration namespaces of imported modules a student may set attributes on.
ATTRIBUTE_ALLOWLIST = ("pandas.options", "matplotlib.rcParams")
#: Modules whose only purpose here would be to patch other code.
PATCHING_MODULES = ("unittest.mock", "mock", "pytest", "_pytest")
#: Magics that run code we cannot see or change how IPython behaves.
DANGEROUS_MAGICS = {
    "config": "%config (changes how IPython runs and shows cells)",
    "run": "%run (runs code from a file)",
    "load": "%load (loads code from a file)",
    "alias_magic": "%alias_magic",
}
#: ``%config`` targets that only change how figures look.
SAFE_CONFIG = ("InlineBackend.",)
#: Magics whose argument or body is Python code (scanned too).
CODE_MAGICS = {"time", "timeit", "prun", "capture", "debug"}
#: Calls that end the kernel: findings of kind ``"exit"``, graded by their effect.
EXIT_CALLS = {
    "exit": "exit()",
    "quit": "quit()",
    "sys.exit": "sys.exit",
    "os._exit": "os._exit",
    "os.abort": "os.abort",
    "os.kill": "os.kill",
    "os.killpg": "os.killpg",
    "signal.raise_signal": "signal.raise_signal",
}
#: Calls that change signal handling (they can ignore the grader's interrupt).
SIGNAL_CALLS = {"signal.signal", "signal.setitimer", "signal.alarm", "signal.pthread_sigmask"}
#: Calls that run code later, when the tests run, or write the interpreter's memory.
DEFERRED_CALLS = {
    "threading.Timer": "threading.Timer (runs code later, while tests run)",
    "atexit.register": "atexit.register (runs code when the kernel stops)",
    "ctypes.memmove": "ctypes.memmove (writes the interpreter's memory)",
    "ctypes.memset": "ctypes.memset (writes the interpreter's memory)",
    "ctypes.pythonapi": "ctypes.pythonapi (the interpreter's own C functions)",
}
#: Builtins that run code built at run time.
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__"}
#: Methods of ``os.environ`` that change it.
ENVIRON_METHODS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
#: Methods that change ``sys.modules``, ``sys.meta_path`` or ``sys.path_hooks``.
MUTATING_METHODS = {
    "append",
    "insert",
    "extend",
    "update",
    "pop",
    "clear",
    "__setitem__",
    "remove",
}
#: What the scanner's aliases map a name bound to ``get_ipython()`` to.
SHELL = "<the IPython shell>"
#: Builtins no student code may rebind, whether or not a test uses them.
ALWAYS_GUARDED = frozenset({"__builtins__", "__import__", "__build_class__", "get_ipython"})
