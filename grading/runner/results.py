"""What ``cnnlab run`` learns about one notebook: its status, failing cell, metrics, device.

:class:`NotebookResult` is one notebook's outcome and :class:`CellError` where it stopped.
:func:`collect_metrics` and :func:`find_error_cell` read them back from the executed
notebook papermill wrote; :func:`runtime_report` reads the backend and device the extra
``cnnlab-runner`` cell displayed (:mod:`grading.runner.worker` appends it). Nothing here
imports papermill or a kernel: these functions take notebooks already read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from labcore.runtime import METRICS_MIMETYPE

__all__ = [
    "ADDED_CELL_TAGS",
    "RUNNER_TAG",
    "RUNTIME_MIMETYPE",
    "CellError",
    "NotebookResult",
    "collect_metrics",
    "find_error_cell",
    "runtime_report",
]

#: Mimetype of the runner's own report of the kernel's Keras backend and device.
RUNTIME_MIMETYPE = "application/vnd.cnnlab.runtime+json"
#: Tag of the extra cell the runner appends to report backend and device.
RUNNER_TAG = "cnnlab-runner"
#: Cells papermill or the runner add to an executed notebook (not in the source notebook).
ADDED_CELL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag", RUNNER_TAG})

STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT = "ok", "failed", "timeout"


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


def runtime_report(notebook) -> dict[str, object]:
    """Read the backend and device the runner's extra cell reported.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An executed notebook.

    Returns
    -------
    dict
        ``backend``, ``device`` and ``device_name`` as the kernel displayed them under
        :data:`RUNTIME_MIMETYPE`; empty when the cell did not run.
    """
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
