"""Shared test set-up.

Tests use real data from a local mirror (``LABCORE_DATA_MIRROR``; CI points it at
``../shared/data``) and never download: ``LABCORE_OFFLINE=1`` is set for the whole session,
and the data directory is a fresh temporary folder, so nothing is read from or written to
the checkout's ``data/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Show the differing values when an assertion in the shared assignment tests fails.
pytest.register_assert_rewrite("notebook_grading")

pytest_plugins = ["postgres_server"]  # a real PostgreSQL server: tests/postgres_server.py

ROOT = Path(__file__).resolve().parent.parent


def _default_mirror() -> str | None:
    candidate = ROOT.parent / "shared" / "data"
    return str(candidate) if candidate.is_dir() else None


def pytest_configure(config):
    os.environ["LABCORE_OFFLINE"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    mirror = os.environ.get("LABCORE_DATA_MIRROR") or _default_mirror()
    if mirror:
        # absolute, because notebooks run in kernels with another working directory
        os.environ["LABCORE_DATA_MIRROR"] = str(Path(mirror).resolve())


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory):
    """A fresh, empty data directory for the session (the mirror provides the files)."""
    folder = tmp_path_factory.mktemp("labcore-data")
    folder.chmod(0o755)  # pytest makes it private; the grading kernels' user must read it
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABCORE_DATA_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The data mirror; tests that need real data fail clearly without one."""
    value = os.environ.get("LABCORE_DATA_MIRROR")
    if not value or not Path(value).is_dir():
        pytest.fail(
            "These tests read the course datasets from a local mirror: set "
            "LABCORE_DATA_MIRROR to a copy of the course data (CI uses ../shared/data).",
            pytrace=False,
        )
    return Path(value)


def require_system_tool(path: str, package: str):
    """Skip when a system program is missing, except in CI where it is a failure.

    ``.ci/run`` installs the Debian packages and sets ``CNNLAB_REQUIRE_SYSTEM_TESTS=1``, so
    a missing browser or database server fails CI instead of skipping silently.
    """
    import shutil

    if shutil.which(path) or Path(path).exists():
        return
    message = f"{path} is missing: apt-get install {package}"
    if os.environ.get("CNNLAB_REQUIRE_SYSTEM_TESTS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
