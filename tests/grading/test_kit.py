"""``cnnlab kit``: what students get, with real builds, installs, kernels and nbgrader.

The kit is built once per session from the real course (:func:`kit`). The fast tests read
it: what it holds and what it must not hold (grading code, source notebooks, data,
solutions, hidden tests), its settings, the nbgrader exchange round trip and the git
repository for nbgitpuller. The slow tests install it into a fresh virtual environment
outside the checkout (:func:`kit_venv`, built once from the kit's ``requirements.txt``
alone, and removed when this module's tests end: it holds about 2 GB) and run every
notebook there: papermill in the smoke profile, nbgrader's Validate on a filled-in copy,
and the first-cell installer.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from notebook_grading import COURSE_ROOT, course, leaked_lines, reference_answer, secret_lines
from packaging.requirements import Requirement

from grading import cli
from grading.base.installer import (
    INSTALLER_TAG,
    installer_source,
    is_installer_cell,
    strip_installer_cells,
    wheel_packages,
)
from grading.base.leaks import scan_folder
from grading.base.nbgrader_driver import load_nbgrader_config
from grading.base.regions import MARKERS
from grading.kit import KitSettings, build_kit, load_kit_settings, nbgitpuller_link
from grading.paths import CoursePaths

SETTINGS = KitSettings(github_repo="cnnlab/cnnlab-kit", hub_url="https://hub.example.edu")
#: Everything at the top of a kit besides the assignment folders.
KIT_FILES = {"README.md", "requirements.txt", "environment.yml", "nbgrader_config.py", "wheels"}
#: Environment variables that would let a process find the instructor's checkout.
CHECKOUT_VARIABLES = ("CNNLAB_ROOT", "CNNLAB_BUILD_DIR", "JUPYTER_CONFIG_PATH", "PYTHONPATH")


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """The student kit of the whole course, built once per session in a temporary build."""
    paths = course(tmp_path_factory.mktemp("kit-build"))
    return build_kit(paths, settings=SETTINGS)


def _kit_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _notebook_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- contents


@pytest.mark.slow
def test_kit_holds_the_released_notebooks_and_the_student_files(kit):
    course_paths = CoursePaths(root=COURSE_ROOT, build=kit.folder.parent)
    assignments = course_paths.assignments()
    tops = {path.name for path in kit.folder.iterdir()}
    assert tops == KIT_FILES | set(assignments)
    for assignment in assignments:
        released = sorted(p.name for p in (course_paths.release / assignment).glob("*.ipynb"))
        in_kit = sorted(p.name for p in (kit.folder / assignment).glob("*.ipynb"))
        assert in_kit == released and in_kit
    assert [path.name for path in (kit.folder / "wheels").iterdir()] == [kit.wheel.name]
    with zipfile.ZipFile(kit.archive) as archive:
        zipped = sorted(name for name in archive.namelist() if not name.endswith("/"))
    assert zipped == [f"kit/{p.relative_to(kit.folder).as_posix()}" for p in _kit_files(kit.folder)]


@pytest.mark.slow
def test_kit_notebooks_are_the_release_after_one_installer_cell(kit):
    for notebook_path in kit.notebooks:
        notebook = json.loads(_notebook_text(notebook_path))
        released_path = kit.folder.parent / "release" / notebook_path.relative_to(kit.folder)
        released = json.loads(_notebook_text(released_path))
        first, *rest = notebook["cells"]
        assert is_installer_cell(first) and INSTALLER_TAG in first["metadata"]["tags"]
        assert first["source"] == installer_source(kit.labcore_url, kit.wheel.name)
        assert not any(is_installer_cell(cell) for cell in rest)
        assert [cell["source"] for cell in rest] == [cell["source"] for cell in released["cells"]]
        assert [cell["metadata"] for cell in rest] == [
            cell["metadata"] for cell in released["cells"]
        ]
        nbformat.validate(nbformat.reads(json.dumps(notebook), as_version=4))


@pytest.mark.slow
def test_kit_leaks_nothing(kit):
    course_paths = CoursePaths(root=COURSE_ROOT, build=kit.folder.parent)
    sources = {path.name: path for path in course_paths.source_notebooks()}
    secrets = set()
    for source_path in sources.values():
        secrets |= secret_lines(nbformat.read(source_path, as_version=4))
    assert secrets, "the course's sources hold no solution or hidden-test line to look for"
    for notebook_path in kit.notebooks:
        source = nbformat.read(sources[notebook_path.name], as_version=4)
        released = nbformat.read(notebook_path, as_version=4)
        assert leaked_lines(source, released) == [], notebook_path
        assert _notebook_text(notebook_path) != _notebook_text(sources[notebook_path.name])
    source_bytes = {path.read_bytes() for path in sources.values()}
    grading_code = {
        path.read_bytes()
        for path in (COURSE_ROOT / "grading").rglob("*.py")
        if path.read_bytes().strip()  # an empty __init__.py says nothing
    }
    for path in _kit_files(kit.folder):
        relative = path.relative_to(kit.folder)
        assert path.read_bytes() not in source_bytes, f"{relative} is a source notebook"
        assert "grading" not in relative.parts and "notebooks" not in relative.parts
        assert path.suffix in {".ipynb", ".md", ".txt", ".yml", ".py", ".whl"}, relative
        if path.suffix == ".py":  # only the Validate settings, written by the kit
            assert relative.as_posix() == "nbgrader_config.py"
            assert "grading" not in path.read_text()
        if path.suffix != ".whl":
            text = path.read_text(encoding="utf-8")
            lines = {line.strip() for line in text.replace("\\n", "\n").split("\n")}
            assert not any(marker in text for marker in MARKERS), relative
            assert not (secrets & lines), (relative, sorted(secrets & lines)[:3])
    assert wheel_packages(kit.wheel) == {"labcore"}
    with zipfile.ZipFile(kit.wheel) as wheel:
        for name in wheel.namelist():  # labcore and the wheel's metadata, no grader code
            assert name.startswith(("labcore/", "cnnlab_labcore-")), name
            assert wheel.read(name) not in grading_code, name
    for assignment in {path.parent.name for path in kit.notebooks}:
        leaks, checked = scan_folder(
            course_paths, assignment, kit.folder / assignment, added_cell=is_installer_cell
        )
        assert leaks == [] and checked > 0


@pytest.mark.slow
def test_strip_installer_cells_gives_back_the_released_cells(kit):
    notebook = json.loads(kit.notebooks[0].read_text())
    released_path = kit.folder.parent / "release" / kit.notebooks[0].relative_to(kit.folder)
    released = json.loads(released_path.read_text())
    marked = dict(notebook["cells"][1], metadata={**notebook["cells"][1]["metadata"]})
    marked["metadata"]["cnnlab"] = {"kit_installer": True}  # an nbgrader cell stays
    notebook["cells"].insert(2, marked)
    assert strip_installer_cells(notebook) == 1
    assert notebook["cells"][0]["source"] == released["cells"][0]["source"]
    assert len(notebook["cells"]) == len(released["cells"]) + 1


@pytest.mark.slow
def test_a_kit_submission_without_its_installer_cell_grades_full_marks(tmp_path):
    from notebook_grading import grade_submissions, max_points

    assignment = "01_cnn_theory"
    built = build_kit(course(tmp_path / "build"), [assignment], KitSettings())
    submission = _filled_in(built.notebooks[0])
    assert strip_installer_cells(submission) == 1
    scores = grade_submissions(assignment, {"kit-student": submission}, tmp_path / "build")
    assert scores["kit-student"] == max_points(assignment)


@pytest.mark.slow
def test_kit_scan_reports_a_secret_line_in_an_added_cell(kit, tmp_path):
    course_paths = CoursePaths(root=COURSE_ROOT, build=kit.folder.parent)
    assignment = "01_cnn_theory"
    folder = tmp_path / assignment
    shutil.copytree(kit.folder / assignment, folder)
    source = nbformat.read(course_paths.source_notebooks(assignment)[0], as_version=4)
    hidden = sorted(secret_lines(source))[0]
    notebook_path = next(folder.glob("*.ipynb"))
    notebook = json.loads(notebook_path.read_text())
    notebook["cells"][0]["source"] += "\n" + hidden
    notebook_path.write_text(json.dumps(notebook))
    leaks, _ = scan_folder(course_paths, assignment, folder, added_cell=is_installer_cell)
    assert [(leak.cell_index, leak.line) for leak in leaks] == [(0, hidden)]


@pytest.mark.slow
def test_kit_requirements_install_labcore_and_the_student_tools_only(kit):
    requirements = [
        line
        for line in (kit.folder / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert requirements[0] == f"./wheels/{kit.wheel.name}"
    names = {Requirement(line).name for line in requirements[1:]}
    assert names == {"jupyterlab", "nbgrader"}
    import yaml

    environment = yaml.safe_load((kit.folder / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pip == requirements  # repo2docker: the same, and no editable install
    config = (kit.folder / "nbgrader_config.py").read_text()
    timeout = load_nbgrader_config(CoursePaths(root=COURSE_ROOT, build=kit.folder.parent))
    assert f"c.Execute.timeout = {timeout.Execute.timeout!r}" in config


@pytest.mark.slow
def test_kit_readme_is_for_students_with_a_colab_link_per_notebook(kit):
    readme = (kit.folder / "README.md").read_text()
    for notebook in kit.notebooks:
        relative = notebook.relative_to(kit.folder).as_posix()
        link = (
            f"https://colab.research.google.com/github/{SETTINGS.github_repo}/blob/"
            f"{SETTINGS.branch}/{relative}"
        )
        assert link in readme
    for step in ("## Install", "## Open", "## Validate", "## Submit", "pip install -r"):
        assert step in readme
    # nothing of the instructor's side: no checkout, no grader command
    assert "CNNLAB_ROOT" not in readme and "cnnlab lab" not in readme
    assert kit.labcore_url == (
        f"https://raw.githubusercontent.com/{SETTINGS.github_repo}/main/wheels/{kit.wheel.name}"
    )


def test_labcore_distribution_takes_its_dependencies_from_the_project():
    def normalised(text):
        parsed = Requirement(text)
        return parsed.name.lower(), str(parsed.specifier), str(parsed.marker)

    main = tomllib.loads((COURSE_ROOT / "pyproject.toml").read_text())["project"]
    labcore = tomllib.loads((COURSE_ROOT / "packaging/labcore/pyproject.toml").read_text())
    project = labcore["project"]
    assert project["name"] == "cnnlab-labcore" and project["version"] == main["version"]
    declared = {normalised(text) for text in main["dependencies"]}
    for text in project["dependencies"]:
        assert normalised(text) in declared, text
    names = {Requirement(text).name for text in project["dependencies"]}
    assert not names & {"nbgrader", "papermill", "jupyterlab"}
    assert labcore["tool"]["setuptools"]["packages"]["find"]["include"] == ["labcore*"]


@pytest.mark.slow
def test_cnnlab_lab_student_session_copies_the_kit_and_keeps_the_students_work(kit):
    from grading.student import student_copies, student_folder

    paths = CoursePaths(root=COURSE_ROOT, build=kit.folder.parent)
    own = student_folder(paths, "01_cnn_theory") / "cnn_theory.ipynb"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text("the student's answers")
    copies = student_copies(paths, ["01_cnn_theory", "02_mnist"])
    assert [copy.assignment for copy in copies] == ["01_cnn_theory", "02_mnist"]
    assert not any(copy.released_now for copy in copies)  # the kit was there already
    assert own.read_text() == "the student's answers" and own in copies[0].kept
    copied = copies[1].folder / "mnist_cnn.ipynb"
    assert copied.read_bytes() == (kit.folder / "02_mnist" / "mnist_cnn.ipynb").read_bytes()
    config = student_folder(paths) / "nbgrader_config.py"
    assert config.read_text() == (kit.folder / "nbgrader_config.py").read_text()


# ----------------------------------------------------------------------------- settings


def test_kit_settings_come_from_cnnlab_toml_and_options_win(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "cnnlab.toml").write_text(
        '[kit]\ngithub_repo = "org/kit"\nexchange_dir = "/tmp/exchange"\nhub_url = "https://h"\n'
    )
    paths = CoursePaths(root=tmp_path, build=tmp_path / "build")
    settings = load_kit_settings(paths, hub_url="https://other", wheel_url=None)
    assert settings.github_repo == "org/kit" and settings.exchange_dir == Path("/tmp/exchange")
    assert settings.hub_url == "https://other" and settings.branch == "main"
    assert (
        settings.labcore_url("w.whl")
        == "https://raw.githubusercontent.com/org/kit/main/wheels/w.whl"
    )
    assert load_kit_settings(paths, wheel_url="git+https://x/y").labcore_url("w.whl") == (
        "git+https://x/y"
    )
    (tmp_path / "cnnlab.toml").write_text('[kit]\nhub = "https://h"\n')
    with pytest.raises(ValueError, match=r"cnnlab\.toml: unknown setting 'hub' in \[kit\]"):
        load_kit_settings(paths)


def test_nbgitpuller_link_names_the_repository_branch_and_folder():
    link = nbgitpuller_link(
        SETTINGS, "https://github.com/cnnlab/cnnlab-kit.git", "02_mnist/a.ipynb"
    )
    assert link == (
        "https://hub.example.edu/hub/user-redirect/git-pull?"
        "repo=https%3A%2F%2Fgithub.com%2Fcnnlab%2Fcnnlab-kit.git&branch=main"
        "&urlpath=lab%2Ftree%2Fcnnlab-kit%2F02_mnist%2Fa.ipynb"
    )


# ----------------------------------------------------------------------- JupyterHub, git


def _student_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARIABLES}
    env["HOME"] = str(home)
    return env


@pytest.mark.slow
def test_exchange_round_trip_release_fetch_submit_collect(kit, tmp_path, monkeypatch, capsys):
    from grading.collect import collect_from_exchange

    paths = CoursePaths(root=COURSE_ROOT, build=kit.folder.parent)
    monkeypatch.setenv("CNNLAB_ROOT", str(paths.root))
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(paths.build))
    exchange = tmp_path / "exchange"
    assignment = "01_cnn_theory"
    course_id = load_nbgrader_config(paths).CourseDirectory.course_id
    assert cli.main(["release", assignment, "--exchange", str(exchange)]) == 0
    outbound = exchange / course_id / "outbound" / assignment
    assert f"published {assignment} to nbgrader's exchange: {outbound}" in capsys.readouterr().out

    home = tmp_path / "student"
    home.mkdir()
    (home / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
    )
    nbgrader = [sys.executable, "-m", "nbgrader"]
    env = _student_environment(home)
    for step in (["fetch_assignment", assignment], ["list"]):
        result = subprocess.run(
            nbgrader + step, cwd=home, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    assert assignment in result.stdout + result.stderr
    fetched = next((home / assignment).glob("*.ipynb"))
    notebook = nbformat.read(fetched, as_version=4)
    solution = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution"))
    solution.source = "# my answer\n" + solution.source
    nbformat.write(notebook, fetched)
    result = subprocess.run(
        [*nbgrader, "submit", assignment],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    student = getpass.getuser()  # nbgrader's identity of the submitting user
    assert cli.main(["collect", "--exchange", str(exchange)]) == 0
    printed = capsys.readouterr().out
    assert f"{student}:" in printed and f"collected   {assignment}/{fetched.name}" in printed
    collected = paths.submitted / student / assignment / fetched.name
    assert "# my answer" in collected.read_text()
    assert (collected.parent / "timestamp.txt").is_file()
    again = collect_from_exchange(exchange, paths, [assignment])
    assert again.collected == []  # the same submission is not collected twice


@pytest.mark.slow
def test_cnnlab_release_kit_also_writes_the_kit(tmp_path, monkeypatch, capsys):
    build = tmp_path / "build"
    monkeypatch.setenv("CNNLAB_ROOT", str(COURSE_ROOT))
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(build))
    assert cli.main(["release", "01_cnn_theory", "--kit"]) == 0
    printed = capsys.readouterr().out
    assert "released 01_cnn_theory" in printed and f"student kit: {build / 'kit'}" in printed
    assert {path.name for path in (build / "kit").iterdir()} == KIT_FILES | {"01_cnn_theory"}
    assert (build / "kit.zip").is_file()


@pytest.mark.slow
def test_kit_git_commits_a_repository_whose_clone_is_the_kit(tmp_path):
    repository = tmp_path / "kit-repo"
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARIABLES}
    env["CNNLAB_BUILD_DIR"] = str(tmp_path / "build")
    command = [
        sys.executable,
        "-m",
        "grading.cli",
        "kit",
        "01_cnn_theory",
        "--git",
        str(repository),
        "--hub-url",
        "https://hub.example.edu",
    ]
    for _ in range(2):  # a second run with an unchanged kit commits nothing new
        result = subprocess.run(
            command, cwd=COURSE_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
    settings = load_kit_settings(
        CoursePaths(root=COURSE_ROOT, build=tmp_path / "build"), hub_url="https://hub.example.edu"
    )
    link = nbgitpuller_link(settings, settings.clone_url(repository))
    assert f"nbgitpuller link: {link}" in result.stdout.splitlines()
    log = subprocess.run(
        ["git", "log", "--oneline"], cwd=repository, capture_output=True, text=True, check=True
    )
    assert len(log.stdout.splitlines()) == 1
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repository), str(clone)], check=True)
    kit_folder = tmp_path / "build" / "kit"
    expected = {p.relative_to(kit_folder): p.read_bytes() for p in _kit_files(kit_folder)}
    cloned = {
        p.relative_to(clone): p.read_bytes() for p in _kit_files(clone) if ".git" not in p.parts
    }
    assert cloned == expected and Path("01_cnn_theory/cnn_theory.ipynb") in cloned


# ------------------------------------------------------------------ a student's computer


def _run(command, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def kit_venv(kit, tmp_path_factory):
    """A fresh virtual environment outside the checkout, from the kit's requirements alone.

    Made with the base interpreter (not the course's .venv) in a temporary folder, then
    ``pip install -r requirements.txt`` in the kit's folder, as the kit's README says
    (pip's cache makes it about a minute). Prints how long that took. Removed when this
    module's tests end: TensorFlow makes it about 2.2 GB, and the rest of the run does not
    need that disk taken.
    """
    folder = tmp_path_factory.mktemp("kit-venv")
    base_python = Path(getattr(sys, "_base_executable", "") or sys.executable)
    env = _student_environment(folder)
    env["HOME"] = os.environ.get("HOME", str(folder))  # pip's cache
    started = time.monotonic()
    _run([str(base_python), "-m", "venv", str(folder / "venv")], env=env)
    python = folder / "venv" / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        cwd=kit.folder,
        env=env,
        timeout=1200,
    )
    print(f"\nkit venv: created and installed in {time.monotonic() - started:.1f} s")
    yield python
    shutil.rmtree(folder, ignore_errors=True)


def _kit_environment(home: Path) -> dict[str, str]:
    env = _student_environment(home)
    env["HOME"] = os.environ.get("HOME", str(home))
    env["LABCORE_PROFILE"] = "smoke"
    env.pop("MPLBACKEND", None)
    return env


@pytest.mark.slow
def test_kit_installs_without_the_grader(kit_venv, tmp_path):
    env = _kit_environment(tmp_path)
    probe = _run(
        [str(kit_venv), "-c", "import labcore, nbgrader; print(labcore.__file__)"],
        cwd=tmp_path,
        env=env,
    )
    assert Path(probe.stdout.strip()).is_relative_to(kit_venv.parent.parent)
    missing = subprocess.run(
        [str(kit_venv), "-c", "import grading"], cwd=tmp_path, env=env, capture_output=True
    )
    assert missing.returncode != 0 and b"ModuleNotFoundError" in missing.stderr
    assert not (kit_venv.parent / "cnnlab").exists()
    installed = _run([str(kit_venv), "-m", "pip", "list", "--format=json"], env=env)
    names = {item["name"] for item in json.loads(installed.stdout)}
    assert "cnnlab-labcore" in names and "cnnlab" not in names and "papermill" not in names


def _filled_in(notebook_path: Path) -> nbformat.NotebookNode:
    """A kit notebook with the reference solution in every code answer cell, and text in
    every written answer."""
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = reference_answer(notebook_path.parent.name, meta["grade_id"])
        elif meta.get("solution"):
            cell.source = "A student's written answer."
    return notebook


@pytest.fixture(scope="module")
def kit_work(kit, kit_venv, tmp_path_factory):
    """A student's copy of the kit with every notebook filled in."""
    work = tmp_path_factory.mktemp("kit-work") / "kit"
    shutil.copytree(kit.folder, work)
    for notebook_path in sorted(work.glob("*/*.ipynb")):
        nbformat.write(_filled_in(notebook_path), notebook_path)
    return work


@pytest.mark.slow
def test_every_kit_notebook_runs_headless_in_the_kit_venv(kit, kit_venv, kit_work, tmp_path):
    kernels = tmp_path / "jupyter" / "kernels" / "kit-python"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(kit_venv), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "kit venv",
                "language": "python",
            }
        )
    )
    env = _kit_environment(tmp_path)
    env["JUPYTER_PATH"] = str(tmp_path / "jupyter")
    for notebook_path in sorted(kit_work.glob("*/*.ipynb")):
        output = tmp_path / notebook_path.name
        papermill = ["-k", "kit-python", "--cwd", str(notebook_path.parent), "--log-level", "ERROR"]
        _run(
            [sys.executable, "-m", "papermill", str(notebook_path), str(output), *papermill],
            cwd=tmp_path,
            env=env,
            timeout=900,
        )
        executed = nbformat.read(output, as_version=4)
        errors = [
            output
            for cell in executed.cells
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"
        ]
        assert errors == [], notebook_path.name
        assert executed.cells[0].metadata.get("cnnlab", {}).get("kit_installer")
        assert executed.cells[0].outputs == []  # labcore installed: the installer did nothing


@pytest.mark.slow
def test_validate_in_the_kit_venv_reports_success_on_a_filled_in_copy(kit_venv, kit_work):
    nbgrader = kit_venv.parent / "nbgrader"
    env = _kit_environment(kit_work)
    for notebook_path in sorted(kit_work.glob("*/*.ipynb")):
        result = _run(
            [str(nbgrader), "validate", notebook_path.relative_to(kit_work).as_posix()],
            cwd=kit_work,  # where the kit's nbgrader_config.py is, as the README says
            env=env,
            timeout=900,
        )
        assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout


@pytest.mark.slow
def test_first_cell_installs_labcore_where_missing_and_does_nothing_where_present(
    kit, kit_venv, tmp_path
):
    env = _kit_environment(tmp_path)
    wheel_url = kit.wheel.resolve().as_uri()
    kit_cell = json.loads(kit.notebooks[0].read_text())["cells"][0]["source"]

    def has_labcore() -> bool:
        probe = [str(kit_venv), "-c", "import labcore"]
        return subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True).returncode == 0

    def run_cell(source: str, cwd: Path) -> str:
        # what a kernel does with the cell, then a fresh import as the next cell would
        code = source + "\nimport labcore\nprint('labcore from', labcore.__file__)"
        return _run([str(kit_venv), "-c", code], cwd=cwd, env=env, timeout=600).stdout

    try:
        _run([str(kit_venv), "-m", "pip", "uninstall", "--yes", "cnnlab-labcore"], env=env)
        assert not has_labcore()
        # Colab: no kit next to the notebook, the course's URL (here file://)
        output = run_cell(installer_source(wheel_url, kit.wheel.name), tmp_path)
        assert f"Installing labcore from {wheel_url}" in output
        assert has_labcore()
        # present: nothing happens, not even with a URL that does not exist
        output = run_cell(installer_source("file:///nonexistent/x.whl", "x.whl"), tmp_path)
        assert output.startswith("labcore from") and "Installing" not in output
        # Binder: the kit's own wheel next to the notebook, with the kit notebook's own cell
        _run([str(kit_venv), "-m", "pip", "uninstall", "--yes", "cnnlab-labcore"], env=env)
        output = run_cell(kit_cell, kit.notebooks[0].parent)
        assert f"Installing labcore from {kit.wheel.resolve()}" in output
        assert run_cell(kit_cell, tmp_path).startswith("labcore from")
    finally:
        if not has_labcore():
            _run([str(kit_venv), "-m", "pip", "install", "--no-deps", str(kit.wheel)], env=env)
