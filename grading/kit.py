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

Each released notebook gets one code cell first, the installer
(:func:`grading.base.installer.installer_source`): where ``labcore`` is not importable
(Colab, a bare Binder) it pip-installs the kit's wheel, from ``../wheels/`` next to the
notebook if there, else from the course's ``wheel_url``; with labcore installed (a laptop
with the requirements, JupyterHub, the grader) it does nothing. Students' working copies of
the kit are made by :mod:`grading.student`.

The finished kit is leak-scanned like a release: every assignment folder with
:func:`grading.base.leaks.scan_folder` (the installer cell left out of the cell matching),
and every other file with :func:`grading.base.leaks.scan_other_files`; the wheel must hold
labcore alone, and its files no delimiter (labcore is public course code: it shares generic
lines such as ``return keras.Sequential(`` with solutions). A leak removes the kit and
fails.

``--git DIR`` also commits the kit to a git repository that students pull (nbgitpuller),
and prints the nbgitpuller link for the course's hub.

Course settings (GitHub repository, wheel URL, exchange, hub) are read by
:mod:`grading.base.kit_settings` from the ``[kit]`` table of ``cnnlab.toml``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grading.base.installer import (
    LABCORE_PROJECT,
    add_installer,
    build_labcore_wheel,
    installer_source,
    is_installer_cell,
    project_dependencies,
    wheel_packages,
)
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
    "Kit",
    "KitSettings",
    "build_kit",
    "commit_kit",
    "kit_folder",
    "load_kit_settings",
    "nbgitpuller_link",
    "print_kit",
    "release_main",
]

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
    dependencies = project_dependencies()
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
    from grading.base.leaks import scan_folder, scan_other_files

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
            add_installer(notebook, installer)
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
    """Add ``cnnlab kit`` arguments."""
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

    Returns 0 when the kit is written and clean. A leak or a failed build (exit status 1),
    bad arguments or settings (2) are raised for :mod:`grading.cli`.
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
