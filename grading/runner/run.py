"""``cnnlab run``: execute notebooks headless with papermill, in a profile, with a summary.

How one run works:

* Each notebook runs in its own worker process (``python -m grading.runner.worker``),
  which executes it with :func:`papermill.execute_notebook` in a fresh ``python3`` kernel
  whose working directory is the notebook's folder. Up to ``jobs`` workers run at a time; a
  crash or a hung kernel in one cannot take the others down.
* Parameters go into the notebook's ``parameters``-tagged cell: ``PROFILE`` (the profile)
  and every ``-p NAME VALUE``. The kernel's environment carries ``LABCORE_PROFILE``,
  ``PAPERMILL_EXECUTION=1`` (``labcore.training`` then prints one line per epoch instead of
  a progress bar), ``MPLBACKEND=Agg`` and absolute ``LABCORE_DATA_DIR`` /
  ``LABCORE_DATA_MIRROR`` (the kernel runs in another folder).
* A notebook that runs longer than ``timeout`` seconds (wall clock, kernel start included)
  is stopped: its worker, kernel and anything they started are killed. The same limit is
  papermill's per-cell ``execution_timeout``.
* Results: the executed copy ``<output>/<assignment>/<notebook>.ipynb`` (the assignment
  folder keeps two notebooks with the same name apart), its log ``<notebook>.log`` (cell
  output as it happened), and ``summary.json`` / ``summary.md`` with one row per notebook.

Metrics and device, without asking notebook authors for anything:

* **Metrics** are whatever the notebook recorded with :func:`labcore.runtime.record`: the
  runner collects every output with the mimetype :data:`labcore.runtime.METRICS_MIMETYPE`
  from the executed notebook (a later value of the same name wins).
* **Backend and device** come from the notebook's own kernel: after the last cell (also
  after a failing one, while the kernel still runs) the runner executes one extra cell,
  tagged ``cnnlab-runner``, that displays :func:`labcore.runtime.device_info` under
  :data:`grading.runner.results.RUNTIME_MIMETYPE`. It asks only when the notebook
  imported Keras, so a notebook that never touches Keras stays light (its backend and
  device are reported as ``-``).
  The runner process itself never imports TensorFlow or JAX.

The result types and the readers of an executed notebook are in
:mod:`grading.runner.results`, the summary files in :mod:`grading.runner.summary`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from grading.autograde.processes import kill_process_tree
from grading.errors import BadInput
from grading.options import add_run_arguments as add_arguments
from grading.paths import CoursePaths, course_paths, find_notebooks
from grading.runner.results import (
    STATUS_FAILED,
    STATUS_TIMEOUT,
    CellError,
    NotebookResult,
    collect_metrics,
    find_error_cell,
    runtime_report,
)
from grading.runner.summary import RunSummary, earlier_results
from labcore.datastore import DATA_DIR_ENV, MIRROR_ENV
from labcore.profile import PROFILE_ENV, PROFILE_NAMES

__all__ = [
    "add_arguments",
    "kernel_environment",
    "main",
    "parse_parameter_value",
    "run_notebooks",
]
# --------------------------------------------------------------------------- inputs


def parse_parameter_value(text: str):
    """Turn a ``-p NAME VALUE`` value into a Python value, as papermill's own ``-p`` does.

    Parameters
    ----------
    text : str
        The value as typed on the command line.

    Returns
    -------
    bool, None, int, float or str
        ``True``/``False``/``None`` (also JSON's ``true``/``false``/``null``), an int, a
        float, else the text unchanged.

    Examples
    --------
    >>> parse_parameter_value("3"), parse_parameter_value("0.5"), parse_parameter_value("x")
    (3, 0.5, 'x')
    """
    literals = {"True": True, "true": True, "False": False, "false": False}
    literals |= {"None": None, "null": None}
    if text in literals:
        return literals[text]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _run_name(notebook: Path) -> str:
    return f"{notebook.parent.name}/{notebook.stem}"


def kernel_environment(profile: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a notebook's kernel runs with.

    Parameters
    ----------
    profile : str
        The profile, set as ``LABCORE_PROFILE``.
    extra : mapping, optional
        More variables, e.g. ``{"KERAS_BACKEND": "jax"}``; they win over this process's
        environment.

    Returns
    -------
    dict
        This process's environment plus ``LABCORE_PROFILE``, ``PAPERMILL_EXECUTION=1`` and
        ``MPLBACKEND=Agg``, with ``LABCORE_DATA_DIR`` and ``LABCORE_DATA_MIRROR`` made
        absolute (kernels run in the notebook's folder, not here).
    """
    env = dict(os.environ)
    env.update(extra or {})
    env[PROFILE_ENV] = profile
    env["PAPERMILL_EXECUTION"] = "1"
    env["MPLBACKEND"] = "Agg"
    for name in (DATA_DIR_ENV, MIRROR_ENV):
        if env.get(name):
            env[name] = str(Path(env[name]).expanduser().resolve())
    return env


# --------------------------------------------------------------------------- the runner


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _display_path(path: Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(root))
    return str(path)


def _execute_one(
    notebook: Path,
    *,
    name: str,
    profile: str,
    parameters: dict[str, object],
    timeout: float | None,
    output_dir: Path,
    env: dict[str, str],
    root: Path,
    stop: threading.Event,
) -> NotebookResult:
    """Run one notebook in a worker process and read back its result."""
    executed = output_dir / f"{name}.ipynb"
    log_path = output_dir / f"{name}.log"
    executed.parent.mkdir(parents=True, exist_ok=True)
    executed.unlink(missing_ok=True)
    result = NotebookResult(
        name=name,
        notebook=_display_path(notebook, root),
        status=STATUS_FAILED,
        seconds=0.0,
        profile=profile,
        executed=str(executed),
        log=str(log_path),
        started=_now(),
    )
    with tempfile.TemporaryDirectory(prefix="cnnlab-run-") as scratch:
        spec_path, result_path = Path(scratch) / "spec.json", Path(scratch) / "result.json"
        spec = {
            "input": str(notebook),
            "output": str(executed),
            "cwd": str(notebook.parent),
            "parameters": parameters,
            "cell_timeout": math.ceil(timeout) if timeout else None,
            "connection_file": str(Path(scratch) / "kernel.json"),
        }
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [sys.executable, "-m", "grading.runner.worker", spec_path, result_path]
        start = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            worker = subprocess.Popen(
                [str(part) for part in command], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                while worker.poll() is None:
                    elapsed = time.monotonic() - start
                    if stop.is_set() or (timeout and elapsed > timeout):
                        break
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        worker.wait(timeout=0.2)
            finally:
                timed_out = worker.poll() is None
                if timed_out:
                    kill_process_tree(worker.pid)
                    worker.wait()
        result.seconds = round(time.monotonic() - start, 1)
        result.finished = _now()
        if timed_out:
            limit = (
                f"stopped after {timeout:g} s (--notebook-timeout)" if timeout else "interrupted"
            )
            outcome = {"status": STATUS_TIMEOUT, "ename": "Timeout", "evalue": limit}
        elif result_path.is_file():
            outcome = json.loads(result_path.read_text(encoding="utf-8"))
        else:
            outcome = {
                "status": STATUS_FAILED,
                "ename": "WorkerError",
                "evalue": f"the runner's worker exited with code {worker.returncode}",
            }
    result.status = outcome["status"]
    if not result.ok:
        result.message = f"{outcome['ename']}: {outcome['evalue']}"
        result.error = CellError(ename=outcome["ename"], evalue=outcome["evalue"])
    _read_executed(result, executed)
    return result


def _read_executed(result: NotebookResult, executed: Path) -> None:
    """Fill metrics, backend, device and the failing cell from the executed notebook."""
    try:
        notebook = nbformat.read(executed, as_version=4)
    except Exception:  # none written (the kernel did not start), or half-written when killed
        return
    result.metrics = collect_metrics(notebook)
    report = runtime_report(notebook)
    result.backend = report.get("backend")
    result.device = report.get("device")
    result.device_name = report.get("device_name")
    cell = find_error_cell(notebook) if not result.ok else None
    if cell is not None:
        if result.status == STATUS_TIMEOUT or not cell.ename:  # stopped, not raised
            cell.ename, cell.evalue = result.error.ename, result.error.evalue
        result.error = cell


def run_notebooks(
    notebooks: Iterable[str | Path] | None = None,
    profile: str = "full",
    parameters: Mapping[str, object] | None = None,
    jobs: int = 1,
    timeout: float | None = None,
    output_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    paths: CoursePaths | None = None,
    progress: bool = True,
) -> RunSummary:
    """Execute notebooks with papermill, each in its own kernel, and write a summary.

    Parameters
    ----------
    notebooks : iterable of str or pathlib.Path, optional
        Notebook files, folders or assignment names (``"02_mnist"``); default every source
        notebook of the course.
    profile : {"smoke", "grade", "full"}, default="full"
        Run profile, passed as the ``PROFILE`` parameter and as ``LABCORE_PROFILE``.
    parameters : mapping, optional
        More papermill parameters (``-p NAME VALUE``); ``PROFILE`` is set by ``profile``.
    jobs : int, default=1
        How many notebooks run at the same time.
    timeout : float, optional
        Seconds one notebook may take (wall clock, kernel start included; also the
        per-cell limit). A notebook over the limit is stopped and reported as
        ``"timeout"``. Default: no limit.
    output_dir : str or pathlib.Path, optional
        Where executed notebooks, logs and the summary go; default ``build/executed``.
    env : mapping, optional
        Extra environment variables for the kernels, e.g. ``{"KERAS_BACKEND": "jax"}``.
    paths : CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    progress : bool, default=True
        Print a line per notebook as it starts and finishes (and a bar over notebooks).

    Returns
    -------
    RunSummary
        One result per notebook; ``summary.json`` and ``summary.md`` are written.

    Raises
    ------
    ValueError
        If the profile, ``jobs``, ``timeout`` or a parameter is invalid, or two notebooks
        would write the same executed copy.
    FileNotFoundError
        If a notebook or assignment does not exist.
    """
    from tqdm import tqdm

    if profile not in PROFILE_NAMES:
        raise BadInput(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    if not isinstance(jobs, int) or jobs < 1:
        raise BadInput(f"jobs must be a positive integer, got {jobs!r}.")
    if timeout is not None and timeout <= 0:
        raise BadInput(f"timeout must be a positive number of seconds, got {timeout!r}.")
    parameters = dict(parameters or {})
    if "PROFILE" in parameters:
        raise BadInput(
            "Set the profile with profile=/--profile, not as the PROFILE parameter "
            f"(got PROFILE={parameters['PROFILE']!r})."
        )
    try:
        json.dumps(parameters)
    except TypeError as error:
        raise BadInput(f"Parameters must be plain JSON values: {error}") from None
    paths = paths or course_paths()
    files = find_notebooks(notebooks, paths)
    names: dict[str, Path] = {}
    for notebook in files:
        name = _run_name(notebook)
        if name in names:
            raise BadInput(
                f"{names[name]} and {notebook} would both be written as {name}.ipynb: "
                "run them separately or give their folders different names."
            )
        names[name] = notebook
    output_dir = Path(output_dir).resolve() if output_dir else paths.executed
    kernel_env = kernel_environment(profile, env)
    stop = threading.Event()
    start = time.monotonic()

    bar = tqdm(
        total=len(files), desc="notebooks", unit="nb", disable=not progress or len(files) < 2
    )

    def say(line: str) -> None:
        if progress:
            bar.write(line)

    def run(name: str, notebook: Path) -> NotebookResult:
        say(f"start   {name}")
        result = _execute_one(
            notebook,
            name=name,
            profile=profile,
            parameters={"PROFILE": profile, **parameters},
            timeout=timeout,
            output_dir=output_dir,
            env=kernel_env,
            root=paths.root,
            stop=stop,
        )
        say(f"{result.status:7} {name} ({result.seconds:.1f} s)")
        bar.update(1)
        return result

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, name, notebook) for name, notebook in names.items()]
        try:
            results = [future.result() for future in futures]
        except BaseException:  # Ctrl-C: stop every worker and its kernel
            stop.set()
            for future in futures:
                future.cancel()
            raise
        finally:
            bar.close()
    summary = RunSummary(
        profile=profile,
        results=results,
        seconds=time.monotonic() - start,
        jobs=jobs,
        output_dir=output_dir,
        earlier=earlier_results(output_dir / "summary.json"),
    )
    summary.write()
    return summary


# --------------------------------------------------------------------------- command line


def _print_failures(summary: RunSummary) -> None:
    for result in summary.failures:
        print(f"\n{result.status.upper()}: {result.notebook}", file=sys.stderr)
        error = result.error
        if error is not None and (error.cell_index is not None or error.first_line):
            print(f"  {error.cell_label()}", file=sys.stderr)
        print(f"  {result.message}", file=sys.stderr)
        print(f"  executed copy: {result.executed}\n  log: {result.log}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab run``.

    Returns 0 when every notebook succeeded, 1 when one failed or timed out. Bad input (exit
    status 2) is raised for :mod:`grading.cli`.
    """
    parameters = {name: parse_parameter_value(value) for name, value in args.parameter}
    summary = run_notebooks(
        args.notebooks,
        profile=args.profile,
        parameters=parameters,
        jobs=args.jobs,
        timeout=args.notebook_timeout,
        output_dir=args.output,
    )
    print()
    print(summary.to_markdown())
    print(f"executed notebooks: {summary.output_dir}")
    print(f"summary: {summary.json_path} and {summary.markdown_path}")
    _print_failures(summary)
    return 0 if summary.ok else 1
