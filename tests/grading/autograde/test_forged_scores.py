"""Scores that code in the kernel cannot forge, and no false alarms for ordinary code.

One class of the fixture course is graded once with ``cnnlab autograde``'s API in the real
sandbox. Each attack builds on an honest wrong answer (:data:`WRONG`) and must score no
more than it; each honest variant builds on the correct answer and must score full marks.
New attacks are added as entries of :data:`ATTACKS`. (Answers that only look right, such as
an object equal to everything, are the tests' business: ``labcore.checks`` checks types.)
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import nbformat
import pytest
from fixture_courses import GRADING_COURSE

from grading.autograde.cells import grade_id
from grading.autograde.run import autograde
from grading.autograde.sandbox import SandboxLimits
from grading.demo import make_class
from grading.paths import CoursePaths

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_fixture"
LIMITS = SandboxLimits(cell_timeout=30, notebook_timeout=240, memory_limit_mb=1500)

#: Wrong answers a student could honestly hand in (every test of theirs fails but one check).
WRONG = {
    "square": "def square(x):\n    return x + x",
    "mean_abs": "def mean_abs(values):\n    return 0.0",
    "normalise": "def normalise(values):\n    return np.asarray(values, dtype=float)",
}
FORGE_DISPLAY = "__import__('sys').displayhook('ok')\n    "


@dataclass(frozen=True)
class Variant:
    """A submission: answers (``None``: the correct ones), a cell of its own after the setup
    and one at the end, if any."""

    answers: dict | None
    extra_cell: str | None = None
    final_cell: str | None = None


ATTACKS = {
    "custom_exc_handler": Variant(
        WRONG,
        "import sys\n\n\ndef _swallow(shell, etype, value, tb, tb_offset=None):\n"
        "    print(shell.user_ns['In'][-1][-60:])\n    sys.displayhook('ok')\n\n\n"
        "getattr(get_ipython(), 'set_custom' + '_exc')((Exception,), _swallow)",
    ),
    "displayhook_in_answers": Variant(
        {
            name: source.replace("\n    return", f"\n    {FORGE_DISPLAY}return", 1)
            for name, source in WRONG.items()
        }
    ),
    "huge_partial_credit": Variant(
        {
            **WRONG,
            "mean_abs": "def mean_abs(values):\n    __import__('sys').displayhook(1e9)\n"
            "    return 0.0",
        }
    ),
    "vars_patch": Variant(
        WRONG, 'vars(np.testing)["assert_allclose"] = lambda *args, **kwargs: None'
    ),
    "dict_patch": Variant(
        WRONG, 'np.testing.__dict__["assert_allclose"] = lambda *args, **kwargs: None'
    ),
    "sys_modules_patch": Variant(
        WRONG,
        "import sys\n\nsys.modules['numpy'].testing.assert_allclose = lambda *a, **k: None",
    ),
    "setattr_starred": Variant(
        WRONG, 'setattr(*[np.testing, "assert_allclose", lambda *args, **kwargs: None])'
    ),
    "timer_patch": Variant(
        WRONG,
        "import threading\nimport time\n\n"
        "threading.Timer(0.2, lambda: vars(np.testing).__setitem__(\n"
        "    'assert_allclose', lambda *args, **kwargs: None)).start()\ntime.sleep(1)",
    ),
    # patches only when the locked cell 'square_table' calls it, never in a test cell, in a
    # form the static scan does not read
    "patch_when_a_locked_cell_calls": Variant(
        {
            **WRONG,
            "square": "def square(x):\n    if isinstance(x, int) and x == 7:\n"
            "        testing = getattr(np, 'test' + 'ing')\n"
            "        testing.__dict__.update(assert_allclose=lambda *args, **kwargs: None)\n"
            "    return x + x",
        }
    ),
    # the answer patches when the test calls it, so the test passes: caught by the probe
    # that comes back with the test cell's own reply
    "patch_from_a_passing_test": Variant(
        {
            **WRONG,
            "normalise": "def normalise(values):\n"
            "    testing = getattr(np, 'test' + 'ing')\n"
            "    testing.__dict__.update(assert_allclose=lambda *args, **kwargs: None)\n"
            "    return np.asarray(values, dtype=float)",
        }
    ),
    "computed_settrace": Variant(
        WRONG, "import sys\n\ngetattr(sys, 'set' + 'trace')(lambda *args: None)"
    ),
    "callback_named_after_the_environment": Variant(
        WRONG,
        "import sys\n\n\ndef _patch(*args):\n"
        "    vars(np.testing)['assert_allclose'] = lambda *args, **kwargs: None\n\n\n"
        "_patch.__code__ = _patch.__code__.replace(co_filename=sys.prefix + '/lib/x.py')\n"
        "get_ipython().events.register('pre_run_cell', _patch)",
    ),
}
EXFILTRATE = (
    "import base64\nimport codecs\nimport linecache\nimport sys\n\n"
    "from IPython.display import HTML, display\n\n\n"
    "def leak():\n"
    "    frame = sys._getframe(2)  # the test cell that called the answer\n"
    "    text = ''.join(linecache.getlines(frame.f_code.co_filename))\n"
    "    print('EXFIL' + '-OUT', codecs.encode(text, 'rot13'))\n"
    "    print('EXFIL' + '-OUT', base64.b64encode(text.encode()).decode())\n"
    "    raise ValueError(codecs.encode(text, 'rot13'))\n\n\n"
    "display(HTML(\"<script>alert('pwned')</script>\"))\n"
    "print('EXFIL' + '-OUT', codecs.encode('\\n'.join(In), 'rot13'))"
)
ATTACKS["exfiltrate_into_feedback"] = Variant(
    {name: f"def {name}(*args):\n    return leak()" for name in WRONG}, EXFILTRATE
)
#: A last cell that looks for an earlier hidden test in ``In``, ``_ih`` and IPython's cache.
SPY = (
    "import linecache\n"
    "cached = ''.join(''.join(e[2]) for e in linecache.cache.values() if len(e) > 2)\n"
    "history = '\\n'.join(In) + '\\n'.join(_ih) + cached\n"
    "hidden = 'assert square(' + '-2)'  # not this cell's own text\n"
    "print('HIDDEN-SEEN' if hidden in history else 'HIDDEN-NOT-SEEN')"
)
# after failed tests (their hidden lines are forgotten in a request of their own)
ATTACKS["spy_after_failed_tests"] = Variant(WRONG, final_cell=SPY)
HONEST = {
    "magics": Variant(
        None,
        "%matplotlib inline\n%config InlineBackend.figure_format = 'retina'\n"
        "%timeit -n 1 -r 1 sum(range(10))",
    ),
    "builtin_names_as_variables": Variant(None, "all = [1, 2, 3]\nmax = 3\nmin = max - 2"),
    "comments_naming_libraries": Variant(
        {
            "square": "def square(x):\n    # not np.square or keras.ops.square: by hand\n"
            "    return x * x",
        }
    ),
    "loops_instead_of_numpy": Variant(
        {
            "mean_abs": "def mean_abs(values):\n    total = 0.0\n    for value in values:\n"
            "        total += abs(float(value))\n    return total / len(values)",
        }
    ),
    # after passing tests (forgotten with the test cell's own request)
    "spy_after_passed_tests": Variant(None, final_cell=SPY),
}


def _write(paths: CoursePaths, student: str, variant: Variant) -> None:
    source = paths.submitted / "demo_correct" / ASSIGNMENT
    target = paths.submitted / student / ASSIGNMENT
    shutil.copytree(source, target)
    path = sorted(target.glob("*.ipynb"))[0]
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        answer = (variant.answers or {}).get(grade_id(cell) or "")
        if answer is not None:
            cell.source = answer
    if variant.extra_cell is not None:
        setup = next(i for i, c in enumerate(notebook.cells) if grade_id(c) == "setup")
        notebook.cells.insert(setup + 1, nbformat.v4.new_code_cell(variant.extra_cell))
    if variant.final_cell is not None:
        notebook.cells.append(nbformat.v4.new_code_cell(variant.final_cell))
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every attack, its honest wrong base, and every honest variant, graded once."""
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path_factory.mktemp("forged"))
    demo = make_class(paths, ASSIGNMENT, ["correct"])
    variants = {"wrong": Variant(WRONG), **ATTACKS, **HONEST}
    for name, variant in variants.items():
        _write(paths, name, variant)
    summary = autograde(paths, jobs=2, limits=LIMITS, progress=False)
    outcomes = {o.student: o for o in summary.graded}
    return outcomes, demo.student("correct").expected_score, paths


def test_the_honest_wrong_answer_scores_what_it_should(graded):
    outcomes, _, _ = graded
    # test_profile (1) and one of four checks of test_mean_abs (3 x 1/4)
    assert outcomes["wrong"].score == 1.75 and outcomes["wrong"].status == "ok"


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_scores_no_more_than_its_honest_answer(graded, name):
    outcomes, _, _ = graded
    outcome = outcomes[name]
    assert outcome.status != "error", outcome.reasons  # always a grade
    assert outcome.score <= outcomes["wrong"].score, (outcome.status, outcome.reasons)


@pytest.mark.parametrize(
    "name",
    [
        "custom_exc_handler",
        "vars_patch",
        "dict_patch",
        "sys_modules_patch",
        "timer_patch",
        "patch_when_a_locked_cell_calls",
        "patch_from_a_passing_test",
    ],
)
def test_tampering_is_flagged_with_its_evidence(graded, name):
    outcomes, _, _ = graded
    outcome = outcomes[name]
    assert outcome.status == "tampered", outcome.reasons
    evidence = " ".join(outcome.reasons)
    assert "tampering:" in evidence and "cell" in evidence


def test_the_runtime_probe_names_what_changed(graded):
    outcomes, _, _ = graded
    reasons = " ".join(outcomes["timer_patch"].reasons)
    assert "numpy.testing.assert_allclose changed before cell 'test_" in reasons
    assert "sys.gettrace()" in " ".join(outcomes["computed_settrace"].reasons)
    locked = " ".join(outcomes["patch_when_a_locked_cell_calls"].reasons)
    assert "numpy.testing.assert_allclose changed" in locked
    assert "cell 'square_table'" in locked  # the locked cell that ran the student's code
    passing = " ".join(outcomes["patch_from_a_passing_test"].reasons)
    assert "numpy.testing.assert_allclose changed while running cell 'test_normalise'" in passing


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_variants_score_full_marks(graded, name):
    outcomes, correct, _ = graded
    outcome = outcomes[name]
    assert (outcome.score, outcome.status) == (correct, "ok"), outcome.reasons


def test_the_autograded_notebooks_hold_no_forged_results(graded, tmp_path):
    outcomes, _, _ = graded
    assert outcomes["huge_partial_credit"].status != "error"
    assert outcomes["displayhook_in_answers"].score <= outcomes["wrong"].score


@pytest.mark.parametrize("name", ["spy_after_passed_tests", "spy_after_failed_tests"])
def test_hidden_tests_run_without_history(graded, name):
    """A later cell cannot read an earlier hidden test from ``In``, ``_ih`` or IPython's cache."""
    _, _, paths = graded
    path = sorted((paths.autograded / name / ASSIGNMENT).glob("*.ipynb"))[0]
    last = nbformat.read(path, as_version=4).cells[-1]
    assert last.source == SPY
    printed = "".join(o.get("text", "") for o in last.outputs)
    assert "HIDDEN-NOT-SEEN" in printed


def test_feedback_leaks_no_hidden_test_in_any_encoding(graded):
    import base64
    import codecs

    from grading.base.regions import HIDDEN_TEST, secret_lines
    from grading.feedback import generate_feedback

    _, _, paths = graded
    generate_feedback(paths, [ASSIGNMENT])
    source = sorted((GRADING_COURSE / "notebooks" / ASSIGNMENT).glob("*.ipynb"))[0]
    hidden = [
        line.text.strip()
        for line in secret_lines(nbformat.read(source, as_version=4), kinds=(HIDDEN_TEST,))
        if len(line.text.strip()) > 8
    ]
    assert hidden
    folder = paths.feedback / "exfiltrate_into_feedback" / ASSIGNMENT
    html = (folder / source.with_suffix(".html").name).read_text()
    assert "EXFIL-OUT" not in html and "<script>alert" not in html  # (its code is shown)
    for line in hidden:
        for encoded in (
            line,
            codecs.encode(line, "rot13"),
            base64.b64encode(line.encode()).decode(),
        ):
            assert encoded not in html, line
    assert "This test failed: ValueError" in html  # the failure itself is reported
