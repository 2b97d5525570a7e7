"""The leak scan: proof that no instructor-only text reaches students.

:func:`scan_release` reads every file of a release (and :func:`scan_folder` any copy of
one, such as the student kit's) and looks for instructor-only text:

- no delimiter (``BEGIN SOLUTION``, ``BEGIN HIDDEN TESTS``, ``BEGIN MARK SCHEME`` and their
  ends) anywhere in a released file;
- no non-trivial line of a solution, hidden-test or mark-scheme region of the assignment's
  sources in a released cell (source or outputs), unless that very cell shows the same line
  outside its regions in the source (a skeleton line such as ``def build_model():``);
- no such line in any other released file;
- and, in the sources, no line of one cell's region written outside the regions of another
  cell (a solution pasted into a hint, a hidden check repeated in a visible test), which
  nbgrader would release as it stands.

Each finding is a :class:`Leak` naming the file, the cell (index and ``grade_id``) and the
line. "Non-trivial" is :func:`grading.base.regions.is_trivial`'s rule: blank lines,
punctuation, lines under six characters and bare statements such as ``return model`` are
too generic to count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from grading.base.nbgrader_driver import load_nbgrader_config
from grading.base.regions import MARKERS, SecretLine, is_trivial, notebook_regions, strip_ansi
from grading.paths import CoursePaths

__all__ = [
    "Leak",
    "assignment_secrets",
    "nbgrader_stub_lines",
    "scan_folder",
    "scan_other_files",
    "scan_release",
]


@dataclass(frozen=True)
class Leak:
    """Instructor-only text found where students would see it.

    Attributes
    ----------
    path : pathlib.Path
        The file (a released file, or a source notebook for a leak written in the source).
    kind : str
        ``"solution"``, ``"hidden test"``, ``"mark scheme"`` or ``"marker"`` (a delimiter).
    line : str
        The leaked line, stripped.
    cell_index : int or None
        Index of the cell in the notebook; None outside notebooks or cells.
    grade_id : str or None
        The cell's nbgrader ``grade_id``.
    line_number : int or None
        Line number in a file that is not a notebook.
    origin : str
        Where the line comes from in the source, e.g. ``"cell 3 (grade_id mean_of)"``.
    """

    path: Path
    kind: str
    line: str
    cell_index: int | None = None
    grade_id: str | None = None
    line_number: int | None = None
    origin: str = ""

    def __str__(self) -> str:
        where = str(self.path)
        if self.cell_index is not None:
            where += f", cell {self.cell_index} (grade_id {self.grade_id or '-'})"
        elif self.line_number is not None:
            where += f", line {self.line_number}"
        what = "a delimiter" if self.kind == "marker" else f"a {self.kind} line"
        origin = f" from {self.origin}" if self.origin else ""
        return f"{where}: {what}{origin} leaked: {self.line!r}"


def nbgrader_stub_lines(config) -> set[str]:
    """Lines nbgrader itself writes into released cells (code and text stubs).

    Parameters
    ----------
    config : traitlets.config.Config
        The course's nbgrader configuration (its ``ClearSolutions`` stubs).

    Returns
    -------
    set of str
        Each stub line, stripped: never a leak, whatever the sources hold.
    """
    from nbgrader.preprocessors import ClearSolutions

    clear = ClearSolutions(config=config)
    stubs = [*clear.code_stub.values(), clear.text_stub]
    return {line.strip() for stub in stubs for line in stub.split("\n")}


def _read_notebook(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _text_of(value) -> str:
    if isinstance(value, list):
        return "".join(item if isinstance(item, str) else "" for item in value)
    return value if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in strip_ansi(text).split("\n")]


def _output_lines(cell) -> list[str]:
    """Every line of a cell's outputs (text, tracebacks, results), without colour codes."""
    chunks = []
    for output in cell.get("outputs", []) or []:
        chunks.append(_text_of(output.get("text", "")))
        chunks.append(_text_of(output.get("evalue", "")))
        chunks.extend(_text_of(entry) for entry in output.get("traceback", []) or [])
        for value in (output.get("data") or {}).values():
            chunks.append(_text_of(value))
    return [line for chunk in chunks for line in _lines(chunk)]


def _describe(secret: SecretLine, notebook: Path) -> str:
    return f"{notebook.name} cell {secret.cell_index} (grade_id {secret.grade_id or '-'})"


def _secret_in(line: str, secrets, *, contained: bool) -> str | None:
    """The secret line equal to ``line`` or, where text quotes code, contained in it."""
    if line in secrets:
        return line
    if contained:
        return next((text for text in secrets if text in line), None)
    return None


def _marker_in(line: str) -> bool:
    return any(marker in line for marker in MARKERS)


def _scan_sources(sources: list[Path]) -> tuple[list[Leak], dict[str, tuple[SecretLine, Path]]]:
    """Leaks written in the sources, and every non-trivial secret line of the assignment."""
    regions = {path: notebook_regions(_read_notebook(path)) for path in sources}
    secrets: dict[str, list[tuple[SecretLine, Path]]] = {}
    for path, cells in regions.items():
        for cell in cells:
            for secret in cell.secret:
                if not is_trivial(secret.text):
                    secrets.setdefault(secret.text, []).append((secret, path))
    leaks = []
    for path, cells in regions.items():
        for cell in cells:
            for line in dict.fromkeys(cell.public):
                found = _secret_in(line, secrets, contained=cell.cell_type != "code")
                owners = [
                    (secret, owner)
                    for secret, owner in secrets.get(found, [])
                    if (owner, secret.cell_index) != (path, cell.index)
                ]
                if owners:
                    secret, owner = owners[0]
                    leaks.append(
                        Leak(
                            path=path,
                            kind=secret.kind,
                            line=found,
                            cell_index=cell.index,
                            grade_id=cell.grade_id,
                            origin=_describe(secret, owner) + ", written here outside the markers",
                        )
                    )
    first = {text: occurrences[0] for text, occurrences in secrets.items()}
    return leaks, first


def scan_release(
    paths: CoursePaths, assignment: str, *, stub_lines: set[str] | None = None
) -> tuple[list[Leak], int]:
    """Scan one released assignment (and its sources) for instructor-only text.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment, e.g. ``"02_mnist"``; its release must exist.
    stub_lines : set of str, optional
        Lines nbgrader writes in place of solutions; default from the course configuration.

    Returns
    -------
    leaks : list of Leak
        Empty when nothing leaked.
    secret_lines : int
        How many distinct non-trivial instructor-only lines were looked for.

    Raises
    ------
    FileNotFoundError
        If the assignment has not been released.
    """
    folder = paths.release / assignment
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No release of {assignment!r} at {folder}: run `cnnlab release {assignment}` first."
        )
    return scan_folder(paths, assignment, folder, stub_lines=stub_lines)


def scan_folder(
    paths: CoursePaths,
    assignment: str,
    folder: Path,
    *,
    stub_lines: set[str] | None = None,
    added_cell: Callable[[dict], bool] | None = None,
) -> tuple[list[Leak], int]:
    """Scan a folder of released files of one assignment for instructor-only text.

    The same scan as :func:`scan_release`, for a copy of a release somewhere else (the
    student kit's ``build/kit/<assignment>/``).

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course whose sources hold the secrets.
    assignment : str
        The assignment, e.g. ``"02_mnist"``.
    folder : pathlib.Path
        The released files.
    stub_lines : set of str, optional
        Lines nbgrader writes in place of solutions; default from the course configuration.
    added_cell : callable, optional
        ``added_cell(cell) -> bool`` marks notebook cells added after nbgrader (the kit's
        installer cell): they are left out when released cells are matched to source cells
        by position, and no line of them counts as shown in the source.

    Returns
    -------
    leaks : list of Leak
        Empty when nothing leaked.
    secret_lines : int
        How many distinct non-trivial instructor-only lines were looked for.
    """
    if stub_lines is None:
        stub_lines = nbgrader_stub_lines(load_nbgrader_config(paths))
    leaks, secrets = assignment_secrets(paths, assignment)
    for released in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        if released.suffix == ".ipynb":
            leaks.extend(
                _scan_notebook(
                    released, paths.notebooks / assignment, secrets, stub_lines, added_cell
                )
            )
        else:
            leaks.extend(_scan_file(released, secrets))
    return leaks, len(secrets)


def assignment_secrets(
    paths: CoursePaths, assignment: str
) -> tuple[list[Leak], dict[str, tuple[SecretLine, Path]]]:
    """The instructor-only lines of one assignment's sources, and leaks written in them.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment, e.g. ``"02_mnist"``.

    Returns
    -------
    leaks : list of Leak
        Lines of one cell's regions written outside the regions of another cell.
    secrets : dict
        Every distinct non-trivial secret line -> (its first :class:`SecretLine`, notebook).
    """
    return _scan_sources(sorted((paths.notebooks / assignment).glob("*.ipynb")))


def scan_other_files(
    paths: CoursePaths, assignments: list[str], files: list[Path], *, label: Path | None = None
) -> list[Leak]:
    """Scan files that belong to no one assignment (a kit's README, its wheel) for secrets.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignments : list of str
        Whose secret lines to look for.
    files : list of pathlib.Path
        The files; binary files hold no source lines and are passed over.
    label : pathlib.Path, optional
        A folder the files were unpacked into from somewhere else; leaks then name the file
        relative to it (the path inside a wheel, say).

    Returns
    -------
    list of Leak
        Empty when no file holds a delimiter or an instructor-only line.
    """
    secrets: dict[str, tuple[SecretLine, Path]] = {}
    for assignment in assignments:
        for text, owner in assignment_secrets(paths, assignment)[1].items():
            secrets.setdefault(text, owner)
    leaks = []
    for path in files:
        for leak in _scan_file(path, secrets):
            if label is not None:
                leak = replace(leak, path=path.relative_to(label))
            leaks.append(leak)
    return leaks


def _scan_notebook(
    released: Path,
    source_folder: Path,
    secrets: dict[str, tuple[SecretLine, Path]],
    stub_lines: set[str],
    added_cell: Callable[[dict], bool] | None = None,
) -> list[Leak]:
    notebook = _read_notebook(released)
    source = source_folder / released.name
    regions = notebook_regions(_read_notebook(source)) if source.is_file() else []
    by_grade_id = {cell.grade_id: cell for cell in regions if cell.grade_id}
    everywhere = {line for cell in regions for line in cell.public}
    leaks = []
    position = 0  # index among the cells nbgrader released (added cells left out)
    for index, cell in enumerate(notebook.get("cells", [])):
        grade_id = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        if added_cell is not None and added_cell(cell):
            allowed = set()
        elif grade_id in by_grade_id:
            allowed = set(by_grade_id[grade_id].public)
        elif position < len(regions) and regions[position].cell_type == cell.get("cell_type"):
            allowed = set(regions[position].public)
        else:
            allowed = everywhere
        if added_cell is None or not added_cell(cell):
            position += 1
        allowed = allowed | stub_lines
        source_lines = _lines(_text_of(cell.get("source", "")))
        output_lines = _output_lines(cell)
        for line in dict.fromkeys(source_lines + output_lines):
            if _marker_in(line):
                leaks.append(Leak(released, "marker", line, index, grade_id))
                continue
            # text and tracebacks quote code within a line ("----> 3 code", "`code`")
            quoted = cell.get("cell_type") != "code" or line in output_lines
            found = _secret_in(line, secrets, contained=quoted)
            if found and line not in allowed:
                secret, owner = secrets[found]
                leaks.append(
                    Leak(
                        released,
                        secret.kind,
                        found,
                        index,
                        grade_id,
                        origin=_describe(secret, owner),
                    )
                )
    if not any(leak.kind == "marker" for leak in leaks):
        raw = released.read_text(encoding="utf-8")
        for marker in MARKERS:
            if marker in raw:
                leaks.append(Leak(released, "marker", marker, origin="notebook metadata"))
    return leaks


def _scan_file(released: Path, secrets: dict[str, tuple[SecretLine, Path]]) -> list[Leak]:
    try:
        text = released.read_text(encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        return []  # binary data (images, arrays) holds no source lines
    leaks = []
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.strip()
        if _marker_in(line):
            leaks.append(Leak(released, "marker", line, line_number=number))
        elif found := _secret_in(line, secrets, contained=released.suffix != ".py"):
            secret, owner = secrets[found]
            leaks.append(
                Leak(
                    released,
                    secret.kind,
                    found,
                    line_number=number,
                    origin=_describe(secret, owner),
                )
            )
    return leaks
