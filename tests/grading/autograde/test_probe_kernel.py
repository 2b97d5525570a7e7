"""The integrity probe and the hidden-test forgetting, in a real IPython kernel."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from grading.autograde.probe import (
    PROBED_MODULES,
    compare,
    forget_expression,
    parse_forget_reply,
    parse_reply,
    probe_expression,
)

HIDDEN = "assert secret_answer == 42  # hidden"
LATER_HIDDEN = "assert other_secret == 7  # hidden too"
SHARED = "assert shared == 1  # in a visible cell and in a hidden test"


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _run(client, code: str = "", **expressions) -> dict:
    reply = client.execute_interactive(
        code,
        silent=not code,
        store_history=False,
        user_expressions=expressions,
        timeout=120,
        output_hook=lambda message: None,
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def _cached_text(client) -> str:
    expression = (
        "''.join(''.join(e[2]) for e in __import__('linecache').cache.values() if len(e) > 2)"
    )
    reply = _run(client, text=expression)
    return ast.literal_eval(reply["content"]["user_expressions"]["text"]["data"]["text/plain"])


@pytest.mark.slow
def test_forgetting_drops_hidden_lines_and_rereads_only_new_entries(kernel):
    _run(kernel, "shared = 1\n" + SHARED)  # a visible cell
    _run(kernel, "secret_answer = 42\n" + HIDDEN)
    assert HIDDEN in _cached_text(kernel)
    reply = _run(kernel, forget=forget_expression([HIDDEN]))
    kept = parse_forget_reply(reply)
    assert kept, reply["content"]
    assert HIDDEN not in _cached_text(kernel)
    assert SHARED in _cached_text(kernel)

    # a later hidden test, with a line the visible cell has too: the test's own entry goes;
    # the visible cell, kept last time (so cached before this test ran), is not read again
    _run(kernel, "other_secret = 7\n" + LATER_HIDDEN + "\n" + SHARED)
    reply = _run(kernel, forget=forget_expression([LATER_HIDDEN, SHARED], kept))
    assert LATER_HIDDEN not in _cached_text(kernel)
    assert SHARED in _cached_text(kernel)
    assert kept <= parse_forget_reply(reply)
    # read everything (as after a failed reply): the visible cell's entry goes too
    _run(kernel, forget=forget_expression([SHARED]))
    assert SHARED not in _cached_text(kernel)


def test_a_failed_forget_reply_means_read_everything_next_time():
    assert parse_forget_reply(None) == set()
    assert parse_forget_reply({"content": {"status": "error"}}) == set()


@pytest.mark.slow
def test_the_loading_probe_fingerprints_as_the_later_probes_do(kernel):
    names = ["numpy.random.default_rng", "numpy.allclose", "json.dumps", "builtins.len"]
    first = parse_reply(_run(kernel, probe=probe_expression(names, [], load=True)))
    later = parse_reply(_run(kernel, probe=probe_expression(names, [], load=False)))
    assert first and first["numpy.random.default_rng"] != "absent"
    assert compare(first, later) == []
    _run(kernel, "import numpy\nnumpy.allclose = lambda *args, **kwargs: True")
    changed = parse_reply(_run(kernel, probe=probe_expression(names, [], load=False)))
    assert compare(first, changed) == ["numpy.allclose"]


def test_every_module_of_labcore_checks_is_probed():
    import labcore.checks

    folder = Path(labcore.checks.__file__).parent
    modules = {f"labcore.checks.{path.stem}" for path in folder.glob("*.py")}
    assert modules - {"labcore.checks.__init__"} <= set(PROBED_MODULES)


@pytest.mark.slow
def test_a_patch_of_a_checks_helper_is_caught_public_or_private(kernel):
    modules = ["labcore.checks", "labcore.checks.core", "labcore.checks.xray"]
    before = parse_reply(_run(kernel, probe=probe_expression([], modules, load=True)))
    assert "labcore.checks.core._fail" in before and "labcore.checks.core.call_own_code" in before
    _run(kernel, "import labcore.checks.core as c\nc._fail = lambda *args, **kwargs: None")
    _run(kernel, "import labcore.checks.xray as x\nx.call_own_code = lambda f, *a, **k: f(*a, **k)")
    after = parse_reply(_run(kernel, probe=probe_expression([], modules, load=False)))
    assert compare(before, after) == [
        "labcore.checks.core._fail",
        "labcore.checks.xray.call_own_code",
    ]
