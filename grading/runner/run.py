"""``cnnlab run``: execute notebooks headless with papermill, in a profile, with a summary.

How one run works:

* Each notebook runs in its own worker process (``python -m grading.runner.run --worker``),
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
  :data:`RUNTIME_MIMETYPE`. It asks only when the notebook imported Keras, so a notebook
  that never touches Keras stays light (its backend and device are reported as ``-``).
  The runner process itself never imports TensorFlow or JAX.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger as papermill_logger

from grading.autograde.sandbox import kill_process_tree
from grading.errors import BadInput
from grading.options import add_run_arguments as add_arguments
from grading.paths import CoursePaths, course_paths, find_notebooks
from labcore.data import DATA_DIR_ENV, MIRROR_ENV
from labcore.profile import PROFILE_ENV, PROFILE_NAMES
from labcore.runtime import METRICS_MIMETYPE

__all__ = [
    "RUNTIME_MIMETYPE",
    "CellError",
    "NotebookResult",
    "RunSummary",
    "add_arguments",
    "collect_metrics",
    "earlier_results",
    "find_error_cell",
    "kernel_environment",
    "main",
    "parse_parameter_value",
    "run_notebooks",
]

#: Mimetype of the runner's own report of the kernel's Keras backend and device.
RUNTIME_MIMETYPE = "application/vnd.cnnlab.runtime+json"
#: Tag of the extra cell the runner appends to report backend and device.
RUNNER_TAG = "cnnlab-runner"
#: Kernel every notebook runs in.
KERNEL_NAME = "python3"
#: The papermill engine name the worker registers (papermill's nbclient engine + report).
ENGINE_NAME = "cnnlab"
#: Cells papermill or the runner add to an executed notebook (not in the source notebook).
ADDED_CELL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag", RUNNER_TAG})

STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT = "ok", "failed", "timeout"

# The extra cell: asks the kernel for its backend and device, only if Keras was imported.
RUNTIME_REPORT_SOURCE = f"""\
# Added by cnnlab run: which Keras backend and device this notebook used.
import sys as _sys
from IPython.display import display as _display
if "keras" in _sys.modules:
    from labcore import runtime as _runtime
    _info = _runtime.device_info()
else:
    _info = {{"backend": None, "device": None, "device_name": None}}
_display({{"{RUNTIME_MIMETYPE}": _info, "text/plain": f"cnnlab run: {{_info}}"}}, raw=True)
"""


# --------------------------------------------------------------------------- results


@dataclass
class CellError:
    """Where and why a notebook stopped.

    Attributes
    ----------
    cell_index : int or None
        Index of the cell in the source notebook (``None`` when no cell is to blame, for
        example when the kernel did not start).
    grade_id : str or None
        The cell's nbgrader ``grade_id``, if any.
    tags : list of str
        The cell's tags.
    first_line : str
        The first non-empty line of the cell's source.
    ename, evalue : str
        The exception's name and message (for a timeout: ``"Timeout"`` and the limit).
    """

    cell_index: int | None = None
    grade_id: str | None = None
    tags: list[str] = field(default_factory=list)
    first_line: str = ""
    ename: str = ""
    evalue: str = ""

    def cell_label(self) -> str:
        """Name the cell for a person: ``cell 3 [test_mnist_build_model]: first line``.

        Returns
        -------
        str
            The label; without a cell index, the description in ``first_line`` (such as
            "the parameters injected by papermill") or ``"no cell"``.
        """
        if self.cell_index is None:
            return self.first_line or "no cell"
        name = self.grade_id or ", ".join(self.tags)
        label = f"cell {self.cell_index}" + (f" [{name}]" if name else "")
        return f"{label}: {self.first_line}" if self.first_line else label

    def describe(self) -> str:
        """One line: the cell and the error, such as ``cell 3 [...]: ... -> ValueError: x``.

        Returns
        -------
        str
            The description.
        """
        error = f"{self.ename}: {self.evalue}" if self.evalue else self.ename
        return f"{self.cell_label()} -> {error}"


@dataclass
class NotebookResult:
    """The outcome of executing one notebook.

    Attributes
    ----------
    name : str
        ``<assignment>/<notebook>`` (the folder and the file name without ``.ipynb``).
    notebook : str
        The source notebook (relative to the course root when inside it).
    status : str
        ``"ok"``, ``"failed"`` or ``"timeout"``.
    seconds : float
        Wall-clock time, kernel start included.
    profile : str
        The profile the notebook ran in.
    backend, device, device_name : str or None
        Keras backend, ``"CPU"`` or ``"GPU"``, and the GPU model or CPU description, as the
        notebook's kernel reported them (``None`` when the notebook did not use Keras).
    metrics : dict
        What the notebook recorded with :func:`labcore.runtime.record`.
    error : CellError or None
        Where and why it stopped, for a failure or a timeout.
    message : str
        The error in one line, ``"ename: evalue"`` (empty when the notebook succeeded).
    executed, log : str
        The executed copy and the log of the cell outputs.
    started, finished : str
        ISO 8601 timestamps (UTC) of the start and the end of the run.
    """

    name: str
    notebook: str
    status: str
    seconds: float
    profile: str
    backend: str | None = None
    device: str | None = None
    device_name: str | None = None
    metrics: dict[str, object] = field(default_factory=dict)
    error: CellError | None = None
    message: str = ""
    executed: str = ""
    log: str = ""
    started: str = ""
    finished: str = ""

    @property
    def ok(self) -> bool:
        """Whether the notebook ran to the end without an error."""
        return self.status == STATUS_OK

    def device_label(self) -> str:
        """The device for the summary table: the GPU's name, ``CPU``, or ``-``.

        Returns
        -------
        str
            The label.
        """
        if self.device == "GPU":
            return self.device_name or "GPU"
        return self.device or "-"

    def problem(self) -> str:
        """What went wrong, in one line (empty when the notebook succeeded).

        Returns
        -------
        str
            The failing cell and the error, or the error alone when no cell is to blame.
        """
        if self.ok or self.error is None:
            return self.message
        if self.error.cell_index is None and not self.error.first_line:
            return self.message
        return self.error.describe()


@dataclass
class RunSummary:
    """The results of one ``cnnlab run``.

    Attributes
    ----------
    profile : str
        The profile every notebook ran in.
    results : list of NotebookResult
        One per notebook, in the order they were given.
    seconds : float
        Wall-clock time of the whole run.
    jobs : int
        How many notebooks ran at a time.
    output_dir : pathlib.Path
        Where the executed notebooks and the summary files are.
    earlier : list of NotebookResult
        The latest results of notebooks this run did not run, from the summary already in
        ``output_dir`` (:func:`earlier_results`): a run of some notebooks adds to the summary
        instead of replacing it.
    """

    profile: str
    results: list[NotebookResult]
    seconds: float
    jobs: int
    output_dir: Path
    earlier: list[NotebookResult] = field(default_factory=list)

    @property
    def notebooks(self) -> list[NotebookResult]:
        """Every notebook of the summary, in name order: this run's, and the others' latest."""
        ran_now = {result.name for result in self.results}
        kept = [result for result in self.earlier if result.name not in ran_now]
        return sorted([*self.results, *kept], key=lambda result: result.name)

    @property
    def ok(self) -> bool:
        """Whether every notebook succeeded."""
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> list[NotebookResult]:
        """The notebooks that failed or timed out."""
        return [result for result in self.results if not result.ok]

    @property
    def json_path(self) -> Path:
        """``summary.json`` in the output folder."""
        return self.output_dir / "summary.json"

    @property
    def markdown_path(self) -> Path:
        """``summary.md`` in the output folder."""
        return self.output_dir / "summary.md"

    def to_dict(self) -> dict[str, object]:
        """The summary as plain JSON values.

        Returns
        -------
        dict
            ``profile``, ``seconds`` and ``jobs`` of this run, ``ran`` (the notebooks it
            ran), ``notebooks`` (one dict per notebook of :attr:`notebooks` with the fields
            of :class:`NotebookResult`; ``finished`` says when it ran) and ``ok`` (whether
            every one of them succeeded).
        """
        notebooks = self.notebooks
        return {
            "profile": self.profile,
            "ok": all(result.ok for result in notebooks),
            "seconds": round(self.seconds, 1),
            "jobs": self.jobs,
            "ran": [result.name for result in self.results],
            "notebooks": [asdict(result) for result in notebooks],
        }

    def to_markdown(self) -> str:
        """The summary as a Markdown table, followed by the problems, if any.

        Returns
        -------
        str
            Markdown text.
        """
        lines = [
            f"# cnnlab run: profile `{self.profile}`",
            "",
            "| notebook | status | seconds | profile | backend | device | metrics | ran (UTC) |",
            "|---|---|---:|---|---|---|---|---|",
        ]
        notebooks = self.notebooks
        for result in notebooks:
            metrics = ", ".join(f"{name} = {value}" for name, value in result.metrics.items())
            cells = [
                f"`{result.name}`",
                result.status,
                f"{result.seconds:.1f}",
                result.profile,
                result.backend or "-",
                result.device_label(),
                metrics or "-",
                result.finished[:16].replace("T", " ") or "-",
            ]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        passed = sum(result.ok for result in notebooks)
        outcome = f"{passed} of {len(notebooks)} ok"
        if len(notebooks) > len(self.results):
            outcome += (
                f"; this run: {len(self.results)} notebook(s) in {self.seconds:.1f} s, the "
                "others as they last ran."
            )
        else:
            outcome += f" in {self.seconds:.1f} s."
        lines += ["", outcome]
        failures = [result for result in notebooks if not result.ok]
        if failures:
            lines += ["", "## Problems", ""]
            lines += [f"- `{r.name}` ({r.status}): {r.problem()}" for r in failures]
        return "\n".join(lines) + "\n"

    def write(self) -> tuple[Path, Path]:
        """Write ``summary.json`` and ``summary.md`` into the output folder.

        Returns
        -------
        tuple of pathlib.Path
            The JSON and the Markdown file.
        """
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.json_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        self.markdown_path.write_text(self.to_markdown(), encoding="utf-8")
        return self.json_path, self.markdown_path


def earlier_results(json_path: Path) -> list[NotebookResult]:
    """The notebooks of a ``summary.json`` written by an earlier run.

    Parameters
    ----------
    json_path : pathlib.Path
        The summary file.

    Returns
    -------
    list of NotebookResult
        Its notebooks; empty when the file does not exist or cannot be read (an unreadable
        summary is replaced, not merged).
    """
    try:
        entries = json.loads(json_path.read_text(encoding="utf-8"))["notebooks"]
        results = []
        for entry in entries:
            error = entry.pop("error", None)
            results.append(NotebookResult(**entry, error=CellError(**error) if error else None))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return results


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


# --------------------------------------------------------------------------- reading results


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _source_cells(notebook) -> list[tuple[int, object]]:
    """(index in the source notebook, cell) for the cells that were not added by the run."""
    cells = [cell for cell in notebook.cells if not set(_tags(cell)) & ADDED_CELL_TAGS]
    return list(enumerate(cells))


def collect_metrics(notebook) -> dict[str, object]:
    """Collect what a notebook recorded with :func:`labcore.runtime.record`.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An executed notebook.

    Returns
    -------
    dict
        Every value found under :data:`labcore.runtime.METRICS_MIMETYPE`, in cell order; a
        later value of the same name wins.
    """
    metrics: dict[str, object] = {}
    for _, cell in _source_cells(notebook):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if METRICS_MIMETYPE in data:
                value = data[METRICS_MIMETYPE]
                metrics.update(json.loads(value) if isinstance(value, str) else dict(value))
    return metrics


def _runtime_report(notebook) -> dict[str, object]:
    for cell in notebook.cells:
        if RUNNER_TAG in _tags(cell):
            for output in cell.get("outputs", []):
                if RUNTIME_MIMETYPE in output.get("data", {}):
                    return dict(output["data"][RUNTIME_MIMETYPE])
    return {}


def _first_line(source: str) -> str:
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 80 else line[:77] + "..."


def _describe_cell(index: int | None, cell) -> CellError:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return CellError(
        cell_index=index,
        grade_id=nbgrader.get("grade_id") or None,
        tags=_tags(cell),
        first_line=(
            _first_line(cell.get("source", ""))
            if index is not None
            else "the parameters injected by papermill"
        ),
    )


def find_error_cell(notebook) -> CellError | None:
    """Find the cell a run stopped at in an executed notebook.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An executed (possibly partly executed) notebook written by papermill.

    Returns
    -------
    CellError or None
        The first cell with an error output, with its ``ename`` and ``evalue``; else the
        last cell papermill started (the one running when the notebook was stopped or its
        kernel died), without ``ename``; ``None`` if neither. ``cell_index`` counts cells
        of the source notebook; a failure in the parameters papermill injected has
        ``cell_index=None``.
    """
    source_index = {id(cell): index for index, cell in _source_cells(notebook)}
    last_started = None
    for cell in notebook.cells:
        if RUNNER_TAG in _tags(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = _describe_cell(source_index.get(id(cell)), cell)
                error.ename = output.get("ename", "")
                error.evalue = output.get("evalue", "")
                return error
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            last_started = cell
    if last_started is None:
        return None
    return _describe_cell(source_index.get(id(last_started)), last_started)


# --------------------------------------------------------------------------- the worker


class _ReportingClient(PapermillNotebookClient):
    """papermill's notebook client, plus the runtime report cell after the last cell."""

    def papermill_execute_cells(self):
        super().papermill_execute_cells()  # stops after a failing cell, does not raise
        cell = nbformat.v4.new_code_cell(RUNTIME_REPORT_SOURCE, metadata={"tags": [RUNNER_TAG]})
        cell.metadata.papermill = {"status": "pending", "exception": None}
        self.nb.cells.append(cell)
        index = len(self.nb.cells) - 1
        try:
            self.nb_man.cell_start(cell, index)
            self.execute_cell(cell, index, store_history=False)
            self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
            # the notebook's own result stands; only the report is missing
            self.log.warning(f"cnnlab run: no backend/device report: {error}")
            self.nb.cells.pop()


class _ReportingEngine(NBClientEngine):
    """papermill's nbclient engine running :class:`_ReportingClient`."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        **kwargs,
    ):
        kwargs.pop("input_path", None)
        client = _ReportingClient(
            nb_man,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        return client.execute()


def _execute_in_worker(spec: dict[str, object]) -> dict[str, str]:
    """Execute one notebook with papermill (inside the worker process)."""
    import papermill

    papermill_engines.register(ENGINE_NAME, _ReportingEngine)
    try:
        papermill.execute_notebook(
            spec["input"],
            spec["output"],
            parameters=spec["parameters"],
            engine_name=ENGINE_NAME,
            kernel_name=KERNEL_NAME,
            cwd=spec["cwd"],
            progress_bar=False,
            log_output=True,
            start_timeout=120,
            execution_timeout=spec["cell_timeout"],
        )
    except PapermillExecutionError as error:  # a cell raised: details are in the notebook
        return {"status": STATUS_FAILED, "ename": error.ename, "evalue": error.evalue}
    except CellTimeoutError as error:
        return {"status": STATUS_TIMEOUT, "ename": "Timeout", "evalue": str(error)}
    except DeadKernelError as error:
        return {
            "status": STATUS_FAILED,
            "ename": "DeadKernelError",
            "evalue": f"the kernel died (out of memory?): {error}",
        }
    except Exception as error:  # the kernel did not start, the notebook is unreadable, ...
        return {"status": STATUS_FAILED, "ename": type(error).__name__, "evalue": str(error)}
    return {"status": STATUS_OK, "ename": "", "evalue": ""}


def _worker_main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m grading.runner.run --worker SPEC RESULT``."""
    spec_path, result_path = argv
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = _execute_in_worker(spec)
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


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
        }
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [sys.executable, "-m", "grading.runner.run", "--worker", spec_path, result_path]
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
    report = _runtime_report(notebook)
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

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (see :func:`add_arguments`).

    Returns
    -------
    int
        0 when every notebook succeeded, 1 when one failed or timed out. Bad input (exit
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(_worker_main(sys.argv[2:]))
    sys.exit("usage: python -m grading.runner.run --worker SPEC RESULT (use `cnnlab run`)")
