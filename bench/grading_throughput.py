"""Grading throughput: plain ``nbgrader autograde`` (serial) against ``cnnlab autograde``.

What is measured
----------------
A synthetic class for ``02_mnist`` (:func:`grading.demo.make_class`, ``--per-kind``
students of each kind: correct, partly wrong, blank; 24 by default) is written once and
copied into two private course build folders (``CNNLAB_BUILD_DIR``), so both graders see
the same files and the checkout's ``build/`` is left alone. Then, on the same machine in the
same run, with the course's ``grading/nbgrader_config.py`` and labcore's ``grade`` profile
(nbgrader sets ``NBGRADER_EXECUTION``; ``LABCORE_PROFILE`` is removed from the
environment):

``plain``
    The real nbgrader command line: ``nbgrader generate_assignment 02_mnist`` (not timed:
    the release step that plain ``autograde`` needs first), then ``nbgrader autograde
    02_mnist``, timed, which grades one submission after another. The configuration is
    found as ``cnnlab lab`` finds it: ``JUPYTER_CONFIG_PATH=grading/``.
``cnnlab``
    ``cnnlab autograde 02_mnist`` (default jobs: one per core), timed; its own
    ``generate_assignment`` of the template is inside the time. The CPU its own processes
    use (the grader, its warm server and the grading programs, not the kernels) is read
    while it runs (:class:`GraderCpu`): per submission, and once to start.
``in_kernel``
    The notebooks' own work: the notebooks plain nbgrader executed (hidden tests included)
    run again in plain Jupyter kernels with ``nbclient`` (kernel start and every cell; then
    the kernel is killed, not asked to shut down, so the 2 s a TensorFlow kernel takes to
    wind down counts as a grader's cost), the same grade profile:

    - one of each kind, one at a time, as plain nbgrader runs them: plain nbgrader's
      overhead is its time per submission minus their mean;
    - the whole class replayed as ``cnnlab`` ran it (:func:`replay_in_kernel`): every
      submission's notebook, in the order cnnlab started them, as many at a time as its
      jobs, with its thread limits. Then ``cnnlab autograde --force`` grades the class once
      more, so that the replay sits between two cnnlab runs. cnnlab's overhead is the mean,
      over the submissions, of the seconds it spent on a submission (the mean of its two
      runs, which cancels a steady drift of the machine's speed) minus that submission's
      seconds in the replay: the same notebooks meeting the same neighbours, without the
      grader. The ratio is taken from cnnlab's first run, graded fresh like plain
      nbgrader's.

      The overhead is split by where it went (:func:`overhead_parts`), from nbclient's
      timestamps in every executed cell: the cells themselves (the notebooks' work, which
      moves by a few seconds per submission from run to run on a shared machine), between
      the cells (the integrity probes and the executor) and outside them (preparing,
      starting and stopping the kernel, scoring). The last two are the grader's own time.

The grades of both gradebooks are compared cell by cell (and with the scores
:mod:`grading.demo` expects); any difference is a failure of the benchmark (exit status 1,
after the JSON line).

Usage
-----
``python bench/grading_throughput.py`` (24 submissions); ``--per-kind 4`` (12);
``--jobs N`` (``cnnlab autograde --jobs``); ``--keep DIR`` keeps the build folders;
``--wait-quiet S``. Offline, set ``LABCORE_DATA_MIRROR``. The last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import REPO_ROOT, BenchmarkError, machine_info, script_main, wait_until_quiet

ASSIGNMENT = "02_mnist"
NOTEBOOK = "mnist_cnn.ipynb"
#: The kinds of submission in the class (see grading.demo.KINDS).
CLASS_KINDS = ("correct", "partly_wrong", "blank")
#: The target: cnnlab's submissions per minute over plain nbgrader's.
TARGET_RATIO = 1.8


def _console_script(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    if not candidate.is_file():
        raise BenchmarkError(
            f"{candidate} does not exist: run this script with the course environment's Python "
            "(.venv/bin/python, after .venv/bin/pip install -e .)"
        )
    return str(candidate)


def grading_environment(build: Path) -> dict[str, str]:
    """The environment both graders run in: this course, one build folder, grade profile.

    Parameters
    ----------
    build : pathlib.Path
        The private build folder (``CNNLAB_BUILD_DIR``).

    Returns
    -------
    dict
        ``os.environ`` with ``CNNLAB_ROOT``, ``CNNLAB_BUILD_DIR``, ``JUPYTER_CONFIG_PATH``
        (``grading/`` first, where nbgrader finds the course's configuration) and the
        environment's ``bin`` first on ``PATH`` (nbgrader calls ``alembic``);
        ``LABCORE_PROFILE`` and ``NBGRADER_EXECUTION`` removed.
    """
    env = dict(os.environ)
    env.pop("LABCORE_PROFILE", None)
    env.pop("NBGRADER_EXECUTION", None)
    config_path = [str(REPO_ROOT / "grading")]
    if env.get("JUPYTER_CONFIG_PATH"):
        config_path.append(env["JUPYTER_CONFIG_PATH"])
    env.update(
        CNNLAB_ROOT=str(REPO_ROOT),
        CNNLAB_BUILD_DIR=str(build),
        JUPYTER_CONFIG_PATH=os.pathsep.join(config_path),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def make_submissions(work: Path, per_kind: int) -> tuple[dict[str, Path], dict]:
    """Write the synthetic class once and copy it into the two build folders.

    Parameters
    ----------
    work : pathlib.Path
        The benchmark's scratch folder.
    per_kind : int
        Students of each kind in :data:`CLASS_KINDS`.

    Returns
    -------
    (dict, dict)
        ``{"plain": build folder, "cnnlab": build folder}`` and the expected score of every
        autograded cell: ``{(student, notebook, grade_id): points}``.
    """
    from grading import demo
    from grading.base.template import build_template
    from grading.paths import CoursePaths

    builds = {name: work / name for name in ("plain", "cnnlab")}
    paths = CoursePaths(root=REPO_ROOT, build=builds["cnnlab"])
    template = build_template(paths, ASSIGNMENT)
    expected = {}
    for index in range(per_kind):
        made = demo.make_class(
            paths, ASSIGNMENT, CLASS_KINDS, prefix=f"s{index:02d}_", template=template
        )
        for submission in made.submissions:
            for (notebook, grade_id), points in submission.expected_cells.items():
                expected[(submission.student, notebook, grade_id)] = points
    shutil.copytree(builds["cnnlab"] / "submitted", builds["plain"] / "submitted")
    return builds, expected


class GraderCpu(threading.Thread):
    """The CPU seconds of a running ``cnnlab autograde``'s own processes, kernels apart.

    Every ``interval`` seconds it reads the user and system time of the grader, its warm
    server and the grading programs the server forked (their descendants, the sandboxes
    and kernels, are the notebooks' side). A process's last reading stands for its total,
    so up to ``interval`` seconds of each process's end can be missed. What the grader and
    the server used before the first grading program started is the run's start-up.

    Parameters
    ----------
    interval : float
        Seconds between readings.
    """

    def __init__(self, interval: float = 0.05):
        super().__init__(name="grader-cpu", daemon=True)
        self.pid: int | None = None
        self.interval = interval
        self.seconds: dict[int, float] = {}  # grader process -> CPU seconds last read
        self.startup_s: float | None = None
        self.finished = threading.Event()

    def _read(self) -> None:
        import psutil

        try:
            grader = psutil.Process(self.pid)
            servers = [p for p in grader.children() if "grading_server" in " ".join(p.cmdline())]
            programs = [child for server in servers for child in server.children()]
            for process in (grader, *servers, *programs):
                times = process.cpu_times()
                self.seconds[process.pid] = times.user + times.system
        except psutil.Error:  # a process ended between two reads: its last reading stands
            return
        if programs and self.startup_s is None:
            self.startup_s = sum(self.seconds.get(p.pid, 0.0) for p in (grader, *servers))

    def watch(self, pid: int) -> None:
        """Start reading the CPU of ``pid`` (the ``cnnlab autograde`` process)."""
        self.pid = pid
        self.start()

    def stop(self) -> None:
        """Stop reading (the process ended)."""
        self.finished.set()
        self.join()

    def run(self) -> None:
        while not self.finished.wait(self.interval):
            self._read()

    def figures(self, count: int) -> dict:
        """``grader_cpu_s_per_submission`` (start-up apart) and ``grader_startup_cpu_s``."""
        startup = self.startup_s or 0.0
        return {
            "grader_cpu_s_per_submission": round((sum(self.seconds.values()) - startup) / count, 2),
            "grader_startup_cpu_s": round(startup, 2),
        }


def _run(command: list[str], env: dict[str, str], what: str, cpu: GraderCpu | None = None) -> float:
    """Run a command from the checkout; echo its output; return its wall seconds.

    With ``cpu``, that :class:`GraderCpu` reads the command's CPU while it runs.
    """
    print("$ " + " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command)))
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if cpu is not None:
        cpu.watch(process.pid)
    output, _ = process.communicate()
    seconds = time.perf_counter() - start
    if cpu is not None:
        cpu.stop()
    tail = output.strip().splitlines()[-15:]
    print("\n".join("  | " + line for line in tail), flush=True)
    if process.returncode != 0:
        raise BenchmarkError(f"{what} failed with status {process.returncode}: see above")
    return seconds


def cell_timing(notebook) -> dict[str, float]:
    """Where an executed notebook's time went, from nbclient's timestamps in its cells.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An executed notebook (``metadata.execution`` of each code cell: when the kernel
        started it and when its reply came).

    Returns
    -------
    dict
        ``cells_s`` (the cells' own seconds, summed), ``between_s`` (from the first cell's
        start to the last one's reply, less the cells: the executor's time between cells)
        and ``span_s`` (the two together).
    """
    from datetime import datetime

    spans = []
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and {"iopub.execute_input", "shell.execute_reply"} <= set(
            timing
        ):
            spans.append(
                [
                    datetime.fromisoformat(timing[key]).timestamp()
                    for key in ("iopub.execute_input", "shell.execute_reply")
                ]
            )
    if not spans:
        return {"cells_s": 0.0, "between_s": 0.0, "span_s": 0.0}
    cells = sum(end - start for start, end in spans)
    span = spans[-1][1] - spans[0][0]
    return {"cells_s": cells, "between_s": span - cells, "span_s": span}


def plain_nbgrader(build: Path) -> dict:
    """Grade the class with the real ``nbgrader`` command line, one submission at a time.

    Parameters
    ----------
    build : pathlib.Path
        The build folder holding ``submitted/``.

    Returns
    -------
    dict
        ``generate_s`` (release, not counted) and ``wall_s`` (``nbgrader autograde``).
    """
    nbgrader, env = _console_script("nbgrader"), grading_environment(build)
    generate_s = _run(
        [nbgrader, "generate_assignment", ASSIGNMENT, "--force"], env, "nbgrader generate"
    )
    wall_s = _run([nbgrader, "autograde", ASSIGNMENT, "--force"], env, "nbgrader autograde")
    return {"generate_s": round(generate_s, 2), "wall_s": round(wall_s, 2)}


def cnnlab_autograde(build: Path, jobs: int | None, *, again: bool = False) -> dict:
    """Grade the class with ``cnnlab autograde``.

    Parameters
    ----------
    build : pathlib.Path
        The build folder holding ``submitted/``.
    jobs : int or None
        ``--jobs`` (None: its default, one per core).
    again : bool
        Grade it a second time (``--force``).

    Returns
    -------
    dict
        ``wall_s``, ``jobs``, ``seconds`` (student -> seconds the grader spent on the
        submission, from the grading log), ``timing`` (student -> :func:`cell_timing` of
        its autograded notebook), ``started`` (the students in the order their grading
        started: recorded time minus seconds), ``statuses`` (status -> count) and the
        grader's CPU (:meth:`GraderCpu.figures`).
    """
    import nbformat
    import pandas as pd

    from grading.autograde.run import default_jobs
    from grading.base.gradebook import grading_log

    command = [_console_script("cnnlab"), "autograde", ASSIGNMENT, "--no-progress"]
    if jobs:
        command += ["--jobs", str(jobs)]
    if again:
        command.append("--force")
    cpu = GraderCpu()
    wall_s = _run(command, grading_environment(build), "cnnlab autograde", cpu)
    log = grading_log(f"sqlite:///{build / 'gradebook.db'}")
    started = log["graded_at"] - pd.to_timedelta(log["seconds"], unit="s")
    return {
        "wall_s": round(wall_s, 2),
        "jobs": jobs or default_jobs(),
        "seconds": {row.student: round(float(row.seconds), 2) for row in log.itertuples()},
        "timing": {
            row.student: cell_timing(
                nbformat.read(
                    build / "autograded" / row.student / ASSIGNMENT / NOTEBOOK, as_version=4
                )
            )
            for row in log.itertuples()
        },
        "started": list(log["student"].iloc[started.argsort(kind="stable")]),
        "statuses": log["status"].value_counts().to_dict(),
        **cpu.figures(len(log)),
    }


def _execute_in_kernel(notebook_path: Path, extra_env: dict[str, str]) -> tuple[float, dict]:
    """Run one notebook in a fresh plain kernel (errors allowed); wall seconds and
    :func:`cell_timing`."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(notebook_path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-kernel-") as folder:
        env = {**grading_environment(Path(folder) / "build"), **extra_env}
        env["NBGRADER_EXECUTION"] = "autograde"  # labcore's grade profile, as under nbgrader
        client = NotebookClient(
            notebook,
            timeout=900,
            kernel_name="python3",
            allow_errors=True,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": folder}},
        )
        start = time.perf_counter()
        client.execute(env=env)
        return time.perf_counter() - start, cell_timing(notebook)


def in_kernel(
    notebooks: list[Path], jobs: int, threads: int | None
) -> tuple[list[float], float, list[dict]]:
    """The notebooks' own work: each executed in a plain kernel, ``jobs`` at a time.

    They are handed to a pool of ``jobs`` threads in the order given, as ``cnnlab
    autograde`` hands its submissions to its pool of jobs.

    Parameters
    ----------
    notebooks : list of pathlib.Path
        Executed notebooks (what a grader ran), in the order to run them.
    jobs : int
        How many run at once.
    threads : int or None
        Thread limits for the kernels (as ``cnnlab autograde`` sets them); None: none.

    Returns
    -------
    (list of float, float, list of dict)
        Each notebook's wall seconds, in the order given, the wall seconds of all, and each
        notebook's :func:`cell_timing`.
    """
    extra = {}
    if threads:
        extra = {
            name: str(threads)
            for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS")
        }
        extra["TF_NUM_INTEROP_THREADS"] = "1"
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(lambda path: _execute_in_kernel(path, extra), notebooks))
    seconds = [round(wall, 2) for wall, _ in runs]
    return seconds, round(time.perf_counter() - start, 2), [timing for _, timing in runs]


def replay_in_kernel(build: Path, cnnlab: dict, threads: int) -> dict:
    """The class's notebooks in plain kernels, as ``cnnlab autograde`` ran them.

    Each submission's notebook as plain nbgrader executed it (hidden tests included) runs in
    a plain kernel, in the order cnnlab started them (from its grading log: recorded time
    minus seconds), as many at a time as its jobs, with its thread limits. The same
    notebooks, order and concurrency, without the grader: what is left of a submission's
    seconds in cnnlab is the grader's cost.

    Parameters
    ----------
    build : pathlib.Path
        Plain nbgrader's build folder (its ``autograded/`` notebooks).
    cnnlab : dict
        :func:`cnnlab_autograde`'s figures (``started``, ``jobs``).
    threads : int
        The kernels' thread limits.

    Returns
    -------
    dict
        ``seconds`` (student -> wall seconds), ``timing`` (student -> :func:`cell_timing`)
        and ``wall_s`` (all of them).
    """
    students = cnnlab["started"]
    notebooks = [build / "autograded" / student / ASSIGNMENT / NOTEBOOK for student in students]
    seconds, wall_s, timing = in_kernel(notebooks, cnnlab["jobs"], threads)
    return {
        "seconds": dict(zip(students, seconds, strict=True)),
        "timing": dict(zip(students, timing, strict=True)),
        "wall_s": wall_s,
    }


def compare_grades(urls: dict[str, str], expected: dict) -> list[str]:
    """Every cell whose score differs between the gradebooks (or from the expected score).

    Parameters
    ----------
    urls : dict
        ``{"plain": url, "cnnlab": url}``.
    expected : dict
        ``{(student, notebook, grade_id): points}`` from :mod:`grading.demo`.

    Returns
    -------
    list of str
        One line per difference; empty when the grades are identical.
    """
    from grading.base.gradebook import cell_scores

    scores = {}
    for name, url in urls.items():
        frame = cell_scores(url)
        frame = frame[frame["assignment"] == ASSIGNMENT]
        scores[name] = {
            (row.student, row.notebook, row.grade_id): (
                None if row.score is None or row.score != row.score else float(row.score)
            )
            for row in frame.itertuples()
        }
    differences = []
    for key in sorted(set(scores["plain"]) | set(scores["cnnlab"]) | set(expected)):
        plain, cnnlab = scores["plain"].get(key), scores["cnnlab"].get(key)
        wanted = expected.get(key)
        if plain != cnnlab or (wanted is not None and cnnlab != wanted):
            differences.append(
                f"{'/'.join(key)}: plain {plain}, cnnlab {cnnlab}, expected {wanted}"
            )
    return differences


def overhead_parts(students: list[str], runs: tuple[dict, ...], replay: dict) -> dict:
    """cnnlab's seconds beyond the replay, split by where they went (means over students).

    Parameters
    ----------
    students : list of str
        The class.
    runs : tuple of dict
        :func:`cnnlab_autograde`'s figures of each cnnlab run (a student's figures are the
        mean over the runs).
    replay : dict
        :func:`replay_in_kernel`'s figures.

    Returns
    -------
    dict
        ``cells_s`` (the cells' own seconds: the notebooks' work, which the grader may slow
        down), ``between_cells_s`` (between one cell's reply and the next cell's start:
        the integrity probes and the executor) and ``outside_cells_s`` (before the first
        cell and after the last: preparing, starting and stopping the kernel, scoring);
        they add up to the overhead. Then ``grader_s``, the last two together: the
        grader's own time, which the run-to-run noise of the cells does not touch.
    """

    def mean_over_runs(student: str, part: str) -> float:
        values = []
        for run in runs:
            timing = run["timing"][student]
            outside = run["seconds"][student] - timing["span_s"]
            values.append(outside if part == "outside" else timing[part])
        return statistics.mean(values)

    def replayed(student: str, part: str) -> float:
        timing = replay["timing"][student]
        if part == "outside":
            return replay["seconds"][student] - timing["span_s"]
        return timing[part]

    means = {
        name: statistics.mean(
            mean_over_runs(student, part) - replayed(student, part) for student in students
        )
        for name, part in (
            ("cells_s", "cells_s"),
            ("between_cells_s", "between_s"),
            ("outside_cells_s", "outside"),
        )
    }
    means["grader_s"] = means["between_cells_s"] + means["outside_cells_s"]
    return {name: round(value, 2) for name, value in means.items()}


def benchmark(args, work: Path) -> dict:
    """Make the class, grade it both ways, measure the notebook's own work, compare.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.
    work : pathlib.Path
        Scratch folder for the two build folders.

    Returns
    -------
    dict
        The figures printed as the last line.
    """
    from grading.autograde.run import default_jobs

    builds, expected = make_submissions(work, args.per_kind)
    students = sorted({student for student, _, _ in expected})
    count = len(students)
    print(f"class: {count} submissions of {ASSIGNMENT} ({args.per_kind} × {CLASS_KINDS})")
    load = wait_until_quiet(max_wait_s=args.wait_quiet)

    print("\n(a) plain nbgrader autograde, serial", flush=True)
    plain = plain_nbgrader(builds["plain"])
    print(f"plain nbgrader: {plain['wall_s']:.1f} s for {count} submissions", flush=True)
    print("\n(b) cnnlab autograde", flush=True)
    cnnlab = cnnlab_autograde(builds["cnnlab"], args.jobs)
    print(f"cnnlab autograde: {cnnlab['wall_s']:.1f} s, {cnnlab['jobs']} jobs", flush=True)

    print("\nthe notebooks' own work, in plain kernels", flush=True)
    executed = [
        builds["plain"] / "autograded" / f"s00_{kind}" / ASSIGNMENT / NOTEBOOK
        for kind in CLASS_KINDS
    ]
    serial, _, _ = in_kernel(executed, jobs=1, threads=None)  # as plain nbgrader runs them
    print(f"  one at a time: {dict(zip(CLASS_KINDS, serial, strict=True))} s", flush=True)
    threads = max(1, default_jobs() // cnnlab["jobs"])  # as cnnlab autograde limits them
    replay = replay_in_kernel(builds["plain"], cnnlab, threads)
    print(
        f"  the class as cnnlab ran it ({cnnlab['jobs']} at a time, same order): "
        f"{replay['wall_s']:.1f} s",
        flush=True,
    )
    print("\n(c) cnnlab autograde again (--force), so that the replay is bracketed", flush=True)
    again = cnnlab_autograde(builds["cnnlab"], args.jobs, again=True)
    print(f"cnnlab autograde again: {again['wall_s']:.1f} s", flush=True)
    load_after = wait_until_quiet(max_wait_s=0)

    differences = compare_grades(
        {name: f"sqlite:///{build / 'gradebook.db'}" for name, build in builds.items()}, expected
    )
    plain_per_minute = count / plain["wall_s"] * 60
    cnnlab_per_minute = count / cnnlab["wall_s"] * 60
    notebook_serial = statistics.mean(serial)  # the class has as many of each kind
    # the replay ran between the two cnnlab runs: their mean cancels a steady drift
    beyond = [
        (cnnlab["seconds"][student] + again["seconds"][student]) / 2 - replay["seconds"][student]
        for student in students
    ]
    parts = overhead_parts(students, (cnnlab, again), replay)
    return {
        "benchmark": "grading_throughput",
        "assignment": ASSIGNMENT,
        "submissions": count,
        "kinds": {kind: args.per_kind for kind in CLASS_KINDS},
        "profile": "grade",
        "machine": machine_info(),
        "load_before": load,
        "load_after": {k: load_after[k] for k in ("load_1m", "load_5m", "quiet")},
        "plain": {
            **plain,
            "submissions_per_minute": round(plain_per_minute, 2),
            "wall_s_per_submission": round(plain["wall_s"] / count, 2),
            "overhead_s_per_submission": round(plain["wall_s"] / count - notebook_serial, 2),
        },
        "cnnlab": {
            **cnnlab,
            "submissions_per_minute": round(cnnlab_per_minute, 2),
            "wall_s_per_submission": round(cnnlab["wall_s"] / count, 2),
            "seconds_per_submission": round(statistics.mean(cnnlab["seconds"].values()), 2),
            "overhead_s_per_submission": round(statistics.mean(beyond), 2),
            "overhead_s_median": round(statistics.median(beyond), 2),
            "overhead_s_standard_error": round(
                statistics.stdev(beyond) / len(beyond) ** 0.5 if len(beyond) > 1 else 0.0, 2
            ),
            "overhead_parts": parts,
            "again": {
                k: again[k] for k in ("wall_s", "seconds", "timing", "grader_cpu_s_per_submission")
            },
        },
        "in_kernel": {
            "one_at_a_time_s": dict(zip(CLASS_KINDS, serial, strict=True)),
            "replay": replay,
        },
        "ratio": round(cnnlab_per_minute / plain_per_minute, 2),
        "target_ratio": TARGET_RATIO,
        "grades_identical": not differences,
        "grade_differences": differences[:50],
    }


def _print_summary(figures: dict) -> None:
    plain, cnnlab = figures["plain"], figures["cnnlab"]
    print(f"\n{figures['submissions']} submissions of {figures['assignment']}, grade profile")
    print(
        f"plain nbgrader (serial):   {plain['wall_s']:7.1f} s  "
        f"{plain['submissions_per_minute']:5.2f}/min  overhead "
        f"{plain['overhead_s_per_submission']} s per submission"
    )
    print(
        f"cnnlab ({cnnlab['jobs']} jobs):           {cnnlab['wall_s']:7.1f} s  "
        f"{cnnlab['submissions_per_minute']:5.2f}/min  overhead "
        f"{cnnlab['overhead_s_per_submission']} s per submission (median "
        f"{cnnlab['overhead_s_median']} s; the same notebooks in plain kernels, same order "
        f"and jobs: {figures['in_kernel']['replay']['wall_s']:.1f} s)"
    )
    parts = cnnlab["overhead_parts"]
    print(
        f"  of which: the cells {parts['cells_s']:+.2f} s, between cells "
        f"{parts['between_cells_s']:+.2f} s, outside the cells {parts['outside_cells_s']:+.2f} s "
        f"(standard error of the mean {cnnlab['overhead_s_standard_error']} s); the grader's own "
        f"time (between and outside the cells): {parts['grader_s']:.2f} s per submission"
    )
    print(
        f"cnnlab's own CPU (grader, warm server, grading programs; kernels apart): "
        f"{cnnlab['grader_cpu_s_per_submission']} s per submission, "
        f"{cnnlab['grader_startup_cpu_s']} s once to start"
    )
    print(f"ratio {figures['ratio']} (target ≥ {TARGET_RATIO})")
    if figures["grades_identical"]:
        print("grades identical (and as grading.demo expects)")
    else:
        print("GRADES DIFFER (benchmark failed):")
        print("\n".join("  " + line for line in figures["grade_differences"]))


def build_parser() -> argparse.ArgumentParser:
    """The command line.

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--per-kind", type=int, default=8, help=f"students of each kind {CLASS_KINDS} (8)"
    )
    parser.add_argument("--jobs", type=int, default=None, help="cnnlab autograde --jobs")
    parser.add_argument("--keep", metavar="DIR", help="keep the build folders in DIR")
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait up to S seconds for an idle machine"
    )
    return parser


def _measure(args) -> dict:
    if args.per_kind < 1:
        raise SystemExit("--per-kind must be at least 1")
    if not args.keep:
        with tempfile.TemporaryDirectory(prefix="cnnlab-bench-grading-") as folder:
            return benchmark(args, Path(folder))
    work = Path(args.keep).resolve()
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"--keep {work}: the folder is not empty; give a new one")
    work.mkdir(parents=True, exist_ok=True)
    return benchmark(args, work)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line; exit status 1 when the grades differ."""
    return script_main(
        build_parser(),
        _measure,
        _print_summary,
        argv,
        succeeded=lambda figures: figures["grades_identical"],
    )


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
