"""The core of the self-checks: the error, messages, and running a student's own code.

:class:`SelfCheckError` carries a message in two parts, what is wrong and a ``Hint:``.
:func:`call_own_code` runs a student's function while watching that it does not call the
library code the exercise asks them to write. The helpers that read models (their layers,
whether they are built) are shared by the topic modules of :mod:`labcore.checks`.
"""

from __future__ import annotations

import re

import numpy as np


class SelfCheckError(AssertionError):
    """A self-check found a mistake. The message says what is wrong and ends with a hint."""


def _fail(problem: str, hint: str):
    raise SelfCheckError(f"{problem}\nHint: {hint}")


def _passed(message: str) -> None:
    print(f"✓ {message}")  # standard output: nbgrader scores standard error as a failure


def _as_array(values, name: str) -> np.ndarray:
    """NumPy view of an array or tensor; a friendly error for anything else."""
    if hasattr(values, "element_spec") or (hasattr(values, "take") and hasattr(values, "batch")):
        _fail(
            f"{name} is a dataset ({type(values).__name__}), not an array of values.",
            "check one batch instead, e.g. take the images of the first batch of the dataset.",
        )
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        _fail(
            f"{name} cannot be read as an array ({error}).",
            "pass a NumPy array (or a tensor) of numbers.",
        )
    if array.dtype == object:
        _fail(
            f"{name} is not an array of numbers (it holds Python objects, dtype=object).",
            "pieces of different shapes end up as objects; stack equal-sized arrays with np.stack.",
        )
    return array


# --------------------------------------------------------------------------- model checks


def _require_keras_model(model) -> None:
    import keras

    if not isinstance(model, keras.Model):
        _fail(
            f"expected a Keras model, got {type(model).__name__}.",
            "pass the model object itself (the result of keras.Sequential([...]) or "
            "keras.Model(...)).",
        )


def _require_built(model) -> None:
    _require_keras_model(model)
    if not model.built:
        _fail(
            "the model has no weights yet, so its parameters cannot be counted.",
            "start the Sequential list with keras.Input(shape=...), so Keras knows the image "
            "size and creates the weights right away.",
        )


# --------------------------------------------------------------------------- answer checks
#
# The notebooks' test cells call the helpers below. They check what an answer *does*
# (behaviour) and what it *is* (types, layer structure), never the text of the code: a
# comment that names a library, a helper with any name, a functional model instead of a
# Sequential one all pass when the work is right.

#: Library code an "implement it yourself" exercise may not run, by group: a path fragment
#: of the source file and, optionally, a regular expression the function's name must match.
LIBRARY_GROUPS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "labcore.theory": (("labcore/theory.py", None),),
    "labcore.data": (("labcore/data.py", None),),
    "labcore.models": (("labcore/models.py", None),),
    "labcore.training": (("labcore/training.py", None),),
    "labcore.tuning": (("labcore/tuning.py", None),),
    "labcore.transfer": (("labcore/transfer.py", None),),
    "convolution and pooling libraries": (
        ("keras/src/layers/convolutional/", None),
        ("keras/src/layers/pooling/", None),
        ("keras/src/ops/nn.py", r"conv|pool"),
        ("keras/src/backend/", r"conv|pool"),
        ("tensorflow/python/ops/", r"conv|pool"),
        ("scipy/signal/", r"conv|correlat"),
        ("scipy/ndimage/", r"convol|correlat|filter"),
        ("jax/_src/lax/convolution.py", None),
        ("jax/_src/lax/windowed_reductions.py", None),
        ("torch/nn/", r"conv|pool"),
        ("skimage/measure/", r"block_reduce"),
    ),
}

#: What an exercise that asks for a NumPy convolution or pooling may not call.
CONVOLUTION_LIBRARIES = ("labcore.theory", "convolution and pooling libraries")


class LibraryCallError(SelfCheckError):
    """The function under test ran library code that the exercise asks the student to write."""


def _library_matcher(groups):
    rules = []
    for group in groups:
        if group not in LIBRARY_GROUPS:
            raise ValueError(f"unknown library group {group!r}; known: {sorted(LIBRARY_GROUPS)}")
        rules += [
            (group, fragment, re.compile(pattern) if pattern else None)
            for fragment, pattern in LIBRARY_GROUPS[group]
        ]
    verdicts: dict = {}

    def forbidden(code) -> str | None:
        if code not in verdicts:
            path = code.co_filename.replace("\\", "/")
            verdicts[code] = next(
                (
                    f"{code.co_name}() of {group}"
                    for group, fragment, pattern in rules
                    if fragment in path and (pattern is None or pattern.search(code.co_name))
                ),
                None,
            )
        return verdicts[code]

    return forbidden


def call_own_code(function, *args, forbid=CONVOLUTION_LIBRARIES, name=None, **kwargs):
    """Call a student's function and fail if it ran library code it should not use.

    While ``function`` runs, a profile hook watches every Python function call. A call into
    one of the ``forbid`` groups of :data:`LIBRARY_GROUPS` (for example ``labcore.theory``
    or Keras' convolution layers) raises at once, and the check fails even if the student's
    code caught that error. Helpers with any name, comments and imports are all fine: only
    what actually runs counts.

    Parameters
    ----------
    function : callable
        The student's function.
    *args, **kwargs
        Its arguments.
    forbid : tuple of str, default=CONVOLUTION_LIBRARIES
        Keys of :data:`LIBRARY_GROUPS`.
    name : str, optional
        How messages refer to the function (default: its ``__name__``).

    Returns
    -------
    object
        What ``function`` returned.

    Raises
    ------
    LibraryCallError
        If a forbidden library function ran (or the function removed the watch).
    """
    import sys

    label = name or getattr(function, "__name__", "your function")
    forbidden = _library_matcher(forbid)
    used: list[str] = []

    def watch(frame, event, arg):
        if event == "call":
            found = forbidden(frame.f_code)
            if found:
                used.append(found)
                raise LibraryCallError(f"{label} called {found}")

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = function(*args, **kwargs)
    except LibraryCallError:
        result = None
    finally:
        still_watched = sys.getprofile() is watch or bool(used)
        sys.setprofile(previous)
    if used:
        _fail(
            f"{label} called {used[0]}: this exercise asks you to compute it yourself.",
            "write the computation with NumPy (loops, slicing, np.sum, np.tensordot, ...); "
            "library versions are for later notebooks.",
        )
    if not still_watched:
        _fail(
            f"{label} switched off the check that watches which functions it calls.",
            "leave sys.setprofile alone inside your function.",
        )
    return result


def whole_number(value, name: str = "value") -> int:
    """``value`` as a plain ``int`` if it is a whole number by type, else a clear failure.

    Accepts Python ``int`` and NumPy integers (not ``bool``, not floats, not other
    subclasses of ``int``: an object that claims to equal everything is not a number).

    Parameters
    ----------
    value : object
        The student's value.
    name : str, default="value"
        How the message refers to it.

    Returns
    -------
    int

    Raises
    ------
    SelfCheckError
        If ``value`` is not a whole number by type.

    Examples
    --------
    >>> whole_number(np.int64(7), "CONV1_PARAMS")
    7
    """
    kind = type(value)
    numpy_integer = issubclass(kind, np.integer) and kind.__module__ == "numpy"
    if kind is not int and not numpy_integer:
        floating = kind is float or (issubclass(kind, np.floating) and kind.__module__ == "numpy")
        _fail(
            f"{name} should be a whole number (int), got a {kind.__name__}.",
            "integer arithmetic (*, +, //) on ints gives an int; `/` gives a float."
            if floating
            else "write the number (or the arithmetic that gives it) with plain ints.",
        )
    return int(value)


def check_count(value, expected: int, name: str) -> None:
    """Check a whole number the student computed (a parameter count, a size, ...).

    Parameters
    ----------
    value : object
        The student's value (must be a whole number by type, see :func:`whole_number`).
    expected : int
        The right value; never shown.
    name : str
        How the message refers to it.

    Raises
    ------
    SelfCheckError
        If ``value`` is no whole number or differs from ``expected``.
    """
    number = whole_number(value, name)
    if number != int(expected):
        _fail(
            f"{name} = {number:,} is too {'large' if number > int(expected) else 'small'}.",
            "recount step by step: weights per filter or unit, times filters or units, plus "
            "one bias each; follow the shapes layer by layer.",
        )
    _passed(f"{name} is right ({number:,})")


# ------------------------------------------------------------------ models, by structure


def model_layers(model) -> list:
    """The layers of a Keras model that compute something, in order.

    ``keras.Input`` makes an ``InputLayer`` that a functional model lists among its layers
    and a Sequential model does not; leaving it out lets both be checked alike. Nested
    models (a Sequential inside a model) are expanded.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of keras.layers.Layer
    """
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            found += model_layers(layer)
        else:
            found.append(layer)
    return found


def all_layers(layer) -> list:
    """A layer and every layer nested inside it (depth first), InputLayers left out."""
    import keras

    found = [] if isinstance(layer, keras.layers.InputLayer) else [layer]
    for inner in getattr(layer, "layers", []):
        found += all_layers(inner)
    return found


#: Layer settings compared by :func:`check_seed_cnn` when the blueprint layer has them.
