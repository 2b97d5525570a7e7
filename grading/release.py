"""``cnnlab release``: student versions of the assignments, and proof that nothing leaked.

nbgrader's ``generate_assignment`` turns each source assignment ``notebooks/<assignment>/``
into its student version ``build/release/<assignment>/`` (solutions replaced by stubs,
hidden tests and mark schemes removed, outputs cleared, test cells locked) and records the
assignment in the gradebook. Then :func:`grading.base.leaks.scan_release` reads every
released file and proves that no instructor-only text is in it (the rules are in
:mod:`grading.base.leaks`). A leak fails the release: the leaking assignment's release
folder is removed, and the error names the file, the cell (index and ``grade_id``) and the
line.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from grading.base.kit_settings import add_exchange_option, configured_exchange_dir
from grading.base.leaks import nbgrader_stub_lines, scan_release
from grading.base.nbgrader_driver import load_nbgrader_config, run_converter
from grading.errors import NbgraderError, ReleaseLeakError
from grading.options import add_assignments_argument, add_gradebook_option
from grading.paths import CoursePaths, course_paths, select_assignments

__all__ = [
    "ReleaseLeakError",
    "ReleasedAssignment",
    "print_released",
    "publish_if_asked",
    "release_assignments",
    "release_to_exchange",
    "select_assignments",
]


@dataclass(frozen=True)
class ReleasedAssignment:
    """One released assignment.

    Attributes
    ----------
    name : str
        The assignment, e.g. ``"02_mnist"``.
    folder : pathlib.Path
        ``build/release/<assignment>/``.
    notebooks : tuple of pathlib.Path
        The released notebooks.
    secret_lines : int
        How many non-trivial instructor-only lines the scan looked for.
    """

    name: str
    folder: Path
    notebooks: tuple[Path, ...]
    secret_lines: int


def release_assignments(
    paths: CoursePaths | None = None,
    assignments: list[str] | None = None,
    db_url: str | None = None,
) -> list[ReleasedAssignment]:
    """Generate the student versions of assignments and prove that nothing leaked.

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    assignments : list of str, optional
        Assignment names; default all source assignments.
    db_url : str, optional
        Gradebook in which nbgrader records the assignments (anything
        :func:`grading.base.gradebook.normalise_db_url` accepts); default the course's
        ``build/gradebook.db``.

    Returns
    -------
    list of ReleasedAssignment
        One per assignment, in course order. A previous release is overwritten.

    Raises
    ------
    FileNotFoundError
        If the course has no source assignments.
    ValueError
        If an assignment name is unknown (the message lists the course's assignments).
    grading.base.gradebook.GradebookError
        If the gradebook database cannot be reached.
    grading.base.nbgrader_driver.NbgraderError
        If nbgrader cannot generate an assignment (e.g. a solution region in a cell not
        marked as a solution cell); the message holds nbgrader's error.
    ReleaseLeakError
        If the scan finds instructor-only text; the leaking release folders are removed.
    """
    from nbgrader.converters import GenerateAssignment

    from grading.base.gradebook import normalise_db_url, open_gradebook

    paths = paths or course_paths()
    names = select_assignments(paths, assignments)
    url = normalise_db_url(db_url, paths)
    with open_gradebook(url, paths):
        pass  # reachable, and created with its tables before nbgrader writes to it
    config = load_nbgrader_config(paths, url)
    stubs = nbgrader_stub_lines(config)
    released, leaks, removed = [], [], []
    for name in names:
        run_converter(GenerateAssignment, config, assignment_id=name, create_assignment=True)
        folder = paths.release / name
        found, secret_count = scan_release(paths, name, stub_lines=stubs)
        if found:
            leaks.extend(found)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            continue
        notebooks = tuple(sorted(folder.glob("*.ipynb")))
        released.append(ReleasedAssignment(name, folder, notebooks, secret_count))
    if leaks:
        raise ReleaseLeakError(leaks, removed)
    return released


def exchange_transfer(
    transfer_class,
    paths: CoursePaths,
    assignment: str,
    exchange_dir: Path | str,
    *,
    db_url: str | None = None,
    **options,
):
    """Run one of nbgrader's exchange transfers (release, collect) for the course.

    Parameters
    ----------
    transfer_class : type
        A class of ``nbgrader.exchange.default`` such as ``ExchangeReleaseAssignment``.
    paths : grading.paths.CoursePaths
        The course (its ``nbgrader_config.py`` gives the course id and the folders).
    assignment : str
        The assignment.
    exchange_dir : pathlib.Path or str
        nbgrader's exchange directory (``Exchange.root``, on JupyterHub shared by the hub's
        users, e.g. ``/srv/nbgrader/exchange``).
    db_url : str, optional
        The gradebook; default the course's.
    **options
        Attributes of the transfer, e.g. ``force=True``.

    Returns
    -------
    object
        The transfer, after it ran (``dest_path``, ``src_records`` and so on).

    Raises
    ------
    grading.errors.NbgraderError
        If nbgrader's exchange refuses (missing release, no permission); the message
        holds nbgrader's reason.
    """
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError

    config = load_nbgrader_config(paths, db_url)
    config.Exchange.root = str(Path(exchange_dir).expanduser().resolve())
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    transfer = transfer_class(
        coursedir=coursedir, authenticator=Authenticator(config=config), config=config
    )
    for name, value in options.items():
        setattr(transfer, name, value)
    try:
        transfer.start()
    except ExchangeError as error:
        raise NbgraderError(
            f"nbgrader exchange {config.Exchange.root}, assignment {assignment!r}: {error}"
        ) from None
    return transfer


def release_to_exchange(
    paths: CoursePaths,
    assignments: list[str],
    exchange_dir: Path | str,
    db_url: str | None = None,
) -> list[Path]:
    """Publish released assignments through nbgrader's exchange (``release_assignment``).

    Students on the same JupyterHub then see them in the *Assignments* tab (or run
    ``nbgrader fetch_assignment``). A previous publication of an assignment is replaced.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course; ``build/release/<assignment>/`` must exist (see
        :func:`release_assignments`).
    assignments : list of str
        The assignments to publish.
    exchange_dir : pathlib.Path or str
        nbgrader's exchange directory; created if missing.
    db_url : str, optional
        The gradebook; default the course's.

    Returns
    -------
    list of pathlib.Path
        ``<exchange>/<course id>/outbound/<assignment>/`` per assignment.

    Raises
    ------
    grading.errors.NbgraderError
        If nbgrader's exchange refuses.
    """
    from nbgrader.exchange.default import ExchangeReleaseAssignment

    published = []
    for name in assignments:
        transfer = exchange_transfer(
            ExchangeReleaseAssignment, paths, name, exchange_dir, db_url=db_url, force=True
        )
        published.append(Path(transfer.dest_path))
    return published


def add_arguments(parser) -> None:
    """Add ``cnnlab release`` arguments."""
    add_assignments_argument(parser, "all")
    add_gradebook_option(parser)
    parser.add_argument(
        "--kit",
        action="store_const",
        dest="handler",
        const="grading.kit:release_main",  # the kit releases as it builds (grading.cli)
        help="also write the student kit build/kit/ and build/kit.zip (see `cnnlab kit`)",
    )
    add_exchange_option(parser, "also publish")


def main(args) -> int:
    """Run ``cnnlab release`` (with ``--kit``, :func:`grading.kit.release_main` runs instead).

    Returns 0 when released and clean. A leak or an nbgrader failure (exit status 1), bad
    arguments or an unreachable gradebook (2) are raised for :mod:`grading.cli`.
    """
    paths = course_paths()
    released = release_assignments(paths, args.assignments or None, args.db)
    print_released(released)
    publish_if_asked(paths, released, args)
    return 0


def print_released(released: list[ReleasedAssignment]) -> None:
    """Print one line per released assignment, with its leak scan.

    Parameters
    ----------
    released : list of ReleasedAssignment
        What :func:`release_assignments` returned.
    """
    for item in released:
        names = ", ".join(path.name for path in item.notebooks)
        print(
            f"released {item.name}: {names} -> {item.folder} "
            f"(leak scan clean: {item.secret_lines} instructor-only lines checked)"
        )


def publish_if_asked(paths: CoursePaths, released: list[ReleasedAssignment], args) -> None:
    """Publish the released assignments to nbgrader's exchange when ``--exchange`` says so.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    released : list of ReleasedAssignment
        What was released.
    args : argparse.Namespace
        The command's arguments (``exchange``, ``db``).
    """
    if args.exchange is None:
        return
    exchange = configured_exchange_dir(paths, args.exchange)
    names = [item.name for item in released]
    for folder in release_to_exchange(paths, names, exchange, args.db):
        print(f"published {folder.name} to nbgrader's exchange: {folder}")
