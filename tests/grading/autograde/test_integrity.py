"""Integrity of submissions: restoring tests from the source, the tamper scan, the marker."""

from __future__ import annotations

import copy
import shutil

import nbformat
import pytest
from fixture_courses import GRADING_COURSE

from grading.autograde.cells import InvalidNotebook, grade_id, is_test_cell, read_notebook
from grading.autograde.restore import restore
from grading.autograde.tamper import Finding, scan_notebook, scan_source
from grading.base.template import build_template
from grading.demo import solution_source, wrong_source
from grading.paths import CoursePaths

ASSIGNMENT = "01_fixture"


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> CoursePaths:
    return CoursePaths(root=GRADING_COURSE, build=tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def template(paths):
    return build_template(paths, ASSIGNMENT)


@pytest.fixture
def reference(template):
    return template.notebook("reference", "fixture")


@pytest.fixture
def release(template):
    return template.notebook("release", "fixture")


def _index(notebook, name):
    return next(i for i, c in enumerate(notebook.cells) if grade_id(c) == name)


def _cell(notebook, name):
    return notebook.cells[_index(notebook, name)]


def _restore(submission, template):
    return restore(
        submission,
        template.notebook("reference", "fixture"),
        template.notebook("release", "fixture"),
    )


# --------------------------------------------------------------------------- reading


def test_read_notebook_rejects_what_is_not_a_notebook():
    with pytest.raises(InvalidNotebook, match="not a JSON file"):
        read_notebook(b'{"cells": [', "broken.ipynb")
    with pytest.raises(InvalidNotebook, match="not a Jupyter notebook"):
        read_notebook(b'{"hello": 1}', "hello.ipynb")
    with pytest.raises(InvalidNotebook, match="not a JSON file"):
        read_notebook(b"\xff\xfe\x00", "binary.ipynb")
    nb = read_notebook(nbformat.writes(nbformat.v4.new_notebook()), "ok.ipynb")
    assert nb.nbformat == 4


# --------------------------------------------------------------------------- the template


def test_reference_holds_hidden_tests_and_release_does_not(template, reference, release):
    hidden = "assert square(-2) == 4"
    assert hidden in _cell(reference, "test_square").source
    assert hidden not in _cell(release, "test_square").source
    assert "BEGIN SOLUTION" not in nbformat.writes(release)
    assert "return x * x" in template.source["fixture"]
    assert template.gradebook.startswith(b"SQLite format 3")


# --------------------------------------------------------------------------- restoring


def test_restore_keeps_answers_and_returns_nothing_to_repair(release, template):
    submission = copy.deepcopy(release)
    _cell(submission, "square").source = "def square(x):\n    return x ** 2"
    restored, reasons = _restore(submission, template)
    assert reasons == []
    assert _cell(restored, "square").source == "def square(x):\n    return x ** 2"
    assert "assert square(-2) == 4" in _cell(restored, "test_square").source  # hidden tests


def test_restore_puts_back_deleted_edited_and_duplicated_tests(release, reference, template):
    submission = copy.deepcopy(release)
    _cell(submission, "test_mean_abs").source = "pass  # my tests pass now"
    duplicate = copy.deepcopy(_cell(submission, "test_normalise"))
    duplicate["id"] = "copy1"
    submission.cells.insert(_index(submission, "test_normalise"), duplicate)
    del submission.cells[_index(submission, "test_square")]
    restored, reasons = _restore(submission, template)

    for name in ("test_square", "test_mean_abs", "test_normalise"):
        assert _cell(restored, name).source == _cell(reference, name).source
    assert [grade_id(c) for c in restored.cells].count("test_normalise") == 1
    assert [grade_id(c) for c in restored.cells if grade_id(c)] == [
        grade_id(c) for c in reference.cells if grade_id(c)
    ]
    assert "restored: test cell 'test_square' was deleted; restored from the source" in reasons
    assert "restored: test cell 'test_mean_abs' was edited; restored from the source" in reasons
    assert any("'test_normalise' appears 2 times" in r for r in reasons)


def test_restore_resets_points_flags_and_cell_type(release, reference, template):
    submission = copy.deepcopy(release)
    _cell(submission, "test_square").metadata.nbgrader["points"] = 200
    _cell(submission, "square").metadata.nbgrader["grade"] = True
    _cell(submission, "square").metadata.nbgrader["points"] = 5
    test = _cell(submission, "test_normalise")
    submission.cells[_index(submission, "test_normalise")] = nbformat.v4.new_markdown_cell(
        test.source, metadata=test.metadata
    )
    restored, reasons = _restore(submission, template)
    assert _cell(restored, "test_square").metadata.nbgrader["points"] == 2
    assert not _cell(restored, "square").metadata.nbgrader["grade"]
    assert _cell(restored, "test_normalise").cell_type == "code"
    text = "\n".join(reasons)
    assert "'test_square' had its metadata changed (points 200 -> 2" in text
    assert "'square' had its metadata changed" in text
    assert "cell type markdown -> code" in text


def test_restore_keeps_student_cells_in_place_and_strips_forged_metadata(release, template):
    submission = copy.deepcopy(release)
    helper = nbformat.v4.new_code_cell("HELPER = 2")
    forged = nbformat.v4.new_code_cell(
        "print('forged')",
        metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 50, "locked": True}},
    )
    at = _index(submission, "square") + 1
    submission.cells[at:at] = [helper, forged]
    restored, reasons = _restore(submission, template)
    square = _index(restored, "square")
    assert restored.cells[square + 1].source == "HELPER = 2"
    assert restored.cells[square + 2].source == "print('forged')"
    assert "nbgrader" not in restored.cells[square + 2].metadata
    assert restored.cells[square + 3].metadata.nbgrader["grade_id"] == "test_square"
    assert any("claims grade_id 'bonus'" in r for r in reasons)


def test_restore_grades_the_last_copy_of_a_duplicated_answer(release, template):
    submission = copy.deepcopy(release)
    first = copy.deepcopy(_cell(submission, "square"))
    first.source = "def square(x):\n    return 0"
    first["id"] = "first"
    submission.cells.insert(_index(submission, "square"), first)
    _cell(submission, "square")  # the original stays, later in the notebook
    submission.cells[_index(submission, "square") + 1].source = "def square(x):\n    return x * x"
    restored, reasons = _restore(submission, template)
    graded = [c for c in restored.cells if grade_id(c) == "square"]
    assert len(graded) == 1 and graded[0].source.endswith("return x * x")
    assert any(
        c.source.endswith("return 0") and "nbgrader" not in c.metadata for c in restored.cells
    )
    assert any("'square' appears 2 times; the last copy is graded" in r for r in reasons)


def test_restore_reports_a_missing_answer_without_inserting_the_stub(release, template):
    submission = copy.deepcopy(release)
    answer = _cell(submission, "square")
    answer.metadata = {}  # the student cleared the cell's nbgrader metadata
    answer.source = "def square(x):\n    return x * x"
    restored, reasons = _restore(submission, template)
    assert not any(grade_id(c) == "square" for c in restored.cells)
    assert any(c.source.endswith("return x * x") for c in restored.cells)
    assert any(r.startswith("missing: solution cell 'square'") for r in reasons)


def test_restore_puts_back_an_edited_parameters_cell(release, reference, template):
    submission = copy.deepcopy(release)
    _cell(submission, "parameters").source = 'PROFILE = "smoke"'
    restored, reasons = _restore(submission, template)
    assert _cell(restored, "parameters").source == _cell(reference, "parameters").source
    assert "restored: locked cell 'parameters' was edited; restored from the source" in reasons


# --------------------------------------------------------------------------- plain nbgrader


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own, on SQLAlchemy 2
@pytest.mark.slow
def test_plain_nbgrader_silently_drops_a_deleted_test_cell(paths, template, tmp_path):
    """Why restore() exists: nbgrader 0.9.6 never runs a deleted test; its grade stays empty."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde

    from grading.base.gradebook import COURSE_ID
    from grading.base.nbgrader_driver import load_nbgrader_config, run_converter

    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    submitted = course / "submitted" / "alice" / ASSIGNMENT
    submitted.mkdir(parents=True)
    correct = template.notebook("release", "fixture")
    answers = template.notebook("source", "fixture")
    for cell in correct.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solution_source(_cell(answers, grade_id(cell)).source)
    del correct.cells[_index(correct, "test_normalise")]
    nbformat.write(correct, submitted / "fixture.ipynb")
    url = template.write_gradebook(course / "gradebook.db")
    config = load_nbgrader_config(paths, db_url=url)
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.course_id = COURSE_ID
    run_converter(Autograde, config, assignment_id=ASSIGNMENT, student_id="alice")
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        grade = gradebook.find_grade("test_normalise", "fixture", ASSIGNMENT, "alice")
        kept = gradebook.find_grade("test_square", "fixture", ASSIGNMENT, "alice")
        assert grade.auto_score is None and grade.needs_manual_grade  # never executed
        assert kept.auto_score == 2.0
    shutil.rmtree(course)


# --------------------------------------------------------------------------- the static scan

TAMPERING = {
    "set_custom_exc": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "shell alias": "ip = get_ipython()\nip.custom_exceptions = (AssertionError,)",
    "input transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
    "ast transformer": "import IPython\nIPython.get_ipython().ast_transformers.append(object())",
    "events": "get_ipython().events.register('pre_run_cell', lambda info: None)",
    "excepthook": "import sys\nsys.excepthook = lambda *args: None",
    "settrace": "import sys\nsys.settrace(lambda *a: None)",
    "rebind AssertionError": "AssertionError = type('Nothing', (Exception,), {})",
    "rebind print": "def print(*args):\n    pass",
    "global rebind": "def sneaky():\n    global AssertionError\n    AssertionError = None",
    "builtins module": "import builtins\nbuiltins.isinstance = lambda *a: True",
    "__builtins__": "__builtins__.len = lambda x: 3",
    "numpy.testing": "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None",
    "numpy alias": "import numpy\nt = numpy.testing\nt.assert_allclose = lambda *a, **k: None",
    "setattr": "import numpy.testing\nsetattr(numpy.testing, 'assert_allclose', print)",
    "labcore.checks": "from labcore import checks\nchecks.check_model = lambda *a: None",
    "keras": "import keras\nkeras.Model.evaluate = lambda self, *a, **k: [0.0, 1.0]",
    "function code": "def f():\n    pass\nimport numpy as np\nnp.mean.__code__ = f.__code__",
    "mock": "from unittest import mock\nmock.patch('numpy.mean').start()",
    "environ": "import os\nos.environ['LABCORE_PROFILE'] = 'smoke'",
    "environ update": "import os\nos.environ.update({'NBGRADER_EXECUTION': ''})",
    "environ computed": "import os\nname = 'LABCORE_' + 'PROFILE'\nos.environ[name] = 'smoke'",
    "%env": "%env LABCORE_PROFILE=smoke",
    "%config": "%config InteractiveShell.ast_node_interactivity = 'none'",
    "code in %time": "%time get_ipython().set_custom_exc((Exception,), print)",
    "signal": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
    "exec": "exec('x = 1')",
    "computed import": "import importlib\nm = importlib.import_module('num' + 'py')",
    "sys.modules": "import sys\nsys.modules['labcore.checks'] = object()",
    "getattr literal": "getattr(get_ipython(), 'set_custom_exc')((Exception,), print)",
}
HONEST = {
    "plain answer": "def square(x):\n    return x * x",
    "imports": "import numpy as np\nfrom IPython.display import display\nimport pandas as pd",
    "common names": "sum = 0\nbiggest = max([1, 2])\nitems = list(range(3))\ninput_shape = (2, 2)",
    "pandas options": "import pandas as pd\npd.options.display.max_rows = 10",
    "rcParams": "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (4, 3)",
    "seeds": "import numpy as np\nnp.random.seed(0)\nimport keras\nkeras.utils.set_random_seed(1)",
    "other env": "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'",
    "magics": "%matplotlib inline\n%time x = sum([1, 2])\n!ls",
    "try/except": "try:\n    value = 1 / 0\nexcept ZeroDivisionError:\n    value = 0",
    "subclass": "import keras\nclass Net(keras.Model):\n    pass",
    "syntax error": "def broken(:\n    pass",
    "local names": "def area(shape):\n    len = shape[0]\n    np = 2\n    return len * np",
}


@pytest.mark.parametrize("source", TAMPERING.values(), ids=TAMPERING.keys())
def test_scan_finds_tampering(source):
    found = scan_source(source)
    assert any(kind == "tampering" for _, kind, _ in found), found


@pytest.mark.parametrize("source", HONEST.values(), ids=HONEST.keys())
def test_scan_leaves_honest_code_alone(source):
    assert scan_source(source) == []


@pytest.mark.parametrize(
    "source",
    ["exit()", "quit()", "import sys\nsys.exit(1)", "import os\nos._exit(1)", "raise SystemExit"],
)
def test_scan_records_exits_as_their_own_kind(source):
    assert [kind for _, kind, _ in scan_source(source)] == ["exit"]


def test_scan_notebook_protects_names_the_setup_imports(release, template):
    submission = copy.deepcopy(release)
    _cell(submission, "square").source = "np = None\nimport numpy as np"
    _cell(submission, "mean_abs").source = "import numpy as np  # the same thing: fine"
    restored, _ = _restore(submission, template)
    findings = scan_notebook(restored)
    assert [f.cell for f in findings] == ["'square'"]
    assert findings[0] == Finding(
        "tampering", findings[0].what, _index(restored, "square"), "'square'", 1
    )
    assert "rebinds np" in findings[0].what
    assert findings[0].reason().startswith("tampering: rebinds np")
    assert "tests after it score 0, needs instructor review" in findings[0].reason()


# --------------------------------------------------------------------------- the marker


def test_test_cells_are_the_graded_code_cells(reference):
    names = [grade_id(c) for c in reference.cells if is_test_cell(c)]
    assert names == ["test_profile", "test_square", "test_mean_abs", "test_normalise"]


def test_demo_answers_come_from_the_solution_regions():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"
    assert solution_source(source) == "def f(x):\n    return x + 1"
    assert wrong_source(source) == "def f(x):\n    pass"
    assert wrong_source("answer = 42") == "pass"


def test_missing_source_is_a_clear_error(paths):
    with pytest.raises(FileNotFoundError, match="Missing source for assignment '99_nope'"):
        build_template(paths, "99_nope")


@pytest.mark.parametrize(
    "code",
    [
        'vars(np)["allclose"] = lambda *a, **k: True',
        'np.testing.__dict__["assert_allclose"] = print',
        'globals()["np"] = None',
        "globals()[name] = None",
        'setattr(*[np, "allclose", print])',
        'getattr(sys, "set" + "trace")(print)',
        'get_ipython().run_line_magic("con" + "fig", "x")',
        "().__class__.__base__.__subclasses__()",
        "sys.modules['numpy'].testing.assert_allclose = print",
        "threading.Timer(1, print).start()",
        "atexit.register(print)",
        "ctypes.pythonapi.PyObject_SetAttr(None, None, None)",
    ],
)
def test_the_scan_sees_disguised_patches(code):
    aliases = {"np": "numpy", "sys": "sys", "threading": "threading", "atexit": "atexit"}
    found = scan_source(code, {**aliases, "ctypes": "ctypes"}, {"np": "numpy"})
    assert [kind for _, kind, _ in found] == ["tampering"], found


@pytest.mark.parametrize(
    "code",
    [
        "%matplotlib inline",
        "%config InlineBackend.figure_format = 'retina'",
        "%timeit sum(range(10))",
        'globals()["my_answer"] = 42',
    ],
)
def test_the_scan_leaves_ordinary_notebook_code_alone(code):
    assert scan_source(code, {"np": "numpy"}, {"np": "numpy"}) == []
