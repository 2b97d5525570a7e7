"""Write the small course the browser test opens in JupyterLab (``python make_fixture.py``).

``fixture_course/`` is a CNN Lab course root (``notebooks/`` and a ``pyproject.toml``) with
one assignment, ``01_fixture/fixture.ipynb``, laid out like the course notebooks but quick
to run: a locked ``parameters`` cell, a locked setup cell that imports labcore and prints
the run profile, one solution cell (``square``), its test cell (visible and hidden tests,
2 points), and two plots: the student's function drawn with pyplot (shown by the kernel's
inline backend) and a course figure from :mod:`labcore.plots`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
COURSE = HERE / "fixture_course"
NOTEBOOK = COURSE / "notebooks" / "01_fixture" / "fixture.ipynb"


def _nbgrader(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def code(cell_id, source, tags=None, **nbgrader):
    metadata = _nbgrader(cell_id, **nbgrader)
    if tags:
        metadata["tags"] = tags
    return nbformat.v4.new_code_cell(source, id=cell_id, metadata=metadata)


def markdown(cell_id, source):
    return nbformat.v4.new_markdown_cell(source, id=cell_id, metadata={})


CELLS = [
    markdown(
        "intro",
        "# Browser fixture\n\nOne exercise, its tests and two plots, laid out like the course "
        "notebooks.",
    ),
    code(
        "parameters",
        "PROFILE = None  # papermill parameter: smoke, grade or full",
        tags=["parameters"],
        locked=True,
    ),
    code(
        "setup",
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n\n"
        "from labcore import plots\n"
        "from labcore.profile import resolve_profile_name\n\n"
        'print(f"run profile: {resolve_profile_name(PROFILE)}")',
        locked=True,
    ),
    markdown(
        "square_task",
        "## Exercise\n\nWrite `square(x)`, which returns `x` squared (numbers and NumPy arrays).",
    ),
    code(
        "square",
        "def square(x):\n"
        '    """Return x squared."""\n'
        "    ### BEGIN SOLUTION\n"
        "    return x * x\n"
        "    ### END SOLUTION",
        solution=True,
    ),
    code(
        "test_square",
        'assert square(3) == 9, "square(3) should be 9"\n'
        "np.testing.assert_allclose(square(np.arange(4)), [0, 1, 4, 9])\n"
        'print("square: visible tests passed")\n'
        "### BEGIN HIDDEN TESTS\n"
        "assert square(-2) == 4\n"
        "### END HIDDEN TESTS",
        grade=True,
        locked=True,
        points=2,
    ),
    markdown("plot_intro", "## Your function, plotted"),
    code(
        "plot_square",
        "xs = np.linspace(-3, 3, 61)\n"
        "fig, ax = plt.subplots(figsize=(4, 3))\n"
        "ax.plot(xs, square(xs))\n"
        'ax.set_title("square(x)")\n'
        "plt.show()",
        locked=True,
    ),
    code(
        "plot_classes",
        "# a course figure: labcore.plots returns a Figure, and the cell shows it\n"
        'plots.class_balance({"normal": 3, "pneumonia": 5})',
        locked=True,
    ),
]


def build(cells=CELLS) -> nbformat.NotebookNode:
    """A fixture notebook.

    Parameters
    ----------
    cells : list
        Its cells (default the fixture assignment's).

    Returns
    -------
    nbformat.NotebookNode
        A valid nbformat 4 notebook without outputs.
    """
    nb = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nb


if __name__ == "__main__":
    NOTEBOOK.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(), NOTEBOOK)
    (COURSE / "pyproject.toml").write_text(
        "# Marks this folder as a CNN Lab course root for grading.paths (tests only).\n"
        '[project]\nname = "cnnlab-browser-fixture-course"\nversion = "0"\n'
    )
    print(f"wrote {NOTEBOOK}")
