"""What a sandboxed kernel's home starts with besides the submission: matplotlib's font cache.

Every kernel gets a fresh, empty home (:data:`grading.autograde.sandbox.SANDBOX_HOME`), so
the first plot of every submission would have matplotlib scan the machine's fonts and write
its font cache again (about 0.15 s of CPU per submission). :func:`font_cache` builds that
cache once per grader process, outside the sandbox, the way a fresh home would (a Python of
the same environment, an empty home); the warm grading server starts building it while it
imports nbgrader, and has it before it forks (:mod:`grading.autograde.grading_server`); each
grading program puts a copy among the files its kernel's home receives
(:func:`seed_kernel_home`).

The cache names font files by path; the sandbox shows the system folders and the Python
environment at the same paths, so it holds there. A cache matplotlib cannot use is rebuilt
by matplotlib, as without a copy; a submission that brings its own only affects itself.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["MATPLOTLIB_FOLDER", "font_cache", "seed_kernel_home", "start_font_cache"]

#: The kernel's ``MPLCONFIGDIR``, relative to its home (see ``kernel_environment``).
MATPLOTLIB_FOLDER = ".matplotlib"


#: The build :func:`start_font_cache` started: its process and its home folder.
_building: tuple[subprocess.Popen, tempfile.TemporaryDirectory] | None = None


def start_font_cache() -> None:
    """Start building the font cache in the background; :func:`font_cache` collects it.

    The warm server calls it first thing, so that the build (a Python importing
    matplotlib, about 0.35 s) runs while the server imports nbgrader.
    """
    global _building
    if _building is not None or font_cache.cache_info().currsize:
        return
    home = tempfile.TemporaryDirectory(prefix="cnnlab-fonts-")
    env = {
        "HOME": home.name,
        "MPLCONFIGDIR": str(Path(home.name) / MATPLOTLIB_FOLDER),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MPLBACKEND": "Agg",
    }
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", "import matplotlib.font_manager"],
            env=env,
            cwd=home.name,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        home.cleanup()
        return
    _building = (process, home)


@functools.cache
def font_cache() -> dict[str, bytes]:
    """Matplotlib's font cache as a kernel with an empty home would build it.

    Returns
    -------
    dict
        File name (``fontlist-v390.json``) to content; empty when matplotlib is not
        installed or could not build it (a kernel then builds its own).
    """
    global _building
    start_font_cache()
    if _building is None:
        return {}
    (process, home), _building = _building, None
    with home:
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return {}
        if code != 0:
            return {}
        folder = Path(home.name) / MATPLOTLIB_FOLDER
        return {path.name: path.read_bytes() for path in folder.glob("fontlist-*.json")}


def seed_kernel_home(files: Path) -> None:
    """Add the font cache to the files a kernel's home receives (unless it has one).

    Parameters
    ----------
    files : pathlib.Path
        The job's folder of files copied into the kernel's home.
    """
    folder = files / MATPLOTLIB_FOLDER
    if folder.exists():  # the submission brought its own
        return
    cache = font_cache()
    if not cache:
        return
    folder.mkdir(mode=0o755)
    for name, data in cache.items():
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o644)
