"""The worker of ``cnnlab run``: one notebook executed with papermill, in its own process.

:func:`grading.runner.run.run_notebooks` starts ``python -m grading.runner.worker SPEC
RESULT`` for each notebook: SPEC is a JSON file (``input``, ``output``, ``cwd``,
``parameters``, ``cell_timeout``, ``connection_file``), and the worker writes RESULT, a
JSON object with ``status``, ``ename`` and ``evalue``. A worker that never writes RESULT
(killed, crashed) is reported by the runner.

The worker runs papermill's nbclient engine with one addition: after the last cell (also
after a failing one, while the kernel still runs) it executes one extra cell, tagged
``cnnlab-runner``, that displays :func:`labcore.runtime.device_info` under
:data:`grading.runner.results.RUNTIME_MIMETYPE`, only when the notebook imported Keras.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger as papermill_logger
from traitlets import Unicode

from grading.runner.results import (
    RUNNER_TAG,
    RUNTIME_MIMETYPE,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_TIMEOUT,
)

__all__ = ["ENGINE_NAME", "KERNEL_NAME", "main"]

#: Kernel every notebook runs in.
KERNEL_NAME = "python3"
#: The papermill engine name the worker registers (papermill's nbclient engine + report).
ENGINE_NAME = "cnnlab"

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


class _ReportingClient(PapermillNotebookClient):
    """papermill's notebook client, plus the runtime report cell after the last cell."""

    kernel_connection_file = Unicode(
        "", help="Where the kernel's connection file goes (default: the temporary folder)"
    ).tag(config=True)

    def create_kernel_manager(self):
        manager = super().create_kernel_manager()
        if self.kernel_connection_file:
            # in the runner's scratch folder, which goes even when the worker is killed
            manager.connection_file = self.kernel_connection_file
        return manager

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
            kernel_connection_file=spec.get("connection_file", ""),
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


def main(argv: Sequence[str]) -> int:
    """Execute the notebook a spec file names and write its outcome (the worker's entry).

    Parameters
    ----------
    argv : sequence of str
        The spec file (JSON) and the file to write the result to.

    Returns
    -------
    int
        0 once the result is written, whatever the notebook did.
    """
    spec_path, result_path = argv
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = _execute_in_worker(spec)
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m grading.runner.worker SPEC RESULT (use `cnnlab run`)")
    sys.exit(main(sys.argv[1:]))
