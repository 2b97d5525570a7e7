"""``cnnlab kit``: what students get, a self-contained folder without the instructor's side.

:func:`build_kit` releases the assignments (:func:`grading.release.release_assignments`,
which proves nothing leaked) and writes ``build/kit/``, zipped as ``build/kit.zip``::

    README.md            install, open, Validate, submit; "Open in Colab" per notebook
    requirements.txt     pip install -r requirements.txt: labcore's wheel, JupyterLab, nbgrader
    environment.yml      the same for conda and repo2docker (Binder); no editable install
    nbgrader_config.py   the settings Validate needs (cell timeout, ignored log lines)
    wheels/cnnlab_labcore-<version>-py3-none-any.whl
    <assignment>/...     the released notebooks and their files

The kit holds no grading code, no source notebook and no data (notebooks fetch data from
the registry's official URLs, checksums verified). ``labcore`` travels as its own
distribution, ``cnnlab-labcore``, built from this tree (``packaging/labcore/pyproject.toml``
and the checkout's ``labcore/``), so students never install the grader.

Each released notebook gets one code cell first, the installer (:func:`installer_source`):
where ``labcore`` is not importable (Colab, a bare Binder) it pip-installs the kit's wheel,
from ``../wheels/`` next to the notebook if there, else from the course's ``wheel_url``; with
labcore installed (a laptop with the requirements, JupyterHub, the grader) it does nothing.

The finished kit is leak-scanned like a release: every assignment folder with
:func:`grading.release.scan_folder` (the installer cell left out of the cell matching), and
every other file with :func:`grading.release.scan_other_files`; the wheel must hold labcore
alone, and its files no delimiter (labcore is public course code: it shares generic lines
such as ``return keras.Sequential(`` with solutions). A leak removes the kit and fails.

``--git DIR`` also commits the kit to a git repository that students pull (nbgitpuller),
and prints the nbgitpuller link for the course's hub.

Course settings (GitHub repository, wheel URL, exchange, hub) are read by
:mod:`grading.base.kit_settings` from the ``[kit]`` table of ``cnnlab.toml``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from grading.base.kit_settings import (
    WHEELS_DIR,
    KitSettings,
    load_kit_settings,
    nbgitpuller_link,
    student_readme,
)
from grading.errors import BadInput
from grading.options import add_assignments_argument, add_gradebook_option
from grading.paths import CoursePaths, course_paths

__all__ = [
    "INSTALLER_TAG",
    "Kit",
    "KitSettings",
    "StudentCopy",
    "build_kit",
    "build_labcore_wheel",
    "commit_kit",
    "installer_source",
    "is_installer_cell",
    "kit_folder",
    "load_kit_settings",
    "nbgitpuller_link",
    "prepare_student_folder",
    "print_kit",
    "release_main",
    "strip_installer_cells",
    "student_copies",
    "student_folder",
    "wheel_packages",
]

#: Tag and metadata key of the installer cell :func:`build_kit` puts first in each notebook.
INSTALLER_TAG = "cnnlab-kit-installer"
#: The checkout this package sits in: ``packaging/labcore/`` describes the labcore wheel.
CHECKOUT = Path(__file__).resolve().parent.parent
LABCORE_PROJECT = CHECKOUT / "packaging" / "labcore" / "pyproject.toml"
#: What students need besides labcore; their version ranges come from pyproject.toml.
STUDENT_TOOLS = ("jupyterlab", "nbgrader")
#: nbgrader settings the kit's ``nbgrader_config.py`` copies from the course's.
VALIDATE_SETTINGS = (
    ("Execute", "timeout"),
    ("Execute", "kernel_name"),
    ("Execute", "iopub_timeout"),
    ("IgnorePattern", "enabled"),
    ("IgnorePattern", "pattern"),
)
#: The time stamp of every file in the wheel (1980-01-01, the earliest a zip file holds).
WHEEL_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class Kit:
    """A built student kit.

    Attributes
    ----------
    folder : pathlib.Path
        ``build/kit/``.
    archive : pathlib.Path
        ``build/kit.zip``.
    wheel : pathlib.Path
        labcore's wheel in the kit.
    released : tuple of grading.release.ReleasedAssignment
        The releases the kit was made from.
    notebooks : tuple of pathlib.Path
        The kit's notebooks.
    labcore_url : str or None
        Where the installer cell installs labcore from outside the kit.
    settings : KitSettings
        The settings it was built with.
    """

    folder: Path
    archive: Path
    wheel: Path
    released: tuple
    notebooks: tuple[Path, ...]
    labcore_url: str | None
    settings: KitSettings


def kit_folder(paths: CoursePaths) -> Path:
    """Where :func:`build_kit` writes the kit.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    pathlib.Path
        ``build/kit/``.
    """
    return paths.build / "kit"


def _project_dependencies() -> dict[str, str]:
    """The main project's dependencies by lower-case name."""
    from packaging.requirements import Requirement

    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))
    return {Requirement(text).name.lower(): text for text in project["project"]["dependencies"]}


def build_labcore_wheel(destination: Path) -> Path:
    """Build the ``cnnlab-labcore`` wheel: labcore alone, with only what it imports.

    ``packaging/labcore/pyproject.toml`` and this checkout's ``labcore/`` are copied into a
    temporary folder and built there with ``pip wheel`` (no dependencies downloaded; pip
    fetches the build backend, setuptools, as for any build). The same sources give the
    same wheel, byte for byte.

    Parameters
    ----------
    destination : pathlib.Path
        The folder for the wheel; created if missing.

    Returns
    -------
    pathlib.Path
        The wheel, e.g. ``cnnlab_labcore-0.1.0-py3-none-any.whl``.

    Raises
    ------
    FileNotFoundError
        If this is not a checkout of CNN Lab (no ``packaging/labcore/pyproject.toml``).
    grading.errors.CommandFailed
        If the build fails; the message holds pip's output.
    """
    from grading.errors import CommandFailed

    if not LABCORE_PROJECT.is_file():
        raise FileNotFoundError(
            f"{LABCORE_PROJECT} is missing: build the kit from a checkout of CNN Lab."
        )
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labcore-wheel-") as staging:
        stage = Path(staging) / "cnnlab-labcore"
        shutil.copytree(
            CHECKOUT / "labcore",
            stage / "labcore",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        shutil.copy2(LABCORE_PROJECT, stage / "pyproject.toml")
        out = Path(staging) / "dist"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
            cwd=stage,
            # the same sources give the same wheel, byte for byte (a kit repository then
            # changes only when the course does)
            env={**os.environ, "SOURCE_DATE_EPOCH": WHEEL_DATE_EPOCH},
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(out.glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise CommandFailed(
                f"Building labcore's wheel from {LABCORE_PROJECT} failed:\n"
                + (result.stderr or result.stdout).strip()
            )
        for old in destination.glob("cnnlab_labcore-*.whl"):
            old.unlink()
        return Path(shutil.copy2(wheels[0], destination / wheels[0].name))


def installer_source(labcore_url: str | None, wheel_name: str) -> str:
    """The code of the installer cell that :func:`build_kit` puts first in each notebook.

    Parameters
    ----------
    labcore_url : str or None
        Where to install labcore from when the kit's wheel is not next to the notebook
        (``../wheels/<wheel_name>``): a wheel URL (``https://``, ``file://``) or a
        ``git+https`` URL. None: only the kit's own wheel.
    wheel_name : str
        The file name of the kit's wheel.

    Returns
    -------
    str
        Python code: does nothing when ``labcore`` is importable; else pip-installs it into
        the kernel's Python and makes it importable, or raises with what to do. Where Keras
        is already installed (Colab ships Keras, TensorFlow with GPU support and the other
        libraries labcore uses) it installs labcore alone, so that the runtime's own
        TensorFlow is not replaced by the CPU build labcore's dependencies name.
    """
    local = f"../{WHEELS_DIR}/{wheel_name}"
    return f"""\
# Set-up for Colab and Binder: installs the course library labcore if it is missing.
# With the kit's requirements installed (your computer, JupyterHub) this does nothing.
import importlib, importlib.util, pathlib, subprocess, sys
if importlib.util.find_spec("labcore") is None:
    _kit_wheel = pathlib.Path({local!r})
    _labcore_from = str(_kit_wheel.resolve()) if _kit_wheel.is_file() else {labcore_url!r}
    if _labcore_from is None:
        raise RuntimeError("labcore is not installed: in the kit's folder run "
                           "pip install -r requirements.txt, then restart the kernel.")
    _pip = [sys.executable, "-m", "pip", "install", "--quiet", _labcore_from]
    if importlib.util.find_spec("keras") is not None:
        _pip.append("--no-deps")  # keep the runtime's own Keras and TensorFlow (Colab's GPU)
    print("Installing labcore from", _labcore_from)
    subprocess.run(_pip, check=True)
    importlib.invalidate_caches()"""


def _installer_cell(source: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALLER_TAG,
        "metadata": {"tags": [INSTALLER_TAG], "cnnlab": {"kit_installer": True}},
        "outputs": [],
        "source": source,
    }


def is_installer_cell(cell: dict) -> bool:
    """Whether a notebook cell is the kit's installer cell.

    Parameters
    ----------
    cell : dict
        A notebook cell.

    Returns
    -------
    bool
        True for the cell :func:`build_kit` adds.
    """
    return bool((cell.get("metadata", {}).get("cnnlab") or {}).get("kit_installer"))


def strip_installer_cells(notebook: dict) -> int:
    """Remove the kit's installer cell from a submitted notebook, before it is graded.

    The installer is not part of the assignment, and the grader must not run it: code in
    an untracked cell before the setup cells counts as the student's, so the grader's
    integrity reference would be taken before the setup cells run (and their IPython
    callbacks would then read as tampering). Only cells marked as the installer and
    without nbgrader metadata are removed; whatever a student wrote there never runs.

    Parameters
    ----------
    notebook : dict or nbformat.NotebookNode
        A notebook; changed in place.

    Returns
    -------
    int
        How many cells were removed.
    """
    cells = notebook.get("cells", [])
    kept = [
        cell
        for cell in cells
        if not is_installer_cell(cell) or "nbgrader" in cell.get("metadata", {})
    ]
    removed = len(cells) - len(kept)
    notebook["cells"] = kept
    return removed


def _add_installer(notebook_path: Path, source: str) -> None:
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    cells = [cell for cell in notebook.get("cells", []) if not is_installer_cell(cell)]
    notebook["cells"] = [_installer_cell(source), *cells]
    if notebook.get("nbformat_minor", 0) < 5:  # cell ids need nbformat 4.5
        notebook["nbformat_minor"] = 5
    notebook_path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")


def _validate_config(paths: CoursePaths) -> str:
    """The kit's ``nbgrader_config.py``: the course's settings that Validate uses."""
    from grading.base.nbgrader_driver import load_nbgrader_config

    config = load_nbgrader_config(paths)
    lines = [
        "# nbgrader settings for Validate (the Validate button, `nbgrader validate`), written",
        "# by `cnnlab kit` from the course's configuration. Start JupyterLab in this folder.",
        "c = get_config()  # noqa: F821",
    ]
    for section, name in VALIDATE_SETTINGS:
        if section in config and name in config[section]:
            lines.append(f"c.{section}.{name} = {config[section][name]!r}")
    return "\n".join(lines) + "\n"


def _requirements(wheel: Path) -> list[str]:
    dependencies = _project_dependencies()
    return [f"./{WHEELS_DIR}/{wheel.name}", *(dependencies[name] for name in STUDENT_TOOLS)]


def _environment_yml(requirements: list[str]) -> str:
    pip_lines = "\n".join(f"      - {json.dumps(line)}" for line in requirements)
    return (
        "# conda env create -f environment.yml && conda activate cnnlab-student\n"
        "# (repo2docker and Binder read this file too.)\n"
        "name: cnnlab-student\n"
        "channels:\n"
        "  - conda-forge\n"
        "dependencies:\n"
        "  - python=3.11\n"
        "  - pip\n"
        "  - pip:\n"
        f"{pip_lines}\n"
    )


def _scan_kit(paths: CoursePaths, folder: Path, names: list[str], wheel: Path) -> list:
    from grading.release import scan_folder, scan_other_files

    leaks = []
    for name in names:
        leaks.extend(scan_folder(paths, name, folder / name, added_cell=is_installer_cell)[0])
    others = [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).parts[0] not in names and path != wheel
    ]
    leaks.extend(scan_other_files(paths, names, others))
    with tempfile.TemporaryDirectory(prefix="kit-wheel-") as unpacked:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        members = sorted(p for p in Path(unpacked).rglob("*") if p.is_file())
        # labcore is public course code that shares generic lines with solutions
        # ("return keras.Sequential("): its wheel is checked for delimiters only
        leaks.extend(scan_other_files(paths, [], members, label=Path(unpacked)))
    return leaks


def wheel_packages(wheel: Path) -> set[str]:
    """The top-level names in a wheel, without its ``.dist-info``.

    Parameters
    ----------
    wheel : pathlib.Path
        A wheel file.

    Returns
    -------
    set of str
        ``{"labcore"}`` for the kit's wheel.
    """
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    return {name for name in tops if not name.endswith(".dist-info")}


def build_kit(
    paths: CoursePaths | None = None,
    assignments: list[str] | None = None,
    settings: KitSettings | None = None,
    *,
    db_url: str | None = None,
) -> Kit:
    """Release the assignments and write the student kit ``build/kit/`` and ``build/kit.zip``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    assignments : list of str, optional
        Assignment names; default all.
    settings : KitSettings, optional
        Default :func:`load_kit_settings`.
    db_url : str, optional
        The gradebook nbgrader records the release in; default the course's.

    Returns
    -------
    Kit
        The kit. A previous kit is replaced.

    Raises
    ------
    grading.errors.ReleaseLeakError
        If the release or the kit holds instructor-only text (the kit is removed).
    FileNotFoundError, ValueError
        For a missing course or an unknown assignment (see
        :func:`grading.release.release_assignments`).
    """
    from grading.errors import CommandFailed, ReleaseLeakError
    from grading.release import release_assignments

    paths = paths or course_paths()
    settings = settings or load_kit_settings(paths)
    released = release_assignments(paths, assignments, db_url)
    names = [item.name for item in released]
    folder = kit_folder(paths)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    wheel = build_labcore_wheel(staging / WHEELS_DIR)
    if wheel_packages(wheel) != {"labcore"}:
        raise CommandFailed(
            f"{wheel.name} holds {sorted(wheel_packages(wheel))}, not labcore alone: check "
            f"{LABCORE_PROJECT} ([tool.setuptools] packages)."
        )
    labcore_url = settings.labcore_url(wheel.name)
    installer = installer_source(labcore_url, wheel.name)
    notebooks = []
    for item in released:
        shutil.copytree(item.folder, staging / item.name)
        for notebook in sorted((staging / item.name).glob("*.ipynb")):
            _add_installer(notebook, installer)
            notebooks.append(notebook.relative_to(staging).as_posix())
    requirements = _requirements(wheel)
    (staging / "requirements.txt").write_text(
        "# pip install -r requirements.txt (in this folder): labcore and JupyterLab with\n"
        "# nbgrader's Validate button; nothing of the grader.\n" + "\n".join(requirements) + "\n",
        encoding="utf-8",
    )
    (staging / "environment.yml").write_text(_environment_yml(requirements), encoding="utf-8")
    (staging / "nbgrader_config.py").write_text(_validate_config(paths), encoding="utf-8")
    (staging / "README.md").write_text(
        student_readme(settings, notebooks, labcore_url), encoding="utf-8"
    )
    leaks = _scan_kit(paths, staging, names, wheel)
    if leaks:
        shutil.rmtree(staging, ignore_errors=True)
        raise ReleaseLeakError(leaks, [staging])
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    archive = folder.with_suffix(".zip")
    _zip_folder(folder, archive)
    return Kit(
        folder=folder,
        archive=archive,
        wheel=folder / WHEELS_DIR / wheel.name,
        released=tuple(released),
        notebooks=tuple(folder / name for name in notebooks),
        labcore_url=labcore_url,
        settings=settings,
    )


#: Where students work: ``build/student/<assignment>/``.
STUDENT_DIR_NAME = "student"


@dataclass(frozen=True)
class StudentCopy:
    """A student's working copy of one released assignment.

    Attributes
    ----------
    assignment : str
        The assignment, e.g. ``"02_mnist"``.
    folder : pathlib.Path
        ``build/student/<assignment>/``.
    notebooks : tuple of pathlib.Path
        The notebooks in the working copy, sorted.
    copied : tuple of pathlib.Path
        Files copied from the release this time (missing from the working copy before).
    kept : tuple of pathlib.Path
        Files the working copy already had; left untouched, whatever the release holds.
    released_now : bool
        Whether the assignment had to be released first.
    """

    assignment: str
    folder: Path
    notebooks: tuple[Path, ...]
    copied: tuple[Path, ...]
    kept: tuple[Path, ...]
    released_now: bool = False


def student_folder(paths: CoursePaths, assignment: str | None = None) -> Path:
    """Where students work on the released assignments.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str, optional
        One assignment; default the folder holding all of them.

    Returns
    -------
    pathlib.Path
        ``build/student/`` or ``build/student/<assignment>/``.
    """
    folder = paths.build / STUDENT_DIR_NAME
    return folder / assignment if assignment else folder


def prepare_student_folder(
    paths: CoursePaths,
    assignment: str,
    *,
    release_if_missing: bool = True,
    source: Path | None = None,
) -> StudentCopy:
    """Copy a released assignment into the student's working folder, overwriting nothing.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment, e.g. ``"02_mnist"``.
    release_if_missing : bool, default=True
        Release the assignment first (:func:`grading.release.release_assignments`) when
        ``build/release/<assignment>/`` does not exist; if False, that is an error.
    source : pathlib.Path, optional
        Copy from this folder instead of the release (the kit's ``build/kit/<assignment>/``).

    Returns
    -------
    StudentCopy
        The working copy and what was copied or kept.

    Raises
    ------
    FileNotFoundError
        If the assignment is not released and ``release_if_missing`` is False, or the course
        has no such source assignment to release (the message lists those it has).
    """
    release = Path(source) if source is not None else paths.release / assignment
    released_now = False
    if source is None and not release.is_dir():
        if not release_if_missing:
            raise FileNotFoundError(
                f"Assignment {assignment!r} is not released ({release} does not exist): "
                f"run `cnnlab release {assignment}` first."
            )
        from grading.release import release_assignments, select_assignments

        try:
            select_assignments(paths, [assignment])
        except ValueError as error:
            raise FileNotFoundError(str(error)) from None
        release_assignments(paths, [assignment])
        released_now = True
    folder = student_folder(paths, assignment)
    copied, kept = [], []
    for source in sorted(p for p in release.rglob("*") if p.is_file()):
        target = folder / source.relative_to(release)
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied.append(target)
    notebooks = tuple(
        sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    )
    return StudentCopy(assignment, folder, notebooks, tuple(copied), tuple(kept), released_now)


def student_copies(paths: CoursePaths, assignments: list[str]) -> list:
    """The student's working copies for ``cnnlab lab``: from the kit, as students get them.

    The kit is built first (:func:`build_kit`, every assignment) when it lacks one of
    ``assignments``. Each assignment's kit folder is copied into ``build/student/`` without
    overwriting anything (:func:`prepare_student_folder`), and the kit's
    ``nbgrader_config.py`` goes to ``build/student/``, where JupyterLab runs, so Validate
    reads the kit's settings as on a student's computer.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignments : list of str
        The assignments to work on.

    Returns
    -------
    list of StudentCopy
        One per assignment; ``released_now`` tells whether the kit was built for it.
    """
    folder = kit_folder(paths)
    built = not all((folder / name).is_dir() for name in assignments)
    if built:
        print_kit(build_kit(paths))
    student_folder(paths).mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / "nbgrader_config.py", student_folder(paths) / "nbgrader_config.py")
    return [
        replace(prepare_student_folder(paths, name, source=folder / name), released_now=built)
        for name in assignments
    ]


def _zip_folder(folder: Path, archive: Path) -> None:
    partial = archive.with_name(archive.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            bundle.write(path, Path(folder.name) / path.relative_to(folder))
    partial.replace(archive)


def _git(repository: Path, *arguments: str) -> subprocess.CompletedProcess:
    from grading.errors import CommandFailed

    command = ["git", "-c", "user.name=CNN Lab", "-c", "user.email=cnnlab@localhost"]
    result = subprocess.run(
        [*command, *arguments], cwd=repository, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise CommandFailed(
            f"git {' '.join(arguments)} in {repository} failed: "
            + (result.stderr or result.stdout).strip()
        )
    return result


def commit_kit(kit: Kit, repository: Path | str) -> str:
    """Make a git repository's tree the kit, and commit it (students pull it).

    Parameters
    ----------
    kit : Kit
        From :func:`build_kit`.
    repository : pathlib.Path or str
        A folder: a new one becomes a git repository on the kit's branch; an existing
        repository's tracked files are replaced by the kit's.

    Returns
    -------
    str
        The commit's hash (the previous one when the kit did not change).

    Raises
    ------
    ValueError
        If the folder exists, is not empty and is not a git repository.
    grading.errors.CommandFailed
        If git fails; the message holds git's.
    """
    repository = Path(repository).expanduser().resolve()
    if repository.exists() and any(repository.iterdir()) and not (repository / ".git").exists():
        raise BadInput(
            f"{repository} is a folder with files but not a git repository: give an empty or "
            "new folder, or a git repository made by `cnnlab kit --git`."
        )
    repository.mkdir(parents=True, exist_ok=True)
    if not (repository / ".git").exists():
        _git(repository, "init", "--quiet", f"--initial-branch={kit.settings.branch}")
    tracked = _git(repository, "ls-files", "-z").stdout.split("\0")
    for name in filter(None, tracked):
        (repository / name).unlink(missing_ok=True)
    shutil.copytree(kit.folder, repository, dirs_exist_ok=True)
    _git(repository, "add", "--all")
    if _git(repository, "status", "--porcelain").stdout.strip():
        _git(
            repository,
            "commit",
            "--quiet",
            "-m",
            "Student kit: " + ", ".join(item.name for item in kit.released),
        )
    return _git(repository, "rev-parse", "HEAD").stdout.strip()


def print_kit(kit: Kit) -> None:
    """Print where the kit is and how students get it.

    Parameters
    ----------
    kit : Kit
        From :func:`build_kit`.
    """
    print(f"student kit: {kit.folder} ({len(kit.notebooks)} notebook(s), leak scan clean)")
    print(f"zipped: {kit.archive}")
    print(f"labcore wheel: {kit.wheel.name}")
    print(f"Colab/Binder install labcore from: {kit.labcore_url or 'the kit only (no URL set)'}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``cnnlab kit`` arguments.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    add_assignments_argument(parser, "all")
    add_gradebook_option(parser)
    parser.add_argument(
        "--git", metavar="DIR", help="also commit the kit to this git repository (nbgitpuller)"
    )
    parser.add_argument("--github-repo", metavar="OWNER/NAME", help="the kit's GitHub repository")
    parser.add_argument("--branch", help="its branch (default: main)")
    parser.add_argument("--wheel-url", metavar="URL", help="where Colab installs labcore from")
    parser.add_argument("--hub-url", metavar="URL", help="the JupyterHub, for nbgitpuller links")
    parser.add_argument("--git-url", metavar="URL", help="the kit repository as the hub clones it")


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab kit``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    int
        0 when the kit is written and clean. A leak or a failed build (exit status 1), bad
        arguments or settings (2) are raised for :mod:`grading.cli`.
    """
    paths = course_paths()
    settings = load_kit_settings(
        paths,
        github_repo=args.github_repo,
        branch=args.branch,
        wheel_url=args.wheel_url,
        hub_url=args.hub_url,
        git_url=args.git_url,
    )
    kit = build_kit(paths, args.assignments or None, settings, db_url=args.db)
    print_kit(kit)
    if args.git:
        repository = Path(args.git).expanduser().resolve()
        commit = commit_kit(kit, repository)
        print(f"committed the kit to {repository} ({commit[:12]})")
        print(f"nbgitpuller link: {nbgitpuller_link(settings, settings.clone_url(repository))}")
    return 0


def release_main(args: argparse.Namespace) -> int:
    """Run ``cnnlab release --kit``: release the assignments and write the kit from them.

    Parameters
    ----------
    args : argparse.Namespace
        The arguments of ``cnnlab release``.

    Returns
    -------
    int
        0 when released and the kit is clean; errors are raised for :mod:`grading.cli`.
    """
    from grading.release import print_released, publish_if_asked

    paths = course_paths()
    kit = build_kit(paths, args.assignments or None, load_kit_settings(paths), db_url=args.db)
    print_released(kit.released)
    print_kit(kit)
    publish_if_asked(paths, kit.released, args)
    return 0
