"""The grading program of one submission: nbgrader's autograde, with the kernel in the sandbox.

:func:`grading.autograde.grading_server.run_grading_program` runs :func:`main` for each
submission, forked from a warm server (or as
``python -m grading.autograde.grade_in_sandbox JOB_DIR``). It runs as the grader's user,
outside the sandbox, and never imports from or resolves paths through the
kernel's files. It runs nbgrader's own ``Autograde`` converter, configured by
``grading/nbgrader_config.py``, on the job's private course folder and private gradebook,
with one preprocessor replaced: :class:`SandboxedExecute`, nbgrader's ``Execute`` whose
kernel starts in the sandbox
(:class:`grading.autograde.kernel_manager.SandboxedKernelManager`), with these additions:

- the submission's wall-clock budget: each cell gets at most the time left, and once it is
  used up the remaining cells do not run;
- a kernel that dies (``os._exit``, ``exit()``, a segfault, the memory watchdog) stops the
  notebook instead of failing the whole submission: the cells that ran keep their results,
  the rest score 0 with the reason (plain nbgrader gives the submission no grades at all);
- a cell that runs past its timeout is interrupted and scores 0 with status ``timeout``;
  one that ignores the interrupt (stuck in C code) has its kernel killed, and the cells
  after it score 0;
- test cells scored here, outside the kernel (:mod:`grading.autograde.scoring`): from the execute
  reply and the outputs, with partial credit only as the source declares it; they run
  without history (not in ``In`` or ``_ih``), and their source is taken out of IPython's
  cache of cell sources right after they ran;
- an integrity probe (:mod:`grading.autograde.probe`) before any student code, after each
  test cell, and before each test cell that other code ran ahead of (student code, or locked
  code, which may call the student's functions): what the tests rely on must not change.
  It rides on the execute request of the cell just before it, as user expressions that the
  kernel evaluates right after that cell if it succeeded; when it failed, the grading
  program asks in a request of its own;
- the first notebook's kernel is started before nbgrader's own set-up, so that it boots
  meanwhile;
- once the last cell has run, the kernel is killed rather than asked to shut down: the
  sandbox is discarded with everything in it, and a TensorFlow kernel takes about 2 s to
  wind down.

Everything it learns goes to ``JOB_DIR/results/`` (never visible to the kernel): the
notebook as it went into execution, one JSON line per executed cell (so a program killed at
its limit can still be graded on what ran), the autograded notebooks and ``runner.json``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # as its own program only, never when imported
    from grading.autograde.processes import skip_unused_iri_grammar

    skip_unused_iri_grammar()

import jsonschema
import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.converters import Autograde
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Float, Unicode
from traitlets.config import Config

from grading.autograde.cells import cell_label, is_locked_code, is_test_cell, locked_sources
from grading.autograde.kernel_home import seed_kernel_home
from grading.autograde.kernel_manager import SandboxedKernelManager, write_kernelspec
from grading.autograde.probe import (
    PROBED_MODULES,
    compare,
    forget_expression,
    parse_forget_reply,
    parse_reply,
    probe_expression,
    probed_names,
    sources_key,
)
from grading.autograde.processes import MemoryWatchdog, kill_children
from grading.autograde.sandbox import SandboxLimits
from grading.autograde.scoring import declares_partial_credit, outputs_for_nbgrader, score_test_cell
from grading.base.regions import HIDDEN_TEST, cell_regions

__all__ = [
    "NOT_RUN",
    "CheckMetadataOnce",
    "SandboxedAutograde",
    "SandboxedExecute",
    "main",
    "metadata_schema",
    "not_run_output",
]

#: ``ename`` of the error output given to cells that did not run.
NOT_RUN = "NotRun"

_watchdog: MemoryWatchdog | None = None
#: The kernel main() started before nbgrader's own set-up, for the first notebook to execute.
_early_kernel = None


def not_run_output(reason: str) -> nbformat.NotebookNode:
    """The error output a cell gets when it was never executed.

    Parameters
    ----------
    reason : str
        Why (shown to the student in feedback).

    Returns
    -------
    nbformat.NotebookNode
        An ``error`` output (nbgrader scores a test cell with an error as 0).
    """
    return nbformat.v4.new_output(
        "error", ename=NOT_RUN, evalue=reason, traceback=[f"This cell did not run: {reason}"]
    )


def _kernel_died_output(detail: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output(
        "error",
        ename="KernelDied",
        evalue=detail,
        traceback=[f"The kernel died while this cell ran: {detail}"],
    )


#: Error texts that mean a limit of the sandbox was hit: (reason code, texts, what).
_LIMIT_ERRORS = (
    (
        "processes",
        ("[Errno 11] Resource temporarily unavailable", "can't start new thread"),
        "could not start a process or thread: the kernel may have {max_processes} at once",
    ),
    ("file-size", ("[Errno 27] File too large",), "wrote a file larger than {max_file_size_mb} MB"),
    (
        "disk",
        ("[Errno 28] No space left on device",),
        "filled its disk space ({workspace_size_mb} MB in the home folder, {tmp_size_mb} MB "
        "in /tmp)",
    ),
)


def _limit_event(outputs, label: str, limits: dict) -> str | None:
    """The reason for a sandbox limit that surfaced as an error in a cell, or ``None``."""
    errors = [
        f"{o.get('ename', '')}: {o.get('evalue', '')}"
        for o in outputs
        if o.get("output_type") == "error"
    ]
    for code, texts, what in _LIMIT_ERRORS:
        if any(text in error for error in errors for text in texts):
            return f"{code}: cell {label} {what.format(**limits)}"
    return None


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with a time budget, crash handling, own scoring and probes."""

    results_dir = Unicode("", help="Folder for the per-cell record").tag(config=True)
    deadline = Float(0.0, help="time.monotonic() at which the submission's time is up").tag(
        config=True
    )
    cell_timeout = Float(900.0, help="Seconds per cell (c.Execute.timeout)").tag(config=True)
    memory_limit_mb = Float(0.0, help="The watchdog's cap, for the reason").tag(config=True)
    limits_json = Unicode("{}", help="The SandboxLimits, for the reasons").tag(config=True)
    probed_json = Unicode(
        "{}", help="Probed names the grader worked out: {sources_key: names}"
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        """Execute the notebook, recording each cell (see the module docstring).

        Parameters
        ----------
        nb : nbformat.NotebookNode
            The sanitized notebook.
        resources : dict
            nbconvert resources (``resources["nbgrader"]`` names the notebook).
        km : jupyter_client.KernelManager, optional
            Unused: the kernel :func:`main` started early if no notebook took it yet, else a
            fresh one.

        Returns
        -------
        tuple
            The executed notebook and the resources.
        """
        results = Path(self.results_dir)
        self._notebook = resources["nbgrader"]["notebook"]
        self._stopped: str | None = None
        self._exit_requested = False
        self._reply_ok = True
        locked = locked_sources(nb)
        known = json.loads(self.probed_json).get(sources_key(locked))
        self._probed = known if known is not None else probed_names(locked)
        self._reference: dict | None = None
        self._unchecked: list[str] = []  # student cells run since the last probe
        self._linecache_kept: set[int] = set()  # cached sources the last forget kept
        self._cell_reply: dict | None = None  # the execute reply of the cell that just ran
        self._probed_before: dict | None = None  # a probe that came with the last cell's reply
        self._before_test = _followed_by_test(nb)
        self._tampered = False
        ignore = self.config.get("IgnorePattern", {})
        self._ignore_pattern = ignore.get("pattern", "") if ignore.get("enabled") else ""
        (results / "input").mkdir(parents=True, exist_ok=True)
        (results / "progress").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, results / "input" / f"{self._notebook}.ipynb")
        km = _take_early_kernel()
        with open(results / "progress" / f"{self._notebook}.jsonl", "a") as self._progress:
            try:
                return super().preprocess(nb, resources, km)
            finally:
                if km is not None and self.km is not None:  # nbclient stops only its own
                    self._cleanup_kernel()

    # ------------------------------------------------------------------ helpers

    def _record(self, index: int, cell, **facts) -> None:
        line = {
            "index": index,
            "outputs": cell.get("outputs", []),
            "execution_count": cell.get("execution_count"),
            **facts,
        }
        self._progress.write(json.dumps(line) + "\n")
        self._progress.flush()

    def _kernel_exit_detail(self) -> str:
        code = None
        try:
            process = self.km.provisioner.process
            for _ in range(20):
                code = process.poll()
                if code is not None:
                    break
                time.sleep(0.05)
        except AttributeError:
            pass
        if code is None:
            return "the kernel stopped responding"
        if code > 128:  # bwrap exits with 128 + the signal that killed the kernel
            code = 128 - code
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def on_cell_executed(self, **kwargs):
        """nbgrader's error bookkeeping, and notice of ``exit()``/``quit()``.

        IPython's ``exit()`` does not stop the cell: it asks the kernel to shut down a moment
        later (an ``ask_exit`` payload in the reply), so which later cell meets a dead kernel
        would be luck. Noticing it here makes the outcome the same every time.

        Parameters
        ----------
        **kwargs
            ``cell``, ``cell_index`` and ``execute_reply`` from nbclient.
        """
        super().on_cell_executed(**kwargs)
        self._cell_reply = kwargs["execute_reply"]
        self._reply_ok = kwargs["execute_reply"].get("content", {}).get("status") == "ok"
        payload = kwargs["execute_reply"].get("content", {}).get("payload", []) or []
        if any(item.get("source") == "ask_exit" for item in payload):
            self._exit_requested = True

    def _ask_kernel(self, expressions: dict[str, str], timeout: float) -> dict | None:
        """Evaluate user expressions in the kernel, silently and out of its history; the
        execute reply (``None``: no answer in ``timeout`` seconds, or the kernel died)."""
        saved, self.timeout = self.timeout, max(1, math.ceil(timeout))
        try:
            msg_id = self.kc.execute(
                "", silent=True, store_history=False, user_expressions=expressions
            )
            return self.wait_for_reply(msg_id)
        except (CellTimeoutError, DeadKernelError, TimeoutError):
            return None
        finally:
            self.timeout = saved

    def _probe_expressions(self, hidden_lines: list[str] | None = None) -> dict[str, str]:
        """The probe's user expressions; with ``hidden_lines``, first the forgetting of a
        hidden test's lines (user expressions are evaluated in order)."""
        roots = {name.split(".")[0] for name in self._probed}
        modules = [m for m in PROBED_MODULES if m.split(".")[0] in roots]
        expressions = {}
        if hidden_lines:
            expressions["forget"] = forget_expression(hidden_lines, self._linecache_kept)
        expressions["probe"] = probe_expression(self._probed, modules, load=self._reference is None)
        return expressions

    def _probe(
        self, hidden_lines: list[str] | None = None, answered: dict | None = None
    ) -> dict | None:
        """Fingerprint what the tests rely on, in the kernel (see
        :mod:`grading.autograde.probe`); with ``hidden_lines``, in the same request, first
        take a hidden test's lines out of the kernel's cache of cell sources. ``answered``
        is a cell's execute reply that already carried these expressions (see
        :meth:`_carrying`); without it, the kernel is asked now."""
        reply = answered
        if reply is None:
            first = self._reference is None
            expressions = self._probe_expressions(hidden_lines)
            if hidden_lines:  # until the kernel answers: read every entry next time
                self._linecache_kept = set()
            remaining = self.deadline - time.monotonic() if self.deadline else math.inf
            # the first probe imports what the tests use (Keras, say): give it time
            reply = self._ask_kernel(expressions, min(remaining, 300 if first else 60))
        if hidden_lines:
            self._linecache_kept = parse_forget_reply(reply)
        return parse_reply(reply) if reply else None

    @contextlib.contextmanager
    def _carrying(self, expressions: dict[str, str] | None):
        """Send ``expressions`` with the cell's own execute request.

        The kernel evaluates user expressions right after the cell, and only when it
        succeeded; what they answer is then in the reply (:meth:`_carried`), one round
        trip fewer. Nothing else runs in the kernel in between, as with a request of their
        own.
        """
        self._cell_reply = None
        client = self.kc if expressions else None
        if client is not None:
            send = client.execute
            client.execute = functools.partial(send, user_expressions=expressions)
        try:
            yield
        finally:
            if client is not None:
                del client.execute  # the client's own method again

    def _carried(self) -> dict | None:
        """The reply of the cell that just ran, when it carried the probe's answer."""
        content = (self._cell_reply or {}).get("content", {})
        if content.get("status") == "ok" and "probe" in content.get("user_expressions", {}):
            return self._cell_reply
        return None

    def _check_integrity(
        self,
        label: str,
        when: str,
        hidden_lines: list[str] | None = None,
        answered: dict | None = None,
    ) -> str | None:
        """Probe, compare with the reference, and say what changed (``None``: nothing).

        When nothing changed, this probe's answer is the new reference: it also holds what
        was imported since (a name absent from the reference is not compared).
        """
        current = self._probe(hidden_lines, answered)
        if self._reference is None:
            self._reference = current  # when it failed, the next check takes it
            self._unchecked = []
            return None
        changed = compare(self._reference, current)
        suspects = ", ".join(self._unchecked) or f"cell {label} itself"
        self._unchecked = []
        if not changed:
            self._reference = current
            return None
        shown = ", ".join(changed[:6]) + (
            f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        )
        return (
            f"tampering: {shown} changed {when} cell {label} (changed in {suspects}); "
            "the tests from here on score 0, needs instructor review"
        )

    def _score(self, cell, label: str) -> list[str]:
        """Score a test cell outside the kernel and show nbgrader that score."""
        points = float(cell.metadata.get("nbgrader", {}).get("points", 0) or 0)
        result = score_test_cell(
            cell.outputs,
            points,
            reply_ok=self._reply_ok,
            partial_credit=declares_partial_credit(cell.source),
            ignore_pattern=self._ignore_pattern,
        )
        cell.outputs = outputs_for_nbgrader(cell.outputs, result)
        return [f"scoring: test cell {label}: {note}" for note in result.notes]

    # ------------------------------------------------------------------ cells

    def preprocess_cell(self, cell, resources, index):
        """Run one cell within the budget; see the module docstring.

        Parameters
        ----------
        cell : nbformat.NotebookNode
            The cell.
        resources : dict
            nbconvert resources.
        index : int
            Its position.

        Returns
        -------
        tuple
            The cell and the resources.
        """
        label = cell_label(cell, index)
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        remaining = self.deadline - time.monotonic() if self.deadline else math.inf
        if self._stopped is None and remaining <= 0:
            self._stopped = (
                f"timeout: the submission used up its wall-clock limit before cell {label}"
            )
        if self._stopped is not None:
            cell.outputs = [not_run_output(self._stopped.split(": ", 1)[1])]
            cell.execution_count = None
            self._record(index, cell, ran=False)
            return cell, resources

        budget_limited = remaining < self.cell_timeout
        self.timeout = max(1, math.ceil(min(self.cell_timeout, remaining)))
        test, locked = is_test_cell(cell), is_locked_code(cell)
        tampering = None
        probed_before, self._probed_before = self._probed_before, None
        if self._reference is None and (test or not locked):
            # the reference, before a test or student code first runs (only setup ran)
            self._check_integrity(label, "before")
        elif test and self._unchecked:
            tampering = self._check_integrity(label, "before", answered=probed_before)
        if self._reference is not None and not test:
            # student code, or locked code that may call it (a training cell calls the
            # student's build_model): checked before the next test, which it can affect
            self._unchecked.append(f"cell {label}")
        hidden = []
        if test:
            hidden = [
                line.text
                for line in cell_regions(cell, index).secret
                if line.kind == HIDDEN_TEST and len(line.text) > 3
            ]
        carried = None  # the probe after a test, or before the test that comes next
        if self._reference is not None and (test or index in self._before_test):
            carried = self._probe_expressions(hidden)
        self._reply_ok = True
        original = cell.source
        event = None
        try:
            with self._carrying(carried):
                if test:  # hidden tests stay out of the kernel's history (In, _ih)
                    self._check_assign_resources(resources)
                    cell = self.execute_cell(cell, index, store_history=False)
                    resources = self.resources
                else:
                    cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            if _watchdog is not None and _watchdog.exceeded.is_set():
                detail = f"the kernel used more than {self.memory_limit_mb:.0f} MB and was stopped"
                self._stopped = f"memory: {detail} in cell {label}"
            else:
                detail = self._kernel_exit_detail()
                self._stopped = f"crashed: the kernel died in cell {label} ({detail})"
            cell.outputs.append(_kernel_died_output(detail))
            event = self._stopped
        except CellTimeoutError:
            kill_children()
            detail = (
                f"the cell ignored the interrupt after {self.timeout} s; the kernel was stopped"
            )
            self._stopped = (
                f"timeout: cell {label} ran longer than {self.timeout} s and ignored the "
                "interrupt; the kernel was stopped"
            )
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error", ename="CellTimeoutError", evalue=detail, traceback=[detail]
                )
            )
            event = self._stopped
        finally:
            cell.source = original
        if self._exit_requested and event is None:
            kill_children()  # it is shutting down anyway; now, not at a random later cell
            self._stopped = event = (
                f"crashed: the kernel was shut down by exit() or quit() in cell {label}"
            )
        notes = []
        answered = self._carried() if carried else None
        if test and self._stopped is None:  # forget the hidden lines, probe (asked now if
            # the cell failed, which leaves its user expressions unevaluated)
            found = self._check_integrity(label, "while running", hidden, answered)
            tampering = tampering or found
        elif self._stopped is None:
            self._probed_before = answered  # the next test's "before" probe
        if test:
            self._reply_ok = self._reply_ok and event is None
            notes = self._score(cell, label)
        timed_out = any(
            o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
            for o in cell.outputs
        )
        if timed_out and event is None:
            if budget_limited:
                event = self._stopped = (
                    f"timeout: the submission reached its wall-clock limit in cell {label}"
                )
            else:
                event = (
                    f"timeout: cell {label} ran longer than {self.timeout} s and was interrupted"
                )
        out_of_memory = any(
            o.get("output_type") == "error" and str(o.get("ename", "")).endswith("MemoryError")
            for o in cell.outputs
        )
        if out_of_memory and event is None:
            event = (
                f"memory: cell {label} ran out of memory (MemoryError; the kernel may use "
                f"about {self.memory_limit_mb:.0f} MB)"
            )
        if event is None:
            event = _limit_event(cell.outputs, label, json.loads(self.limits_json))
        if tampering and not self._tampered:
            self._tampered = True
        self._record(index, cell, ran=True, event=event, tampering=tampering, notes=notes)
        return cell, resources


def _followed_by_test(nb) -> set[int]:
    """The cells (by index) whose next code cell with a source is a test cell."""
    indices, after = set(), None
    for index in range(len(nb.cells) - 1, -1, -1):
        cell = nb.cells[index]
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if after is not None and is_test_cell(after):
            indices.add(index)
        after = cell
    return indices


@functools.cache
def metadata_schema() -> jsonschema.protocols.Validator:
    """nbgrader's cell metadata schema, checked and compiled once per process.

    Returns
    -------
    jsonschema.protocols.Validator
        A validator of one cell's ``nbgrader`` metadata (its ``validate`` raises
        ``jsonschema.ValidationError``).
    """
    schema = MetadataValidator().schema
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


class _CompiledSchemaCheck(BaseMetadataValidator):
    def validate_cell(self, cell) -> None:
        # the schema pins schema_version to nbgrader's version, so this is also the version check
        if "nbgrader" in cell.metadata:
            metadata_schema().validate(cell.metadata["nbgrader"])


class _MetadataValidator(MetadataValidator, _CompiledSchemaCheck):
    """nbgrader's metadata checks, with the schema check of :class:`_CompiledSchemaCheck`."""


class CheckMetadataOnce(CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata`` with its JSON schema compiled once.

    nbgrader validates each cell with ``jsonschema.validate``, which first checks the schema
    itself, for every cell: about 0.05 s of CPU per notebook, where the checks take 0.004 s.
    The checks are nbgrader's (grade ids, points, cell kinds, duplicates).
    """

    def preprocess(self, nb, resources):
        """Validate every cell's nbgrader metadata; raise ``ValidationError`` if one is bad.

        Parameters
        ----------
        nb : nbformat.NotebookNode
            The graded notebook.
        resources : dict
            nbconvert resources.

        Returns
        -------
        (nbformat.NotebookNode, dict)
            Both unchanged.
        """
        try:
            _MetadataValidator().validate_nb(nb)
        except ValidationError as error:
            self.log.error("%s", error)
            raise ValidationError(
                "Notebook failed to validate; the nbgrader metadata may be corrupted."
            ) from error
        return nb, resources


class SandboxedAutograde(Autograde):
    """nbgrader's ``Autograde`` that also keeps each autograded notebook in the results."""

    results_dir = Unicode("", help="Folder for the autograded notebooks").tag(config=True)

    def write_single_notebook(self, output, resources):
        """Write the notebook where nbgrader does, and a copy into the results folder.

        Parameters
        ----------
        output : str
            The notebook as JSON text.
        resources : dict
            nbconvert resources.
        """
        super().write_single_notebook(output, resources)
        if not self._sanitizing and self.results_dir:
            folder = Path(self.results_dir) / "notebooks"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{resources['nbgrader']['notebook']}.ipynb").write_text(output)


def _config(job: dict, job_dir: Path, limits: SandboxLimits, deadline: float) -> Config:
    from grading.base.gradebook import COURSE_ID

    config = Config(job["config"])
    course = job_dir / "course"
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.submitted_directory = "submitted"
    config.CourseDirectory.autograded_directory = "autograded"
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.CourseDirectory.course_id = COURSE_ID
    config.Autograde.create_student = True
    # nbgrader's sanitizing steps without its metadata check: restore() rebuilt every
    # tracked cell's metadata from the source, and the check runs again after grading
    config.Autograde.sanitize_preprocessors = [
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
    ]
    config.Autograde.autograde_preprocessors = [
        SandboxedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckMetadataOnce,
    ]
    # nbconvert validates the whole notebook after every preprocessor (0.01-0.03 s each);
    # once, after the last, is enough: none of them is the student's
    config.Exporter.optimistic_validation = True
    config.Execute.timeout = max(1, math.ceil(limits.cell_timeout))
    # the sandbox is thrown away with everything in it: kill the kernel when the last cell
    # is done, rather than wait about 2 s for TensorFlow's interpreter to wind down
    config.SandboxedExecute.shutdown_kernel = "immediate"
    config.SandboxedExecute.kernel_manager_class = SandboxedKernelManager
    config.SandboxedKernelManager.job_dir = str(job_dir)
    config.SandboxedKernelManager.files_dir = job["files"]
    config.SandboxedKernelManager.limits_json = json.dumps(limits.to_dict())
    config.SandboxedKernelManager.unsafe = bool(limits.unsafe_no_sandbox)
    results = str(job_dir / "results")
    config.SandboxedExecute.results_dir = results
    config.SandboxedExecute.deadline = deadline
    config.SandboxedExecute.cell_timeout = float(limits.cell_timeout)
    config.SandboxedExecute.memory_limit_mb = float(limits.memory_limit_mb)
    config.SandboxedExecute.limits_json = json.dumps(limits.to_dict())
    config.SandboxedExecute.probed_json = json.dumps(job.get("probed", {}))
    config.SandboxedKernelManager.env_json = json.dumps(job["kernel_env"])
    config.SandboxedAutograde.results_dir = results
    return config


def _start_early_kernel(config: Config) -> None:
    """Start the sandboxed kernel now, so that it boots while nbgrader sets up.

    Measured on notebook 02, two jobs: from the program's start to the first cell 0.78 s
    before, 0.67 s with it.

    It is the kernel nbclient would start for the first notebook: the same manager,
    configuration and arguments, and the environment nbgrader sets while it executes. If
    it cannot start, the notebook starts its own, as without this.
    """
    global _early_kernel
    from jupyter_core.utils import run_sync

    manager = SandboxedKernelManager(kernel_name="python3", config=config)
    saved = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # as nbgrader sets it to execute
    try:
        run_sync(manager.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"])
    except Exception:  # the notebook starts its own, and reports why it cannot
        with contextlib.suppress(Exception):
            run_sync(manager.cleanup_resources)()
        return
    finally:
        if saved is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = saved
    _early_kernel = manager


def _take_early_kernel():
    """The early kernel, once (``None`` after, or if there is none)."""
    global _early_kernel
    manager, _early_kernel = _early_kernel, None
    return manager


def _stop_unused_early_kernel() -> None:
    """Stop the early kernel if nbgrader failed before any notebook took it."""
    from jupyter_core.utils import run_sync

    manager = _take_early_kernel()
    if manager is not None:
        with contextlib.suppress(Exception):
            run_sync(manager.shutdown_kernel)(now=True)


def main(argv: list[str] | None = None) -> int:
    """Autograde the submission of one job folder (see the module docstring).

    Parameters
    ----------
    argv : list of str, optional
        ``[JOB_DIR]``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when nbgrader finished (whatever the grades), 1 when it failed.
    """
    global _watchdog
    from grading.base.nbgrader_driver import NbgraderError, run_converter

    started = time.monotonic()
    job_dir = Path((argv if argv is not None else sys.argv[1:])[0]).resolve()
    job = json.loads((job_dir / "job.json").read_text())
    limits = SandboxLimits(**job["limits"])
    deadline = started + limits.notebook_timeout
    results = job_dir / "results"
    results.mkdir(exist_ok=True)

    seed_kernel_home(Path(job["files"]))  # matplotlib's font cache, built once
    for kernel_name in job["kernel_names"]:  # whichever name nbgrader asks for
        write_kernelspec(job_dir / "jupyter", kernel_name)
    os.environ["JUPYTER_PATH"] = str(job_dir / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(job_dir / "runtime")

    _watchdog = MemoryWatchdog(limits.memory_limit_mb)
    _watchdog.start()
    config = _config(job, job_dir, limits, deadline)
    _start_early_kernel(config)
    outcome = {"status": "completed", "error": None}
    try:
        log = run_converter(
            SandboxedAutograde,
            config,
            assignment_id=job["assignment"],
            student_id=job["student"],
        )
        (results / "nbgrader.log").write_text(log)
    except NbgraderError as error:
        outcome = {"status": "failed", "error": str(error)}
    finally:
        _stop_unused_early_kernel()
        _watchdog.stop()
    outcome["memory_peak_mb"] = round(_watchdog.peak_bytes / 2**20, 1)
    outcome["watchdog_fired"] = _watchdog.exceeded.is_set()
    outcome["seconds"] = round(time.monotonic() - started, 3)
    (results / "runner.json").write_text(json.dumps(outcome))
    return 0 if outcome["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
