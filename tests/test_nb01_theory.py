"""Notebook 01 (CNN theory) under the real grader: release, reference, blank, wrong answers.

One autograde run grades the whole class of this module: the reference solution, the
unanswered student version and one student per plausible wrong answer. Each wrong answer
must lose the points of its own exercise and no others.
"""

from __future__ import annotations

import pytest
from notebook_grading import (
    AssignmentGradingTests,
    GradingFailure,
    reference_answer,
    replace_once,
    solution_stubs,
    with_answer,
)

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_cnn_theory"

#: The autograded test cells of notebook 01 and their points (the header promises 14).
EXPECTED_POINTS = {
    "test_theory_output_size": 2.0,
    "test_theory_conv2d": 4.0,
    "test_theory_pool2d": 3.0,
    "test_theory_param_counts": 3.0,
    "test_theory_edge_kernels": 2.0,
}

FLOOR_FOR_SAME = """
def output_size(n, k, stride=1, padding="valid"):
    if padding == "same":
        return n // stride
    return (n - k) // stride + 1
"""

COUNTS_WITHOUT_BIAS = """
CONV1_PARAMS = 3 * 3 * 1 * 8
CONV2_PARAMS = 3 * 3 * 8 * 16
FLATTENED_FEATURES = 5 * 5 * 16
DENSE_PARAMS = 400 * 64
OUTPUT_PARAMS = 64 * 10
"""

SWAPPED_SOBEL = """
SOBEL_HORIZONTAL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
SOBEL_VERTICAL = SOBEL_HORIZONTAL.T.copy()
"""


def wrong_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (grade_id of the answer cell, a plausible wrong answer)."""
    conv2d = reference_answer(ASSIGNMENT, "theory_conv2d")
    pool2d = reference_answer(ASSIGNMENT, "theory_pool2d")
    return {
        # "same" rounds down instead of up: right for stride 1, wrong for larger strides
        "same-size-rounded-down": ("theory_output_size", FLOOR_FOR_SAME),
        # all padding at the bottom and right: the right size, shifted feature maps
        "conv-padding-one-sided": (
            "theory_conv2d",
            replace_once(
                conv2d,
                "((border, border), (border, border), (0, 0))",
                "((0, 2 * border), (0, 2 * border), (0, 0))",
            ),
        ),
        # a textbook convolution that flips the kernel (Keras does not)
        "conv-kernel-flipped": (
            "theory_conv2d",
            replace_once(
                conv2d, "np.tensordot(patch, kernels,", "np.tensordot(patch[::-1, ::-1], kernels,"
            ),
        ),
        # windows moved by one pixel instead of by the window size
        "pool-stride-one": (
            "theory_pool2d",
            replace_once(
                pool2d,
                "image[row * size : (row + 1) * size, col * size : (col + 1) * size, :]",
                "image[row : row + size, col : col + size, :]",
            ),
        ),
        "counts-without-bias": ("theory_param_counts", COUNTS_WITHOUT_BIAS),
        "sobel-swapped": ("theory_edge_kernels", SWAPPED_SOBEL),
    }


class TestGrading(AssignmentGradingTests):
    assignment = ASSIGNMENT
    expected_points = EXPECTED_POINTS
    wrong_answers = staticmethod(wrong_answers)

    def check_released_stubs(self, released):
        stubs = solution_stubs(released)
        assert len(stubs) == 5
        joined = "\n".join(stubs.values())  # each function's signature stays visible
        for signature in ("def output_size(", "def conv2d(", "def pool2d("):
            assert signature in joined

    def test_harness_refuses_to_answer_a_test_cell(self, released):
        with pytest.raises(ValueError, match="not a solution cell"):
            with_answer(released, "test_theory_conv2d", "pass")
        with pytest.raises(KeyError, match="no_such_cell"):
            with_answer(released, "no_such_cell", "pass")
        with pytest.raises(ValueError, match="occurs 0 times"):
            replace_once("x = 1", "y", "z")


def test_grading_failure_is_an_assertion_error():
    assert issubclass(GradingFailure, AssertionError)
