"""What every benchmark in ``bench/`` shares: timing, fresh processes, machine facts, output.

The benchmark scripts import this module by name (``python bench/<script>.py`` puts
``bench/`` first on ``sys.path``). Conventions:

* Progress goes to standard output as plain lines; the **last line** a script prints is one
  JSON object with its figures (:func:`emit`), so a script's result can be read with
  ``tail -n 1``.
* A measurement that includes the start of Python runs in a **fresh process**
  (:func:`run_fresh`), whose own last line is a JSON object too.
* Repeated measurements are summarised as min / median / max (:func:`spread`): these
  machines are noisy.
* Before a measurement that is meant to be reported, :func:`wait_until_quiet` waits for the
  machine to be idle and records the load it measured under.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import psutil

__all__ = [
    "REPO_ROOT",
    "BenchmarkError",
    "emit",
    "last_json_line",
    "load_snapshot",
    "machine_info",
    "run_fresh",
    "script_command",
    "script_main",
    "seconds_since_process_start",
    "spread",
    "wait_until_quiet",
]

#: The checkout the benchmarks belong to (the folder above ``bench/``).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Words in a command line that mean "someone else is computing" (tests, kernels, training).
BUSY_WORDS = ("pytest", "ipykernel", "papermill", "nbgrader", "grade_in_sandbox", "bench/")


class BenchmarkError(RuntimeError):
    """A benchmark could not produce its figures (a run failed or printed no result)."""


def seconds_since_process_start() -> float:
    """Wall-clock seconds since the operating system started this process.

    Counts everything: the interpreter's start, imports, data loading. (The process start
    time comes from the kernel's process table via ``psutil``, with a resolution of about
    10 ms.)

    Returns
    -------
    float
        Seconds since this process was created.
    """
    return time.time() - psutil.Process().create_time()


def spread(values: Sequence[float | None], digits: int = 3) -> dict[str, float | int | None]:
    """Min, median and max of repeated measurements (``None`` entries are counted apart).

    Parameters
    ----------
    values : sequence of float or None
        One figure per run; ``None`` for a run where the figure does not exist (a target
        not reached, say).
    digits : int, default=3
        Decimals to round to.

    Returns
    -------
    dict
        ``min``, ``median``, ``max`` (None when no run has a value), ``runs`` (all runs)
        and ``missing`` (runs without a value).

    Examples
    --------
    >>> spread([3.0, 1.0, None, 2.0])
    {'min': 1.0, 'median': 2.0, 'max': 3.0, 'runs': 4, 'missing': 1}
    """
    present = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    summary: dict[str, float | int | None] = {"min": None, "median": None, "max": None}
    if present:
        summary = {
            "min": round(min(present), digits),
            "median": round(statistics.median(present), digits),
            "max": round(max(present), digits),
        }
    summary["runs"] = len(values)
    summary["missing"] = len(values) - len(present)
    return summary


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(packages: Sequence[str] = ("tensorflow-cpu", "keras", "jax", "nbgrader")) -> dict:
    """Facts about the machine and the libraries, for the record beside the figures.

    Parameters
    ----------
    packages : sequence of str
        Distributions whose installed versions to list (missing ones are left out).

    Returns
    -------
    dict
        ``cpu`` (model name), ``cores`` (logical CPUs), ``ram_gb``, ``python``,
        ``platform`` and ``versions`` (``{package: version}``).
    """
    versions = {name: _version(name) for name in packages}
    if versions.get("tensorflow-cpu") is None and "tensorflow-cpu" in packages:
        versions["tensorflow"] = _version("tensorflow")
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "versions": {name: version for name, version in versions.items() if version},
    }


def load_snapshot(busy_words: Sequence[str] = BUSY_WORDS) -> dict:
    """The machine's load now: load averages and other processes that are computing.

    Parameters
    ----------
    busy_words : sequence of str
        A process whose command line contains one of these words, and that is not this
        process or one of its ancestors or children, counts as competing work.

    Returns
    -------
    dict
        ``load_1m``, ``load_5m``, ``load_15m`` and ``busy`` (a list of short descriptions of
        competing processes: pid, CPU share over 0.2 s and the start of the command line).
    """
    me = psutil.Process()
    related = {me.pid, *(p.pid for p in me.parents()), *(p.pid for p in me.children(True))}
    candidates = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if process.info["pid"] in related or not any(word in command for word in busy_words):
            continue
        try:
            process.cpu_percent(None)
            candidates.append((process, command))
        except psutil.Error:
            continue
    time.sleep(0.2)
    busy = []
    for process, command in candidates:
        try:
            share = process.cpu_percent(None)
        except psutil.Error:
            continue
        busy.append(f"{process.pid} {share:.0f}% {command[:100]}")
    one, five, fifteen = os.getloadavg()
    return {
        "load_1m": round(one, 2),
        "load_5m": round(five, 2),
        "load_15m": round(fifteen, 2),
        "busy": busy,
    }


def wait_until_quiet(
    max_load: float = 1.0,
    max_wait_s: float = 3600.0,
    poll_s: float = 60.0,
    busy_words: Sequence[str] = BUSY_WORDS,
) -> dict:
    """Wait until the machine is idle enough to measure on, or until time runs out.

    Quiet means: 1-minute load average below ``max_load`` and no other process whose
    command line holds one of ``busy_words``. Progress is printed; the function never
    raises for a busy machine, it returns what it saw so the figures can say so.

    Parameters
    ----------
    max_load : float, default=1.0
        Highest acceptable 1-minute load average.
    max_wait_s : float, default=3600
        Give up waiting after this many seconds (0: check once).
    poll_s : float, default=60
        Seconds between checks.
    busy_words : sequence of str
        See :func:`load_snapshot`.

    Returns
    -------
    dict
        The last :func:`load_snapshot`, plus ``quiet`` (bool) and ``waited_s``.
    """
    start = time.monotonic()
    while True:
        snapshot = load_snapshot(busy_words)
        quiet = snapshot["load_1m"] < max_load and not snapshot["busy"]
        waited = time.monotonic() - start
        if quiet or waited >= max_wait_s:
            if not quiet:
                print(
                    f"machine still busy after {waited:.0f} s (load {snapshot['load_1m']}, "
                    f"{len(snapshot['busy'])} competing processes): measuring anyway",
                    flush=True,
                )
            return {**snapshot, "quiet": quiet, "waited_s": round(waited, 1)}
        print(
            f"waiting for a quiet machine: load {snapshot['load_1m']}, competing: "
            f"{snapshot['busy'][:3]}",
            flush=True,
        )
        time.sleep(min(poll_s, max(max_wait_s - waited, 1.0)))


def emit(figures: Mapping) -> None:
    """Print the figures as the script's last line: one JSON object.

    Parameters
    ----------
    figures : mapping
        JSON-serialisable figures (NaN is written as ``null``).
    """
    print(json.dumps(_json_safe(figures), sort_keys=False), flush=True)


def _json_safe(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _json_safe(value.item())
    return value


def last_json_line(text: str) -> dict:
    """The JSON object on the last non-empty line of a script's output.

    Parameters
    ----------
    text : str
        Everything the script printed to standard output.

    Returns
    -------
    dict
        The decoded object.

    Raises
    ------
    BenchmarkError
        If the last non-empty line is not a JSON object.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise BenchmarkError("the run printed nothing; expected a JSON line at the end")
    try:
        value = json.loads(lines[-1])
    except json.JSONDecodeError as error:
        raise BenchmarkError(
            f"the run's last line is not JSON ({error}): {lines[-1][:200]!r}"
        ) from error
    if not isinstance(value, dict):
        raise BenchmarkError(f"the run's last line is JSON but not an object: {lines[-1][:200]!r}")
    return value


def run_fresh(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    prefix: str = "  | ",
    timeout_s: float | None = None,
    cwd: Path = REPO_ROOT,
) -> dict:
    """Run a command in a fresh process, echo its output, return its last-line JSON.

    Parameters
    ----------
    args : sequence of str
        The command, e.g. ``[sys.executable, "bench/mnist_speed.py", "--worker", "fast"]``.
    env : mapping, optional
        Variables to set on top of this process's environment.
    prefix : str, default="  | "
        Put before every echoed line, so a child's progress reads apart from the parent's.
    timeout_s : float, optional
        Kill the process after this many seconds.
    cwd : pathlib.Path
        Working directory (default: the checkout).

    Returns
    -------
    dict
        The child's last-line JSON object, plus ``process_wall_s``: seconds from starting
        the child until it exited, measured by this process.

    Raises
    ------
    BenchmarkError
        If the command exits non-zero, runs over ``timeout_s``, or prints no JSON line.
    """
    environment = {**os.environ, **(env or {})}
    start = time.perf_counter()
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            lines.append(line)
            print(prefix + line.rstrip("\n"), flush=True)
            if timeout_s is not None and time.perf_counter() - start > timeout_s:
                process.kill()
                raise BenchmarkError(f"{' '.join(args)} ran over {timeout_s:.0f} s")
        status = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    elapsed = time.perf_counter() - start
    if status != 0:
        raise BenchmarkError(f"{' '.join(map(str, args))} exited with status {status}")
    result = last_json_line("".join(lines))
    result["process_wall_s"] = round(elapsed, 3)
    return result


def script_command(script: str, *args: str) -> list[str]:
    """The command line that runs another benchmark script with this Python.

    Parameters
    ----------
    script : str
        File name inside ``bench/``.
    *args : str
        Its arguments.

    Returns
    -------
    list of str
        ``[sys.executable, <absolute path of the script>, *args]``.
    """
    return [sys.executable, str(Path(__file__).resolve().parent / script), *args]


def script_main(
    parser,
    measure: Callable[[object], dict],
    summarise: Callable[[dict], None],
    argv: Sequence[str] | None = None,
    *,
    worker: Callable[[object], dict | None] | None = None,
    succeeded: Callable[[dict], bool] | None = None,
) -> int:
    """What every benchmark's ``main`` does: parse, measure (or be a worker), print, emit.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's command line.
    measure : callable
        ``measure(args) -> figures``: the whole benchmark (the parent's work). It raises
        ``SystemExit`` with a message for bad arguments.
    summarise : callable
        ``summarise(figures)``: prints the figures for people.
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).
    worker : callable, optional
        ``worker(args) -> figures or None``: when it returns figures, this process was one
        measurement started by :func:`run_fresh`; they are emitted and nothing else runs.
    succeeded : callable, optional
        ``succeeded(figures) -> bool``; False gives exit status 1 (after the JSON line).

    Returns
    -------
    int
        The exit status.
    """
    args = parser.parse_args(argv)
    if worker is not None:
        figures = worker(args)
        if figures is not None:
            emit(figures)
            return 0
    figures = measure(args)
    summarise(figures)
    emit(figures)
    return 0 if succeeded is None or succeeded(figures) else 1
