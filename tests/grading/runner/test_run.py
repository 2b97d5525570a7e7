"""``cnnlab run``: papermill execution in real kernels, summaries, failures and timeouts.

The notebooks are the light fixtures in ``tests/fixtures/runner`` (see ``make_fixtures.py``
there); only ``06_keras_runtime`` imports Keras.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import nbformat
import psutil
import pytest

from grading import cli
from grading.errors import BadInput, UnknownAssignment
from grading.paths import CoursePaths, find_notebooks
from grading.runner.results import CellError, NotebookResult, collect_metrics, find_error_cell
from grading.runner.run import kernel_environment, parse_parameter_value, run_notebooks
from grading.runner.summary import RunSummary, earlier_results
from labcore.runtime import METRICS_MIMETYPE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "runner"
PARAMETERS = FIXTURES / "01_parameters" / "parameters.ipynb"
FAILING = FIXTURES / "02_failing" / "failing.ipynb"
INFINITE_LOOP = FIXTURES / "03_infinite_loop" / "infinite_loop.ipynb"
SLEEP_A = FIXTURES / "04_sleep_a" / "sleep.ipynb"
SLEEP_B = FIXTURES / "05_sleep_b" / "sleep.ipynb"
KERAS_RUNTIME = FIXTURES / "06_keras_runtime" / "keras_runtime.ipynb"


def _summary_json(folder: Path) -> dict[str, dict]:
    summary = json.loads((folder / "summary.json").read_text())
    return {row["name"]: row for row in summary["notebooks"]}


# --------------------------------------------------------------------------- real kernels


@pytest.mark.slow
def test_failing_notebook_fails_the_run_and_the_others_complete(tmp_path, capsys):
    status = cli.main(
        [
            "run",
            str(PARAMETERS),
            str(FAILING),
            str(SLEEP_A),
            "-p",
            "SECONDS",
            "1",
            "--profile",
            "smoke",
            "--jobs",
            "2",
            "--output",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert status == 1
    errors = captured.err
    assert "FAILED: tests/fixtures/runner/02_failing/failing.ipynb" in errors
    assert "cell 3 [test_deliberate_failure]" in errors
    assert "ValueError: deliberate failure for the runner test" in errors

    rows = _summary_json(tmp_path)
    assert rows["01_parameters/parameters"]["status"] == "ok"
    assert rows["04_sleep_a/sleep"]["status"] == "ok"
    failed = rows["02_failing/failing"]
    assert failed["status"] == "failed"
    assert failed["error"]["cell_index"] == 3
    assert failed["error"]["grade_id"] == "test_deliberate_failure"
    assert failed["error"]["ename"] == "ValueError"
    # metrics recorded before the failure are kept; the cells after it never ran
    assert failed["metrics"] == {"before_failure": 1}
    for row in rows.values():
        assert Path(row["executed"]).is_file() and Path(row["log"]).is_file()
    markdown = (tmp_path / "summary.md").read_text()
    assert "| `02_failing/failing` | failed |" in markdown
    assert "test_deliberate_failure" in markdown

    # running one notebook again merges into the summary: newest run wins, the others stay
    output = ["--profile", "smoke", "--output", str(tmp_path)]
    assert cli.main(["run", str(PARAMETERS), "-p", "SECONDS", "1", *output]) == 0
    merged = _summary_json(tmp_path)
    assert list(merged) == ["01_parameters/parameters", "02_failing/failing", "04_sleep_a/sleep"]
    again, before = merged["01_parameters/parameters"], rows["01_parameters/parameters"]
    assert again["finished"] > before["finished"]
    assert merged["02_failing/failing"] == failed
    assert merged["04_sleep_a/sleep"] == rows["04_sleep_a/sleep"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ran"] == ["01_parameters/parameters"] and summary["ok"] is False
    markdown = (tmp_path / "summary.md").read_text()
    assert "2 of 3 ok; this run: 1 notebook(s) in" in markdown
    sleep_ran = merged["04_sleep_a/sleep"]["finished"][:16].replace("T", " ")
    assert f"| {sleep_ran} |" in markdown


@pytest.mark.slow
def test_parameters_environment_and_metrics_reach_the_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABCORE_DATA_DIR", "relative-data")  # made absolute for the kernel
    status = cli.main(
        [
            "run",
            str(PARAMETERS),
            "-p",
            "GREETING",
            "bonjour",
            "-p",
            "REPEATS",
            "3",
            "-p",
            "RATE",
            "0.5",
            "--profile",
            "smoke",
            "--output",
            "out",
        ]
    )
    assert status == 0, capsys.readouterr()
    output = tmp_path / "out"
    row = _summary_json(output)["01_parameters/parameters"]
    metrics = row["metrics"]
    assert metrics["shout"] == "BONJOUR BONJOUR BONJOUR"
    assert metrics["repeats"] == 3 and metrics["repeats_type"] == "int"
    assert metrics["rate"] == 0.5
    assert metrics["greeting"] == "bonjour"
    assert metrics["stage"] == "final"  # the later record wins
    assert metrics["profile"] == "smoke" and metrics["env_profile"] == "smoke"
    assert metrics["papermill_execution"] == "1" and metrics["mplbackend"] == "Agg"
    assert metrics["cwd"] == str(PARAMETERS.parent)
    assert metrics["data_dir"] == str(tmp_path / "relative-data")
    assert row["status"] == "ok" and row["profile"] == "smoke"
    assert row["backend"] is None and row["device"] is None  # this notebook never used Keras
    markdown = (output / "summary.md").read_text()
    assert "| notebook | status | seconds | profile | backend | device | metrics |" in markdown
    assert "shout = BONJOUR BONJOUR BONJOUR" in markdown
    executed = nbformat.read(output / "01_parameters" / "parameters.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert 'GREETING = "bonjour"' in injected[0].source


@pytest.mark.slow
def test_timeout_stops_the_notebook_and_its_kernel(tmp_path, monkeypatch):
    temporary = tmp_path / "tmp"  # the system's temporary folder, for the runner and its worker
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    folder = tmp_path / "03_infinite_loop"
    shutil.copytree(INFINITE_LOOP.parent, folder)
    pid_file = tmp_path / "kernel.pid"
    summary = run_notebooks(
        [folder / INFINITE_LOOP.name],
        parameters={"PID_FILE": str(pid_file)},
        timeout=20,
        output_dir=tmp_path / "out",
        progress=False,
    )
    result = summary.results[0]
    assert result.status == "timeout"
    assert 20 <= result.seconds < 60
    assert result.error.cell_index == 2 and result.error.ename == "Timeout"
    kernel_pid = int(pid_file.read_text())
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == "zombie"
    left = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if process.info["status"] != "zombie" and process.cwd() == str(folder):
                left.append(process.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert left == [], f"processes still running in the notebook's folder: {left}"
    assert list(temporary.iterdir()) == []  # the killed worker's kernel connection file too
    assert not summary.ok
    assert "timeout" in (tmp_path / "out" / "summary.md").read_text()


def _kernel_interval(result: NotebookResult) -> tuple[float, float]:
    return result.metrics["kernel_start"], result.metrics["kernel_end"]


@pytest.mark.slow
def test_jobs_two_runs_two_notebooks_at_once(tmp_path):
    together = run_notebooks(
        [SLEEP_A, SLEEP_B],
        parameters={"SECONDS": 3},
        jobs=2,
        output_dir=tmp_path / "two",
        progress=False,
    )
    assert together.ok, [r.problem() for r in together.results]
    (start_a, end_a), (start_b, end_b) = map(_kernel_interval, together.results)
    assert start_a < end_b and start_b < end_a  # the two kernels slept at the same time
    assert together.results[0].metrics["pid"] != together.results[1].metrics["pid"]
    # two notebooks with the same file name do not overwrite each other
    assert [r.name for r in together.results] == ["04_sleep_a/sleep", "05_sleep_b/sleep"]
    assert all(Path(r.executed).is_file() for r in together.results)

    one_by_one = run_notebooks(
        [SLEEP_A, SLEEP_B],
        parameters={"SECONDS": 1},
        jobs=1,
        output_dir=tmp_path / "one",
        progress=False,
    )
    (start_a, end_a), (start_b, end_b) = map(_kernel_interval, one_by_one.results)
    assert end_a < start_b  # the control: with one job they run in turn


@pytest.mark.slow
def test_a_dead_kernel_fails_only_its_own_notebook(tmp_path):
    summary = run_notebooks(
        [FIXTURES / "08_kernel_dies" / "kernel_dies.ipynb", PARAMETERS],
        jobs=2,
        timeout=120,
        output_dir=tmp_path,
        progress=False,
    )
    died, survivor = summary.results
    assert survivor.ok, survivor.problem()
    assert died.status == "failed"
    assert died.error.ename == "DeadKernelError"
    assert died.error.cell_index == 3 and died.error.first_line == "import os"
    assert died.problem().startswith("cell 3: import os -> DeadKernelError: the kernel died")


@pytest.mark.slow
def test_backend_and_device_come_from_the_kernel_even_after_a_failure(tmp_path):
    summary = run_notebooks(
        [KERAS_RUNTIME],
        profile="smoke",
        parameters={"FAIL": True},
        output_dir=tmp_path,
        progress=False,
    )
    result = summary.results[0]
    assert result.status == "failed"
    assert result.error.cell_index == 3 and result.error.ename == "RuntimeError"
    # the report cell ran in the same kernel after the failing cell
    assert result.backend == "tensorflow"
    assert result.device in {"CPU", "GPU"} and result.device_name
    assert result.metrics == {"total": 6.0, "backend_seen": "tensorflow"}
    row = summary.to_markdown().splitlines()[4]
    assert "| tensorflow |" in row and f"| {result.device_label()} |" in row
    executed = nbformat.read(result.executed, as_version=4)
    assert "cnnlab-runner" in executed.cells[-1].metadata["tags"]


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("True", True),
        ("false", False),
        ("None", None),
        ("null", None),
        ("smoke", "smoke"),
        ("/data/chest_xray", "/data/chest_xray"),
    ],
)
def test_parameter_values_are_parsed_like_papermill(text, value):
    parsed = parse_parameter_value(text)
    assert parsed == value and type(parsed) is type(value)


def _course(tmp_path: Path, *fixtures: Path) -> CoursePaths:
    for notebook in fixtures:
        target = tmp_path / "notebooks" / notebook.parent.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, target / notebook.name)
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    return CoursePaths(root=tmp_path, build=tmp_path / "build")


def test_find_notebooks_takes_files_folders_and_assignment_names(tmp_path):
    paths = _course(tmp_path, PARAMETERS, FAILING)
    by_name = find_notebooks(["02_failing"], paths)
    assert by_name == [(tmp_path / "notebooks" / "02_failing" / "failing.ipynb").resolve()]
    everything = find_notebooks(None, paths)
    assert [p.parent.name for p in everything] == ["01_parameters", "02_failing"]
    assert find_notebooks([PARAMETERS, PARAMETERS.parent], paths) == [PARAMETERS]
    # a folder is searched below, as `cnnlab check` always did
    assert find_notebooks([tmp_path / "notebooks"], paths) == everything
    with pytest.raises(UnknownAssignment, match=r"'03_missing'.*01_parameters, 02_failing"):
        find_notebooks(["03_missing"], paths)
    with pytest.raises(FileNotFoundError, match="neither a notebook nor a folder"):
        find_notebooks([tmp_path / "03_missing" / "x.ipynb"], paths)
    (tmp_path / "notes.txt").write_text("not a notebook")
    with pytest.raises(FileNotFoundError, match="is not a notebook"):
        find_notebooks([tmp_path / "notes.txt"], paths)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds no \.ipynb notebooks"):
        find_notebooks([tmp_path / "empty"], paths)


def test_find_notebooks_fails_clearly_without_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="No notebooks found"):
        find_notebooks(None, _course(tmp_path))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"profile": "huge"}, "Unknown profile"),
        ({"jobs": 0}, "jobs must be"),
        ({"timeout": -1}, "timeout must be"),
        ({"parameters": {"PROFILE": "smoke"}}, "--profile"),
        ({"parameters": {"X": object()}}, "plain JSON"),
    ],
)
def test_run_notebooks_rejects_bad_input_before_running(tmp_path, arguments, message):
    with pytest.raises(BadInput, match=message):
        run_notebooks([PARAMETERS], output_dir=tmp_path, progress=False, **arguments)
    assert not (tmp_path / "summary.json").exists()


def test_two_notebooks_that_would_collide_are_refused(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder / "01_same").mkdir(parents=True)
        shutil.copy(PARAMETERS, tmp_path / folder / "01_same" / "parameters.ipynb")
    notebooks = [tmp_path / f / "01_same" / "parameters.ipynb" for f in ("a", "b")]
    with pytest.raises(BadInput, match="would both be written as 01_same/parameters"):
        run_notebooks(notebooks, output_dir=tmp_path / "out", progress=False)


def test_cli_reports_an_unknown_notebook(capsys):
    assert cli.main(["run", "no_such_notebook.ipynb"]) == 2
    assert "no_such_notebook.ipynb" in capsys.readouterr().err


def test_kernel_environment_makes_data_folders_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABCORE_DATA_MIRROR", "mirror")
    env = kernel_environment("grade", {"KERAS_BACKEND": "jax"})
    assert env["LABCORE_DATA_MIRROR"] == str(tmp_path / "mirror")
    assert env["LABCORE_PROFILE"] == "grade" and env["KERAS_BACKEND"] == "jax"
    assert env["PAPERMILL_EXECUTION"] == "1" and env["MPLBACKEND"] == "Agg"


# --------------------------------------------------------------------------- reading results


def _metrics_output(values: dict) -> dict:
    return nbformat.v4.new_output(
        "display_data", data={METRICS_MIMETYPE: values, "text/plain": str(values)}
    )


def _executed_notebook() -> nbformat.NotebookNode:
    """An executed notebook as papermill writes it: error banner, injected parameters."""
    banner = nbformat.v4.new_markdown_cell("An Exception was encountered")
    banner.metadata["tags"] = ["papermill-error-cell-tag"]
    parameters = nbformat.v4.new_code_cell("PROFILE = None")
    parameters.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('PROFILE = "smoke"')
    injected.metadata["tags"] = ["injected-parameters"]
    first = nbformat.v4.new_code_cell("record(a=1, b=1)")
    first.outputs = [_metrics_output({"a": 1, "b": 1})]
    second = nbformat.v4.new_code_cell("\n\nrecord(b=2)\nboom()")
    second.metadata["nbgrader"] = {"grade_id": "test_boom"}
    second.outputs = [
        _metrics_output({"b": 2}),
        nbformat.v4.new_output("error", ename="NameError", evalue="boom", traceback=[]),
    ]
    return nbformat.v4.new_notebook(cells=[banner, parameters, injected, first, second])


def test_collect_metrics_keeps_the_latest_value_of_each_name():
    assert collect_metrics(_executed_notebook()) == {"a": 1, "b": 2}


def test_find_error_cell_counts_cells_of_the_source_notebook():
    error = find_error_cell(_executed_notebook())
    assert (error.cell_index, error.grade_id) == (2, "test_boom")
    assert (error.ename, error.evalue, error.first_line) == ("NameError", "boom", "record(b=2)")
    assert error.describe() == "cell 2 [test_boom]: record(b=2) -> NameError: boom"


def test_find_error_cell_names_the_last_cell_that_started():
    notebook = _executed_notebook()
    notebook.cells[-1].outputs = []
    assert find_error_cell(notebook) is None
    for cell in notebook.cells[1:]:
        cell.metadata["papermill"] = {"start_time": "2026-01-01T00:00:00"}
    error = find_error_cell(notebook)
    assert (error.cell_index, error.grade_id, error.ename) == (2, "test_boom", "")
    notebook.cells[-1].metadata["papermill"] = {"start_time": None}
    assert find_error_cell(notebook).cell_index == 1


def test_find_error_cell_blames_injected_parameters():
    notebook = _executed_notebook()
    notebook.cells[-1].outputs = []
    notebook.cells[2].outputs = [
        nbformat.v4.new_output("error", ename="SyntaxError", evalue="bad value", traceback=[])
    ]
    error = find_error_cell(notebook)
    assert error.cell_index is None and error.ename == "SyntaxError"
    assert error.cell_label() == "the parameters injected by papermill"


def test_an_unreadable_summary_is_replaced_not_merged(tmp_path):
    (tmp_path / "summary.json").write_text("{not json")
    assert earlier_results(tmp_path / "summary.json") == []
    assert earlier_results(tmp_path / "missing.json") == []


def test_summary_markdown_escapes_pipes_and_lists_problems(tmp_path):
    ok = NotebookResult("01_a/a", "a.ipynb", "ok", 1.0, "smoke", metrics={"note": "x|y"})
    gpu = NotebookResult(
        "02_b/b", "b.ipynb", "ok", 2.0, "full", backend="jax", device="GPU", device_name="H100"
    )
    failed = NotebookResult(
        "03_c/c",
        "c.ipynb",
        "failed",
        3.0,
        "smoke",
        error=CellError(cell_index=4, grade_id="test_c", ename="KeyError", evalue="'k'"),
    )
    died = NotebookResult(
        "04_d/d",
        "d.ipynb",
        "failed",
        4.0,
        "smoke",
        message="DeadKernelError: the kernel died",
        error=CellError(ename="DeadKernelError", evalue="the kernel died"),
    )
    summary = RunSummary("smoke", [ok, gpu, failed, died], 10.0, 2, tmp_path)
    markdown = summary.to_markdown()
    assert "- `04_d/d` (failed): DeadKernelError: the kernel died" in markdown
    assert "2 of 4 ok in 10.0 s." in markdown
    assert "note = x\\|y" in markdown
    assert "| `02_b/b` | ok | 2.0 | full | jax | H100 |" in markdown
    assert "- `03_c/c` (failed): cell 4 [test_c] -> KeyError: 'k'" in markdown
    json_path, markdown_path = summary.write()
    written = json.loads(json_path.read_text())
    assert written["ok"] is False and written["notebooks"][2]["error"]["grade_id"] == "test_c"
    assert markdown_path.read_text() == markdown


# --------------------------------------------------------------------------- CI workflows


def _workflow(name: str) -> dict:
    import yaml

    return yaml.safe_load((FIXTURES.parents[2] / ".github" / "workflows" / name).read_text())


def _run_lines(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_cpu_workflow_runs_the_ci_script_with_python_311_and_system_packages():
    [job] = _workflow("ci.yml")["jobs"].values()
    assert job["container"].startswith("python:3.11")
    commands = _run_lines(job)
    assert "apt-get install" in commands and "chromium" in commands and "postgresql" in commands
    assert "bash .ci/run" in commands
    assert "../shared/data" in commands  # where .ci/run points LABCORE_DATA_MIRROR
    assert any(step.get("uses", "").startswith("actions/checkout") for step in job["steps"])


def test_gpu_workflow_runs_the_full_profile_on_jax_and_keeps_the_results():
    [job] = _workflow("gpu.yml")["jobs"].values()
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert job["env"]["KERAS_BACKEND"] == "jax"
    commands = _run_lines(job)
    assert '".[jax]" "jax[cuda12]"' in commands
    assert "cnnlab run --profile full" in commands
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert upload["with"]["path"] == "build/executed"
