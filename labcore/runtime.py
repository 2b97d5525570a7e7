"""A quiet, reproducible runtime: seeds, log noise, device facts and recorded results.

TensorFlow prints start-up chatter to the process's standard error (a line about absl
logging and one about oneDNN). In a notebook that chatter is a red box; under nbgrader any
standard-error text in a test cell costs the cell its points. :func:`configure_environment`
sets the logging variables before TensorFlow is imported, and :func:`quiet_import_keras`
imports Keras with the remaining start-up lines filtered out (other lines still show).
``import labcore`` runs both inside a notebook kernel, so notebooks only need
``import labcore`` (or ``from labcore import ...``) before ``import keras``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "LOG_NOISE_PATTERN",
    "METRICS_MIMETYPE",
    "Stopwatch",
    "configure_environment",
    "device_info",
    "keras_backend",
    "quiet_import_keras",
    "record",
    "recorded",
    "set_seed",
    "work_dir",
]

#: Output mimetype under which :func:`record` stores a notebook's key results; the runner
#: (``cnnlab run``) reads it back from the executed notebook.
METRICS_MIMETYPE = "application/vnd.cnnlab.metrics+json"

#: TensorFlow's log noise: what TensorFlow, absl and XLA write to standard error on their own
#: (start-up chatter and C++ log lines), as a regular expression that finds such a line. The
#: one definition: :func:`quiet_import_keras` drops these lines, and the grader's nbgrader
#: configuration (``IgnorePattern``) uses it so that they neither cost points nor clutter
#: feedback.
LOG_NOISE_PATTERN = (
    r"(?m)All log messages before absl::InitializeLog\(\) is called"
    r"|^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]"  # absl/glog line prefix
    r"|oneDNN custom operations are on"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions"
    r"|Could not find cuda drivers on your machine"
    r"|(cuda_dnn|cuda_fft|cuda_blas|computation_placer)\.cc"
)
_LOG_NOISE = re.compile(LOG_NOISE_PATTERN)

_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ logging: errors only after start-up
    "GRPC_VERBOSITY": "ERROR",
    "KMP_WARNINGS": "0",
}

_recorded: dict[str, object] = {}


def configure_environment() -> None:
    """Set the environment variables that keep TensorFlow quiet.

    Existing values are kept, so a user who wants TensorFlow's logs can set
    ``TF_CPP_MIN_LOG_LEVEL=0`` before starting Python. Has an effect only before TensorFlow
    is imported.
    """
    for key, value in _ENVIRONMENT.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def _filtered_native_stderr():
    """Send file descriptor 2 to a temporary file; replay all but known start-up noise."""
    try:
        sys.stderr.flush()
        saved_fd = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not _LOG_NOISE.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def quiet_import_keras():
    """Import Keras (and with it its backend) with the backend's start-up noise filtered.

    Returns
    -------
    module
        The ``keras`` module.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    configure_environment()
    with _filtered_native_stderr():
        return importlib.import_module("keras")


def keras_backend() -> str:
    """Name of the Keras backend in use (``"tensorflow"``, ``"jax"``, ``"torch"``).

    Returns
    -------
    str
        The backend, from ``keras.backend.backend()``.
    """
    return quiet_import_keras().backend.backend()


def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy and the Keras backend so runs can be repeated.

    Parameters
    ----------
    seed : int, default=42
        Any non-negative integer. The same seed gives the same initial weights, shuffles and
        dropout masks on the same machine and library versions. (Some GPU kernels stay
        non-deterministic; on the CPU repeated runs match.)
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    quiet_import_keras().utils.set_random_seed(seed)


def _accelerator_name(backend: str) -> str | None:
    """Name of the first GPU the backend sees, or None. Never imports another backend."""
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return getattr(gpus[0], "device_kind", str(gpus[0])) if gpus else None
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        return details.get("device_name", gpus[0].name)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None


def device_info() -> dict[str, str]:
    """Describe where computations run.

    Returns
    -------
    dict
        ``backend`` (Keras backend), ``device`` (``"GPU"`` or ``"CPU"``), ``device_name``
        (GPU model, or the CPU description with its core count).
    """
    backend = keras_backend()
    gpu = _accelerator_name(backend)
    if gpu:
        return {"backend": backend, "device": "GPU", "device_name": gpu}
    cpu = "CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"backend": backend, "device": "CPU", "device_name": f"{cpu} ({os.cpu_count()} cores)"}


def _plain(value):
    """Convert NumPy scalars and similar to plain JSON values."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, int | str | bool) or value is None:
        return value
    return str(value)


def record(**results) -> dict[str, object]:
    """Record a notebook's key results (test accuracy, AUC, seconds, ...).

    The results are shown as one line of text and stored in the cell output under
    :data:`METRICS_MIMETYPE`, where ``cnnlab run`` finds them for its summary.

    Parameters
    ----------
    **results
        Names and plain values (numbers or short strings).

    Returns
    -------
    dict
        All results recorded so far in this process.

    Examples
    --------
    >>> record(test_accuracy=0.9912)  # doctest: +SKIP
    """
    plain = {name: _plain(value) for name, value in results.items()}
    _recorded.update(plain)
    text = ", ".join(f"{name} = {value}" for name, value in plain.items())
    if "IPython" in sys.modules:
        from IPython.display import display

        display({METRICS_MIMETYPE: plain, "text/plain": f"Recorded: {text}"}, raw=True)
    else:
        print(f"Recorded: {text}")
    return dict(_recorded)


def recorded() -> dict[str, object]:
    """Return everything :func:`record` stored in this process.

    Returns
    -------
    dict
        A copy of the recorded results.
    """
    return dict(_recorded)


#: Moves ``build/`` of a course checkout elsewhere: for :func:`work_dir` and every ``cnnlab``
#: command (the one definition; :mod:`grading.paths` imports it as ``BUILD_ENV``).
BUILD_DIR_ENV = "CNNLAB_BUILD_DIR"


def _course_checkout(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``pyproject.toml`` and ``notebooks/``."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return None


def work_dir(*parts: str) -> Path:
    """A folder for the files a notebook writes (checkpoints, tuning results), created if needed.

    A notebook runs with its own folder as the working directory, and that folder is what
    instructors release: a checkpoint written next to a course notebook would be handed out
    with it. So the files go to a ``build/`` folder (git-ignored, never released):

    * inside a course checkout (a folder at or above the working directory that holds
      ``pyproject.toml`` and ``notebooks/``): the checkout's ``build/``, or
      ``CNNLAB_BUILD_DIR`` when that is set, as for every ``cnnlab`` command;
    * anywhere else (your own copy of a released notebook, a grading sandbox): ``build/``
      in the working directory.

    Parameters
    ----------
    *parts : str
        Sub-folders, e.g. ``work_dir("checkpoints")``.

    Returns
    -------
    pathlib.Path
        The folder (absolute); it exists.

    Examples
    --------
    >>> work_dir("tuning") / "tuning_results.csv"  # doctest: +SKIP
    PosixPath('/home/me/cnnlab/build/tuning/tuning_results.csv')
    """
    for part in parts:
        if (
            not isinstance(part, str)
            or not part
            or Path(part).is_absolute()
            or ".." in Path(part).parts
        ):
            raise ValueError(
                f"work_dir parts must be relative folder names such as 'checkpoints', got {part!r}"
            )
    here = Path.cwd().resolve()
    checkout = _course_checkout(here)
    if checkout is None:
        base = here / "build"
    elif os.environ.get(BUILD_DIR_ENV):
        base = Path(os.environ[BUILD_DIR_ENV]).expanduser().resolve()
    else:
        base = checkout / "build"
    folder = base.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Stopwatch:
    """Measure wall-clock seconds of a block: ``with Stopwatch() as watch: ...; watch.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


def _in_ipython_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    return bool(ipython and getattr(ipython, "get_ipython", lambda: None)())


def _startup() -> None:
    """What ``import labcore`` does: quiet environment; in a kernel, a quiet Keras import."""
    configure_environment()
    if _in_ipython_kernel() and importlib.util.find_spec("keras") is not None:
        quiet_import_keras()
