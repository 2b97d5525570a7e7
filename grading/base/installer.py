"""How a released notebook gets labcore: the labcore wheel and the kit's installer cell.

``labcore`` travels to students as its own distribution, ``cnnlab-labcore``, built by
:func:`build_labcore_wheel` from this checkout (``packaging/labcore/pyproject.toml`` and
``labcore/``), so students never install the grader. :func:`grading.kit.build_kit` puts
one code cell first in each released notebook, the installer (:func:`installer_source`):
where ``labcore`` is not importable (Colab, a bare Binder) it pip-installs the kit's wheel,
from ``../wheels/`` next to the notebook if there, else from the course's ``wheel_url``;
with labcore installed it does nothing. The grader removes that cell from a submission
before grading it (:func:`strip_installer_cells`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from grading.base.kit_settings import WHEELS_DIR

__all__ = [
    "INSTALLER_TAG",
    "add_installer",
    "build_labcore_wheel",
    "installer_cell",
    "installer_source",
    "is_installer_cell",
    "project_dependencies",
    "strip_installer_cells",
    "wheel_packages",
]

#: Tag and metadata key of the installer cell, the first cell of each notebook of the kit.
INSTALLER_TAG = "cnnlab-kit-installer"


#: The checkout this package sits in: ``packaging/labcore/`` describes the labcore wheel.
CHECKOUT = Path(__file__).resolve().parents[2]


LABCORE_PROJECT = CHECKOUT / "packaging" / "labcore" / "pyproject.toml"


#: The time stamp of every file in the wheel (1980-01-01, the earliest a zip file holds).
WHEEL_DATE_EPOCH = "315532800"


def project_dependencies() -> dict[str, str]:
    """The main project's dependencies.

    Returns
    -------
    dict
        Lower-case name -> requirement text, from this checkout's ``pyproject.toml``.
    """
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
    """The code of the installer cell, first in each notebook of the kit.

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


def installer_cell(source: str) -> dict:
    """The installer as a notebook cell, tagged so that it can be found and removed.

    Parameters
    ----------
    source : str
        From :func:`installer_source`.

    Returns
    -------
    dict
        An nbformat 4.5 code cell with id, tag and ``metadata.cnnlab.kit_installer``.
    """
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
        True for the cell :func:`grading.kit.build_kit` adds.
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


def add_installer(notebook_path: Path, source: str) -> None:
    """Put the installer cell first in a notebook file (replacing an older one).

    Parameters
    ----------
    notebook_path : pathlib.Path
        The notebook; rewritten in place (nbformat 4.5 at least, for cell ids).
    source : str
        From :func:`installer_source`.
    """
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    cells = [cell for cell in notebook.get("cells", []) if not is_installer_cell(cell)]
    notebook["cells"] = [installer_cell(source), *cells]
    if notebook.get("nbformat_minor", 0) < 5:  # cell ids need nbformat 4.5
        notebook["nbformat_minor"] = 5
    notebook_path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")


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
