"""nbgrader regions of a source notebook: what students must never see, and what they may.

A source notebook holds three kinds of instructor-only text, each between delimiter lines:

- solutions: ``### BEGIN SOLUTION`` ... ``### END SOLUTION``, or the whole cell when a
  solution cell has no delimiters (nbgrader replaces it with a stub);
- hidden tests: ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``;
- mark schemes: ``=== BEGIN MARK SCHEME ===`` ... ``=== END MARK SCHEME ===``.

The release scan (``grading.release``) and the feedback filter (``grading.feedback``) both
read regions through this module, so they agree on what is secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "HIDDEN_TEST",
    "MARKERS",
    "MARK_SCHEME",
    "SOLUTION",
    "CellRegions",
    "SecretLine",
    "cell_regions",
    "is_trivial",
    "notebook_regions",
    "secret_lines",
    "strip_ansi",
]

SOLUTION = "solution"
HIDDEN_TEST = "hidden test"
MARK_SCHEME = "mark scheme"

#: kind -> (begin delimiter, end delimiter), as nbgrader matches them (anywhere in a line)
DELIMITERS: dict[str, tuple[str, str]] = {
    SOLUTION: ("BEGIN SOLUTION", "END SOLUTION"),
    HIDDEN_TEST: ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
    MARK_SCHEME: ("BEGIN MARK SCHEME", "END MARK SCHEME"),
}
#: Every delimiter; none may appear in anything a student receives.
MARKERS: tuple[str, ...] = tuple(text for pair in DELIMITERS.values() for text in pair)

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_TRIVIAL_STATEMENT = re.compile(
    r"^(return|yield|raise|pass|break|continue|else|try|finally|except|del|global|nonlocal)"
    r"\b\s*[\w.]*\s*:?$"
)


@dataclass(frozen=True)
class SecretLine:
    """One line of instructor-only text in a source notebook.

    Attributes
    ----------
    text : str
        The line without surrounding whitespace.
    kind : str
        ``"solution"``, ``"hidden test"`` or ``"mark scheme"``.
    cell_index : int
        Index of its cell in the notebook.
    grade_id : str or None
        The cell's nbgrader ``grade_id``.
    """

    text: str
    kind: str
    cell_index: int
    grade_id: str | None


@dataclass
class CellRegions:
    """A cell split into the lines a student sees and the lines a student must not see.

    Attributes
    ----------
    index : int
        Index of the cell in its notebook.
    grade_id : str or None
        The cell's nbgrader ``grade_id``.
    cell_type : str
        ``"code"`` or ``"markdown"`` (or ``"raw"``).
    public : list of str
        Stripped lines outside every region (delimiter lines excluded).
    secret : list of SecretLine
        Stripped lines inside a region (all lines, trivial ones included).
    """

    index: int
    grade_id: str | None
    cell_type: str
    public: list[str] = field(default_factory=list)
    secret: list[SecretLine] = field(default_factory=list)


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (as in IPython tracebacks).

    Parameters
    ----------
    text : str
        Text that may hold ANSI escape sequences.

    Returns
    -------
    str
        The text without them.
    """
    return _ANSI_ESCAPE.sub("", text)


def is_trivial(line: str) -> bool:
    """Whether a line is too generic to give anything away when it appears elsewhere.

    Parameters
    ----------
    line : str
        One line of source.

    Returns
    -------
    bool
        True for blank lines, lines without letters or digits (``)``, ``]):``), lines of
        fewer than six non-space characters (``x = 1``), and bare statements such as
        ``return model``, ``else:`` or ``pass``.
    """
    text = line.strip()
    significant = re.sub(r"\s+", "", text)
    return (
        len(significant) < 6
        or not re.search(r"[A-Za-z0-9]", text)
        or bool(_TRIVIAL_STATEMENT.match(text))
    )


def _grade_id(cell) -> str | None:
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def _source_text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def cell_regions(cell, index: int) -> CellRegions:
    """Split one cell of a source notebook into public and secret lines.

    Parameters
    ----------
    cell : dict or nbformat.NotebookNode
        A notebook cell.
    index : int
        Its index in the notebook.

    Returns
    -------
    CellRegions
        Delimiter lines are in neither list. A solution cell without solution delimiters is
        secret as a whole, as nbgrader replaces all of it. An unterminated region runs to
        the end of the cell.
    """
    grade_id = _grade_id(cell)
    regions = CellRegions(index=index, grade_id=grade_id, cell_type=cell.get("cell_type", ""))
    lines = _source_text(cell).split("\n")
    is_solution_cell = bool((cell.get("metadata", {}).get("nbgrader") or {}).get("solution"))
    has_solution_region = any(DELIMITERS[SOLUTION][0] in line for line in lines)
    whole_cell_kind = SOLUTION if is_solution_cell and not has_solution_region else None
    inside: str | None = None
    for line in lines:
        begins = [kind for kind, (begin, _) in DELIMITERS.items() if begin in line]
        ends = [kind for kind, (_, end) in DELIMITERS.items() if end in line]
        if begins:
            inside = begins[0]
            continue
        if ends:
            inside = None
            continue
        kind = inside or whole_cell_kind
        if kind:
            regions.secret.append(SecretLine(line.strip(), kind, index, grade_id))
        else:
            regions.public.append(line.strip())
    return regions


def notebook_regions(notebook) -> list[CellRegions]:
    """Split every cell of a source notebook into public and secret lines.

    Parameters
    ----------
    notebook : dict or nbformat.NotebookNode
        A notebook (nbformat 4).

    Returns
    -------
    list of CellRegions
        One per cell, in order.
    """
    return [cell_regions(cell, index) for index, cell in enumerate(notebook.get("cells", []))]


def secret_lines(notebook, kinds: tuple[str, ...] | None = None) -> list[SecretLine]:
    """The non-trivial instructor-only lines of a source notebook.

    Parameters
    ----------
    notebook : dict or nbformat.NotebookNode
        A source notebook.
    kinds : tuple of str, optional
        Only these kinds (e.g. ``(HIDDEN_TEST,)``); default all.

    Returns
    -------
    list of SecretLine
        Lines for which :func:`is_trivial` is False, in notebook order.
    """
    return [
        line
        for regions in notebook_regions(notebook)
        for line in regions.secret
        if not is_trivial(line.text) and (kinds is None or line.kind in kinds)
    ]
