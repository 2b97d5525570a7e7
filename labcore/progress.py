"""Training progress: a progress bar where someone watches, one line per epoch elsewhere.

:func:`labcore.training.fit` asks :func:`progress_mode` how to show progress and adds an
:class:`EpochLogger` that times each epoch, notes its learning rate and prints the lines. An
updating progress bar redraws itself with carriage returns, which in a notebook executed by
papermill or nbgrader (or in a log file) turns into hundreds of lines of output; one plain
line per epoch reads well everywhere. Everything is printed to standard output; nothing goes
to standard error (nbgrader scores a test cell that writes to standard error as failed).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

import numpy as np

from labcore.profile import NBGRADER_ENV
from labcore.runtime import quiet_import_keras

__all__ = [
    "PAPERMILL_ENV",
    "PROGRESS_ENV",
    "PROGRESS_MODES",
    "EpochLogger",
    "ordered_results",
    "progress_mode",
    "resolve_verbose",
]

keras = quiet_import_keras()

#: Environment variable that chooses the progress display: ``bar``, ``lines`` or ``off``.
PROGRESS_ENV = "LABCORE_PROGRESS"
#: Set to ``1`` by the course runner (``cnnlab run``) in the environment of the kernels that
#: papermill starts. Papermill itself sets no environment variable that a kernel could see.
PAPERMILL_ENV = "PAPERMILL_EXECUTION"
#: The progress displays :func:`progress_mode` can choose.
PROGRESS_MODES = ("bar", "lines", "off")

#: Words in the command line of a kernel's parent process that mean "executed, not viewed".
_HEADLESS_RUNNERS = ("papermill", "nbgrader", "nbconvert", "nbclient")


def _in_ipython_kernel() -> bool:
    """True inside a Jupyter kernel (not in a terminal IPython)."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return False
    shell = ipython_module.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _kernel_started_by_headless_runner() -> bool:
    """True when this process' parent is papermill, nbgrader, nbconvert or nbclient."""
    try:
        import psutil

        parent = psutil.Process().parent()
        command_line = " ".join(parent.cmdline()).lower() if parent else ""
    except Exception:  # no permission to read the parent, or psutil not usable here
        return False
    return any(runner in command_line for runner in _HEADLESS_RUNNERS)


def progress_mode() -> str:
    """Decide how training progress is shown here.

    The first rule that applies wins:

    1. ``LABCORE_PROGRESS`` is set to ``bar``, ``lines`` or ``off``: that.
    2. ``NBGRADER_EXECUTION`` (set by nbgrader) or ``PAPERMILL_EXECUTION`` (set to ``1`` by
       ``cnnlab run``; set it yourself when you call papermill directly) is set: ``lines``.
    3. Inside a Jupyter kernel: ``lines`` when the kernel was started by papermill,
       nbgrader, nbconvert or nbclient (its parent process says so), otherwise ``bar``
       (JupyterLab, Notebook, VS Code).
    4. A plain Python process: ``bar`` when standard output is a terminal, ``lines`` when it
       goes to a file or a pipe (scripts, CI logs, pytest).

    Returns
    -------
    str
        ``"bar"`` (Keras' updating progress bar), ``"lines"`` (one line per epoch) or
        ``"off"``.

    Raises
    ------
    ValueError
        If ``LABCORE_PROGRESS`` holds something else.
    """
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen:
        if chosen not in PROGRESS_MODES:
            raise ValueError(
                f"{PROGRESS_ENV}={os.environ[PROGRESS_ENV]!r} is not a progress mode; "
                f"use one of {', '.join(PROGRESS_MODES)} or unset it."
            )
        return chosen
    if os.environ.get(NBGRADER_ENV) or os.environ.get(PAPERMILL_ENV):
        return "lines"
    if _in_ipython_kernel():
        return "lines" if _kernel_started_by_headless_runner() else "bar"
    stdout_is_terminal = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    return "bar" if stdout_is_terminal else "lines"


def resolve_verbose(verbose) -> str:
    """Map ``fit``'s ``verbose`` argument to a progress mode.

    Parameters
    ----------
    verbose : {"auto", 0, 1, 2, "bar", "lines", "off"}
        ``"auto"`` asks :func:`progress_mode`; 0, 1 and 2 are Keras' silent, progress bar
        and one line per epoch.

    Returns
    -------
    str
        ``"bar"``, ``"lines"`` or ``"off"``.

    Raises
    ------
    ValueError
        If ``verbose`` is none of these.
    """
    if verbose == "auto":
        return progress_mode()
    if isinstance(verbose, str) and verbose in PROGRESS_MODES:
        return verbose
    if isinstance(verbose, bool | int) and int(verbose) in (0, 1, 2):
        return ("off", "bar", "lines")[int(verbose)]
    raise ValueError(
        f"verbose must be 'auto', 0 (silent), 1 (progress bar), 2 (one line per epoch) or "
        f"one of {PROGRESS_MODES}, got {verbose!r}"
    )


def _format_value(name: str, value: float) -> str:
    if name == "learning_rate":
        return f"lr {value:.3g}"
    return f"{name} {value:.4f}"


class EpochLogger(keras.callbacks.Callback):
    """Time each epoch, note its learning rate, and optionally print one line per epoch.

    :func:`fit` adds it for you; use it directly with a plain ``model.fit(...,
    verbose=0, callbacks=[EpochLogger()])`` to get the same lines.

    Parameters
    ----------
    print_lines : bool, default=True
        Print ``Epoch 3/10 - 4.1 s - loss 0.1230 - accuracy 0.9600 - val_loss 0.0800 -
        val_accuracy 0.9750 - lr 0.001`` to standard output at the end of each epoch.
    monitor : str or None, default=None
        A name that must appear among the epoch's results (such as ``"val_loss"``); if it
        does not, training stops with an error that lists the names available.

    Attributes
    ----------
    seconds : list of float
        Wall-clock seconds of each epoch (training and validation).
    learning_rates : list of float
        The optimizer's learning rate during each epoch.
    """

    def __init__(self, print_lines: bool = True, monitor: str | None = None):
        super().__init__()
        self.print_lines = print_lines
        self.monitor = monitor
        self.seconds: list[float] = []
        self.learning_rates: list[float] = []
        self._epoch_start = 0.0

    def on_train_begin(self, logs=None):
        self.seconds, self.learning_rates = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        seconds = time.perf_counter() - self._epoch_start
        learning_rate = _current_learning_rate(self.model.optimizer)
        self.seconds.append(seconds)
        self.learning_rates.append(learning_rate)
        if self.monitor is not None and self.monitor not in logs:
            raise ValueError(
                f"monitor={self.monitor!r} is not among this model's epoch results "
                f"{sorted(logs)}. Compile the model with that metric (for example "
                "metrics=['accuracy'] for 'val_accuracy') or monitor 'val_loss'."
            )
        if self.print_lines:
            total = self.params.get("epochs", "?") if self.params else "?"
            logs["learning_rate"] = learning_rate
            parts = [f"Epoch {epoch + 1}/{total}", f"{seconds:.1f} s"]
            parts += [
                _format_value(name, float(value)) for name, value in ordered_results(logs).items()
            ]
            print(" - ".join(parts), flush=True)


def _current_learning_rate(optimizer) -> float:
    """The optimizer's learning rate now, as a Python float."""
    value = optimizer.learning_rate
    if hasattr(value, "numpy"):  # a Keras variable or a TensorFlow tensor
        value = value.numpy()
    return float(np.asarray(value))


def ordered_results(logs: Mapping[str, float]) -> dict[str, float]:
    """Order an epoch's results: training (loss, then metrics), validation, learning rate.

    Parameters
    ----------
    logs : Mapping
        Result names (``loss``, ``val_accuracy``, ``learning_rate``, ...) and their values.

    Returns
    -------
    dict
        The same items in that order; validation results follow the order of the training
        ones.
    """
    names = list(logs)
    training = [n for n in names if not n.startswith("val_") and n != "learning_rate"]
    training.sort(key=lambda n: (n != "loss", names.index(n)))
    validation = [f"val_{n}" for n in training if f"val_{n}" in logs]
    validation += [n for n in names if n.startswith("val_") and n not in validation]
    rest = [n for n in names if n == "learning_rate"]
    return {name: logs[name] for name in training + validation + rest}
