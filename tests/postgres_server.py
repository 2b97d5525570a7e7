"""A real PostgreSQL server for the tests (a pytest plugin, registered in ``conftest.py``).

The session fixture :func:`postgres_server` runs ``initdb`` into a temporary folder and
starts the server with ``pg_ctl`` on a free local port (and a socket in the same folder), as
an unprivileged user when the tests run as root (PostgreSQL refuses to run as root: the
``postgres`` user when it exists, else ``nobody``), and stops it when the session ends.
:func:`postgres_url` gives each test a fresh, empty database on it. The server programs are
found in ``/usr/lib/postgresql/*/bin`` or on ``PATH``; without them the tests skip locally
and fail in CI (``CNNLAB_REQUIRE_SYSTEM_TESTS=1``), as ``require_system_tool`` does.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require_system_tool  # tests/ is on sys.path (pytest's rootdir conftest)

__all__ = ["PostgresServer", "find_postgres_bin", "postgres_server", "postgres_url"]


def find_postgres_bin() -> Path | None:
    """The folder holding PostgreSQL's ``initdb``, ``pg_ctl`` and ``postgres``.

    Returns
    -------
    pathlib.Path or None
        The newest ``/usr/lib/postgresql/<version>/bin``, else the folder of ``initdb`` on
        ``PATH``; ``None`` when PostgreSQL is not installed.
    """
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            float(Path(p).parent.parent.name)
            if Path(p).parent.parent.name.replace(".", "").isdigit()
            else 0.0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server.

    Attributes
    ----------
    host : str
        ``127.0.0.1``.
    port : int
        Its TCP port.
    user : str
        The superuser (trust authentication, no password).
    folder : pathlib.Path
        Its data, log and socket folder.
    """

    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for one of its databases.

        Parameters
        ----------
        database : str
            The database name.

        Returns
        -------
        str
            The URL (as a user would type it; :func:`grading.base.gradebook.normalise_db_url`
            picks the driver).
        """
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """Create a fresh, empty database.

        Returns
        -------
        str
            Its name.
        """
        import psycopg

        name = f"cnnlab_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name


def _as_user(user: str | None, command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


@pytest.fixture(scope="session")
def postgres_server():
    """Start a real PostgreSQL server for the session; stop it at the end.

    Yields
    ------
    PostgresServer
        The running server.
    """
    bin_dir = find_postgres_bin()
    require_system_tool(
        str(bin_dir / "pg_ctl") if bin_dir else "/usr/lib/postgresql/*/bin/pg_ctl", "postgresql"
    )
    run_as = None
    if os.geteuid() == 0:
        import pwd

        run_as = "postgres"
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            run_as = "nobody"
        require_system_tool("runuser", "util-linux")
    # not under pytest's tmp_path: its folders are private to root and the server's user
    # must reach its own data folder
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-postgres-"))
    folder.chmod(0o755)
    if run_as:
        import pwd

        entry = pwd.getpwnam(run_as)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data, log = folder / "data", folder / "server.log"
    port = _free_port()
    server = PostgresServer(host="127.0.0.1", port=port, user="postgres", folder=folder)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run(
        _as_user(run_as, [*initdb, "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-k {folder} -p {port} -h 127.0.0.1 -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = subprocess.run(
        _as_user(run_as, [*pg_ctl, "-o", options, "-l", str(log), "-w", "start"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if started.returncode != 0:
        detail = log.read_text() if log.exists() else started.stderr
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start:\n{detail}", pytrace=False)
    try:
        yield server
    finally:
        subprocess.run(
            _as_user(run_as, [*pg_ctl, "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server, as a ``postgresql://`` URL.

    Parameters
    ----------
    postgres_server : PostgresServer
        The session's server.

    Returns
    -------
    str
        The URL.
    """
    return postgres_server.url(postgres_server.create_database())
