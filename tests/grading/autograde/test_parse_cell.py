"""Parsing cells while other threads parse: the grader works on submissions in threads.

CPython 3.11 counts the AST builder's recursion per interpreter (python/cpython#106905): a
parse that another thread's parse interrupts fails with "SystemError: AST constructor recursion
depth mismatch". That failed a student's grading in CI. The harness below makes the interruption
happen on purpose: each time the garbage collector starts while the main thread parses, a second
thread parses a small cell, and the main thread waits briefly for it.
"""

import ast
import gc
import sys
import threading

import pytest

from grading.autograde.cells import parse_cell

# Enough nodes that the collector starts many times while the tree is built.
LONG_CELL = "\n".join(
    f"def f{i}(x):\n    return [[(a, {{b: c}}) for a in x] for b, c in x.items()] if x else x"
    for i in range(300)
)


def parse_interrupted(parse):
    """Parse ``LONG_CELL`` with ``parse`` while a second thread parses whenever it can.

    Returns
    -------
    errors : list of SystemError
        What either thread's parse raised.
    interruptions : int
        How many times the second thread was asked to parse during the main thread's parse.
    """
    asked, done = threading.Event(), threading.Event()
    done.set()
    stopping = threading.Event()
    errors = []
    interruptions = 0

    def other_thread():
        while True:
            asked.wait()
            asked.clear()
            if stopping.is_set():
                return
            try:
                parse("x = [1, (2, {3: 4})]")
            except SystemError as error:
                errors.append(error)
            done.set()

    def on_collect(phase, info):
        nonlocal interruptions
        in_main_thread = threading.current_thread() is threading.main_thread()
        if phase == "start" and in_main_thread and done.is_set():  # the other thread is free
            done.clear()
            interruptions += 1
            asked.set()
            done.wait(0.05)

    thread = threading.Thread(target=other_thread, daemon=True)
    thread.start()
    thresholds = gc.get_threshold()
    gc.set_threshold(20)
    gc.callbacks.append(on_collect)
    try:
        parse(LONG_CELL)
    except SystemError as error:
        errors.append(error)
    finally:
        gc.callbacks.remove(on_collect)
        gc.set_threshold(*thresholds)
        done.wait(5)
        stopping.set()
        asked.set()
        thread.join(5)
    return errors, interruptions


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the race is CPython 3.11's")
def test_the_harness_reproduces_the_race_with_plain_ast_parse():
    errors, interruptions = parse_interrupted(ast.parse)
    assert interruptions > 0
    assert any("recursion depth mismatch" in str(error) for error in errors), errors


def test_parse_cell_is_safe_while_other_threads_parse():
    errors, interruptions = parse_interrupted(parse_cell)
    assert interruptions > 0
    assert errors == []


def test_parse_cell_reads_ipython_syntax():
    tree = parse_cell("%matplotlib inline\n!ls\nvalue = 1")
    assert isinstance(tree.body[-1], ast.Assign)
    with pytest.raises(SyntaxError):
        parse_cell("def broken(:\n    pass")
