"""The integrity probe: what the tests rely on, fingerprinted in the kernel, compared outside.

Before any student code runs, and around the test cells, the grading program asks the
kernel (a silent request, not in the history) for a fingerprint of everything a test's
verdict depends on:

- the functions and classes the notebook's setup and test cells use (``np.allclose``,
  ``keras.layers.Conv2D``, ...), every public function of ``numpy.testing``,
  ``labcore.checks`` and ``labcore.theory``, and ``np.allclose``, ``np.isclose``,
  ``np.array_equal`` always;
- the builtins the tests use, and the exception classes;
- ``sys.displayhook``, ``sys.excepthook``, ``sys.gettrace()``, ``sys.getprofile()``;
- IPython's custom exception handler, input and AST transformers, event callbacks,
  display hook and formatter.

A fingerprint is an object's identity and, for a function, its code. The comparison
happens in the grader, against the first answer, so the kernel never holds the reference.
A difference is tampering, named by what changed and in which cells it can have happened.
What code in the kernel can still do is in ``docs/sandbox.md`` ("Threat model").
"""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import json

from grading.autograde.cells import parse_cell

__all__ = [
    "PROBED_MODULES",
    "compare",
    "forget_expression",
    "parse_forget_reply",
    "probe_expression",
    "probed_names",
]

#: Modules whose every public function is fingerprinted (when the notebook imports them);
#: in labcore's, the private helpers too.
PROBED_MODULES = (
    "numpy.testing",
    "labcore.checks",
    # the package's modules too: its helpers call each other through them
    "labcore.checks.architecture",
    "labcore.checks.core",
    "labcore.checks.data",
    "labcore.checks.models",
    "labcore.checks.theory",
    "labcore.checks.training",
    "labcore.checks.tuning",
    "labcore.checks.xray",
    "labcore.theory",
    "matplotlib_inline.backend_inline",
)
#: The inline plotting backend, whose event callbacks are not the student's.
INLINE_BACKEND = "matplotlib_inline.backend_inline"
#: Event callbacks that pyplot registers itself (fingerprinted, so trusted by identity).
TRUSTED_CALLBACKS = ("matplotlib.pyplot._draw_all_if_interactive",)
#: Always fingerprinted, whatever the tests use.
ALWAYS = ("numpy.allclose", "numpy.isclose", "numpy.array_equal", *TRUSTED_CALLBACKS)
#: Roots of the dotted names worth fingerprinting (what tests import).
_ROOTS = ("numpy", "labcore", "keras", "scipy", "pandas", "math")

# The probe, run in the kernel by ``exec`` in a namespace of its own. It uses builtins only
# through the ``builtins`` module it imports first, and reads modules from sys.modules.
_PROBE_CODE = r"""
import builtins as _b
import sys as _sys
_json = _b.__import__("json")
_importlib = _b.__import__("importlib")

def _fp(obj):
    obj = _b.getattr(obj, "__func__", obj)
    code = _b.getattr(obj, "__code__", None)
    digest = _b.hash(code.co_code) if code is not None else ""
    return f"{_b.type(obj).__name__}:{_b.id(obj)}:{digest}"

def _resolve(name, load):
    parts = name.split(".")
    try:  # through the modules already imported, as every later probe resolves it
        return _walk(parts)
    except BaseException:
        if not load:
            raise
    # import what is missing (a failed import scans folders: only when the name is not there)
    for cut in _b.range(_b.len(parts), 0, -1):
        module = _sys.modules.get(".".join(parts[:cut]))
        if module is None:
            try:
                module = _importlib.import_module(".".join(parts[:cut]))
            except BaseException:
                module = None
        if module is not None:
            obj = module
            for part in parts[cut:]:
                obj = _b.getattr(obj, part)
            return obj
    raise LookupError(name)

def _walk(parts):
    for cut in _b.range(_b.len(parts), 0, -1):
        obj = _sys.modules.get(".".join(parts[:cut]))
        if obj is not None:
            for part in parts[cut:]:
                obj = _b.getattr(obj, part)
            return obj
    raise LookupError(".".join(parts))

out = {}
for name in NAMES:
    try:
        out[name] = _fp(_resolve(name, LOAD)) if not name.startswith("builtins.") else _fp(
            _b.getattr(_b, name.split(".", 1)[1]))
    except BaseException:
        out[name] = "absent"
for module_name in MODULES:
    try:
        module = _resolve(module_name, LOAD)
    except BaseException:
        continue
    own = module_name.startswith("labcore.")  # our code: its private helpers count too
    for attr in _b.sorted(_b.dir(module)):
        if not attr.startswith("__") and (own or not attr.startswith("_")):
            value = _b.getattr(module, attr, None)
            if _b.callable(value):
                out[module_name + "." + attr] = _fp(value)
out["sys.displayhook"] = _fp(_sys.displayhook)
out["sys.excepthook"] = _fp(_sys.excepthook)
out["sys.gettrace()"] = _fp(_sys.gettrace())
out["sys.getprofile()"] = _fp(_sys.getprofile())
_ip = _sys.modules["IPython"].get_ipython()
out["IPython custom exception handler"] = _b.repr(_ip.custom_exceptions) + _fp(_ip.CustomTB)
out["IPython showtraceback"] = _fp(_ip.__dict__.get("showtraceback", _b.type(_ip).showtraceback))
out["IPython input transformers"] = [_fp(t) for t in (
    *_ip.input_transformers_cleanup, *_ip.input_transformers_post,
    *_ip.input_transformer_manager.cleanup_transforms,
    *_ip.input_transformer_manager.line_transforms,
    *_ip.input_transformer_manager.token_transformers)]
out["IPython AST transformers"] = [_fp(t) for t in _ip.ast_transformers]
# %matplotlib inline registers its own callbacks when pyplot is first used: they are trusted
# by identity with the inline backend's public functions, themselves fingerprinted above
_inline = _sys.modules.get(INLINE_BACKEND)
_trusted = {_b.id(_b.getattr(_inline, _a)) for _a in _b.dir(_inline) if not _a.startswith("_")
            } if _inline is not None else _b.set()
for _name in TRUSTED_CALLBACKS:
    try:
        _trusted.add(_b.id(_resolve(_name, False)))
    except BaseException:
        pass
def _foreign(callback):
    return _b.id(_b.getattr(callback, "__func__", callback)) not in _trusted
out["IPython event callbacks"] = {
    event: [_fp(c) for c in callbacks if _foreign(c)]
    for event, callbacks in _ip.events.callbacks.items()}
out["IPython display hook"] = _fp(_ip.displayhook) + _fp(_b.type(_ip.displayhook).__call__)
out["IPython display formatter"] = _fp(_ip.display_formatter) + _fp(
    _b.type(_ip.display_formatter).format)
out["IPython run_cell"] = _fp(_ip.__dict__.get("run_cell", _b.type(_ip).run_cell))
RESULT = _json.dumps(out, sort_keys=True)
"""


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def sources_key(sources: list[str]) -> str:
    """A digest of the setup and test cells' sources: which notebook a list of names is for.

    The grader works out the probed names once per notebook of an assignment and hands them
    to each grading program under this key (a program whose cells differ works them out).

    Parameters
    ----------
    sources : list of str
        As for :func:`probed_names`.

    Returns
    -------
    str
        A hex SHA-256 digest.
    """
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()


def probed_names(sources: list[str]) -> list[str]:
    """The dotted names the probe fingerprints for a notebook's setup and test cells.

    Parameters
    ----------
    sources : list of str
        The sources of the cells the student cannot change (setup and tests), in order.

    Returns
    -------
    list of str
        Module-qualified names (``numpy.testing.assert_allclose``, ``builtins.len``),
        sorted, :data:`ALWAYS` included.
    """
    return list(_probed_names(tuple(sources)))


@functools.lru_cache(maxsize=16)
def _probed_names(sources: tuple[str, ...]) -> tuple[str, ...]:
    aliases: dict[str, str] = {}
    names = set(ALWAYS)
    builtin_names = set(vars(builtins))
    trees = []
    for source in sources:
        try:
            trees.append(parse_cell(source))
        except (SyntaxError, ValueError):
            continue
    for tree in trees:  # imports first: a test may use a name a later setup cell imports
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        aliases[root] = root
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute | ast.Name) and isinstance(
                getattr(node, "ctx", None), ast.Load
            ):
                dotted = _dotted(node)
                if dotted is None:
                    continue
                root, _, rest = dotted.partition(".")
                if root in aliases:
                    full = aliases[root] + ("." + rest if rest else "")
                    if full.split(".")[0] in _ROOTS:
                        names.add(full)
                elif isinstance(node, ast.Name) and root in builtin_names:
                    names.add(f"builtins.{root}")
    # a name such as np.random.default_rng(...).normal: keep only the chain up to calls
    return tuple(sorted(names))


def probe_expression(names: list[str], modules: list[str], *, load: bool) -> str:
    """The user expression that runs the probe in the kernel and returns its JSON.

    Parameters
    ----------
    names : list of str
        From :func:`probed_names`.
    modules : list of str
        Modules whose public functions are all fingerprinted (:data:`PROBED_MODULES`).
    load : bool
        Import the modules the names live in (the first probe, before student code runs,
        so that no student code can patch a module before it is first fingerprinted).

    Returns
    -------
    str
        A Python expression (for ``user_expressions``).
    """
    code = _PROBE_CODE.replace("NAMES", repr(list(names)), 1)
    code = code.replace("MODULES", repr(list(modules)), 1).replace("LOAD", repr(load), 2)
    code = code.replace("INLINE_BACKEND", repr(INLINE_BACKEND), 1)
    code = code.replace("TRUSTED_CALLBACKS", repr(TRUSTED_CALLBACKS), 1)
    return f"(lambda ns: (exec({code!r}, ns), ns['RESULT'])[1])({{}})"


def parse_reply(reply: dict) -> dict | None:
    """The fingerprints from the probe's execute reply, or ``None`` when it failed.

    Parameters
    ----------
    reply : dict
        The execute reply message.

    Returns
    -------
    dict or None
        Name to fingerprint.
    """
    content = reply.get("content", {})
    if content.get("status") != "ok":
        return None
    value = content.get("user_expressions", {}).get("probe", {})
    if value.get("status") != "ok":
        return None
    try:
        return json.loads(ast.literal_eval(value["data"]["text/plain"]))
    except (KeyError, ValueError, SyntaxError):
        return None


def compare(reference: dict, current: dict | None) -> list[str]:
    """What changed since the reference fingerprints were taken.

    Parameters
    ----------
    reference : dict
        The first probe's answer.
    current : dict or None
        This probe's answer (``None``: the probe itself failed).

    Returns
    -------
    list of str
        The names whose fingerprint differs (empty when nothing changed).
    """
    if current is None:
        return ["the integrity probe (it did not answer)"]
    changed = []
    for name, value in reference.items():
        if value == "absent":
            continue  # not there before student code ran: nothing to compare
        if current.get(name) != value:
            changed.append(name)
    return sorted(changed)


#: Run in the kernel by ``exec`` (namespace of its own): drop the cached sources that hold a
#: hidden line, and answer the signatures of the entries that stay.
_FORGET_CODE = r"""
import builtins as _b
_hashlib = _b.__import__("hashlib")
_linecache = _b.__import__("linecache")
_kept = []
for _key, _entry in _b.list(_linecache.cache.items()):
    _lines = _entry[2] if _b.len(_entry) > 2 else []
    _signature = _b.hash((_key, _b.tuple(_lines)))
    if _signature in SEEN:  # unchanged since the last time: it was there before this test ran
        _kept.append(_signature)
    elif _b.any(_hashlib.sha256(_line.strip().encode()).hexdigest() in DIGESTS for _line in _lines):
        _linecache.cache.pop(_key, None)
    else:
        _kept.append(_signature)
RESULT = _b.repr(_kept)
"""


def forget_expression(
    secret_lines: list[str], seen: set[int] | frozenset[int] = frozenset()
) -> str:
    """The user expression that removes a hidden test's source from IPython's cache of cells.

    IPython keeps the source of every cell it ran in ``linecache`` (for tracebacks), history
    or not; a later cell could read a hidden test there. The expression names the lines only
    by their SHA-256, and as a user expression it is evaluated without being cached itself.

    Only entries that are new or changed since the last call are read line by line: an entry
    whose signature (its key and lines, hashed in the kernel) the last call kept was in the
    cache before this test ran, so it cannot hold this test's hidden lines. With Keras
    imported the cache holds library files of some 100,000 lines, which would otherwise be
    hashed after every test cell.

    Parameters
    ----------
    secret_lines : list of str
        The hidden test's lines.
    seen : set of int, optional
        What :func:`parse_forget_reply` returned for the last call (empty: read everything).

    Returns
    -------
    str
        A Python expression (for ``user_expressions``) to evaluate right after the test cell.
    """
    import hashlib

    digests = sorted({hashlib.sha256(line.strip().encode()).hexdigest() for line in secret_lines})
    code = _FORGET_CODE.replace("SEEN", repr(frozenset(seen)), 1)
    code = code.replace("DIGESTS", repr(frozenset(digests)), 1)
    return f"(lambda ns: (exec({code!r}, ns), ns['RESULT'])[1])({{}})"


def parse_forget_reply(reply: dict | None, name: str = "forget") -> set[int]:
    """The signatures of the cached sources that stayed, from the forget expression's reply.

    Parameters
    ----------
    reply : dict or None
        The execute reply message (``None``: no reply).
    name : str, optional
        The key of the expression in ``user_expressions``.

    Returns
    -------
    set of int
        Empty when the expression failed: the next call then reads every entry again.
    """
    content = (reply or {}).get("content", {})
    value = content.get("user_expressions", {}).get(name, {})
    if content.get("status") != "ok" or value.get("status") != "ok":
        return set()
    try:
        kept = ast.literal_eval(ast.literal_eval(value["data"]["text/plain"]))
    except (KeyError, ValueError, SyntaxError, TypeError):
        return set()
    return {item for item in kept if isinstance(item, int)} if isinstance(kept, list) else set()
