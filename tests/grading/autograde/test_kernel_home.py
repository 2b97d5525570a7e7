"""The font cache every kernel's fresh home starts with (grading.autograde.kernel_home)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from grading.autograde.kernel_home import MATPLOTLIB_FOLDER, font_cache, seed_kernel_home
from grading.autograde.sandbox import SANDBOX_HOME, kernel_environment

LOAD_FONTS = (
    "import logging\n"
    "logging.basicConfig(level=logging.INFO)\n"
    "import matplotlib.font_manager\n"
    "matplotlib.font_manager.findfont('DejaVu Sans')\n"
)


def _import_matplotlib(home: Path) -> str:
    """What matplotlib logs when imported with ``home`` as the kernel's home."""
    env = {
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / MATPLOTLIB_FOLDER),
        "PATH": os.environ["PATH"],
        "MPLBACKEND": "Agg",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-c", LOAD_FONTS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stderr


def test_a_seeded_home_loads_the_fonts_without_scanning_them(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    seed_kernel_home(files)
    assert sorted(p.name for p in (files / MATPLOTLIB_FOLDER).iterdir()) == sorted(font_cache())
    home = tmp_path / "home"
    shutil.copytree(files, home)  # as the sandbox copies the files into the home
    assert "generated new fontManager" not in _import_matplotlib(home)
    # without the copy, every kernel scans the fonts again
    assert "generated new fontManager" in _import_matplotlib(tmp_path / "empty")


def test_the_seed_lands_where_the_kernel_looks_and_spares_a_students_own(tmp_path):
    assert kernel_environment({})["MPLCONFIGDIR"] == f"{SANDBOX_HOME}/{MATPLOTLIB_FOLDER}"
    own = tmp_path / MATPLOTLIB_FOLDER
    own.mkdir()
    (own / "matplotlibrc").write_text("axes.grid: True\n")
    seed_kernel_home(tmp_path)
    assert [p.name for p in own.iterdir()] == ["matplotlibrc"]
