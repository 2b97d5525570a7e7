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

#: The autograded test cells of notebook 01 and their points (the header promises 20): one
#: point per independent thing to get right.
EXPECTED_POINTS = {
    "test_theory_output_size": 1.0,
    "test_theory_output_size_same": 1.0,
    "test_theory_output_size_stride": 1.0,
    "test_theory_output_size_explicit": 1.0,
    "test_theory_conv2d": 1.0,
    "test_theory_conv2d_channels": 1.0,
    "test_theory_conv2d_same": 1.0,
    "test_theory_conv2d_stride": 1.0,
    "test_theory_pool2d": 1.0,
    "test_theory_pool2d_average": 1.0,
    "test_theory_pool2d_sum": 1.0,
    "test_theory_param_counts": 1.0,
    "test_theory_param_counts_conv2": 1.0,
    "test_theory_param_counts_flatten": 1.0,
    "test_theory_param_counts_dense": 1.0,
    "test_theory_param_counts_output": 1.0,
    "test_theory_edge_kernels": 1.0,
    "test_theory_edge_kernels_horizontal": 1.0,
    "test_theory_separable_counts": 1.0,
    "test_theory_separable_counts_standard": 1.0,
}
CONV2D_CELLS = tuple(cell for cell in EXPECTED_POINTS if cell.startswith("test_theory_conv2d"))
COUNT_CELLS = tuple(cell for cell in EXPECTED_POINTS if cell.startswith("test_theory_param"))

VALID_WITHOUT_PLUS_ONE = """
def output_size(n, k, stride=1, padding="valid"):
    if isinstance(padding, int):
        return (n + 2 * padding - k) // stride + 1
    if padding == "same":
        return -(-n // stride)
    return (n - k) // stride
"""

SAME_AS_HALF_KERNEL_PADDING = """
def output_size(n, k, stride=1, padding="valid"):
    if isinstance(padding, int):
        return (n + 2 * padding - k) // stride + 1
    pad = (k - 1) // 2 if padding == "same" else 0
    return (n + 2 * pad - k) // stride + 1
"""

FLOOR_FOR_SAME = """
def output_size(n, k, stride=1, padding="valid"):
    if isinstance(padding, int):
        return (n + 2 * padding - k) // stride + 1
    if padding == "same":
        return n // stride
    return (n - k) // stride + 1
"""

#: Correct, written as a student might: a float-free formula via math, numpy integers.
OUTPUT_SIZE_OTHER_STYLE = """
import math


def output_size(n, k, stride=1, padding="valid"):
    # Keras' Conv2D uses the same rule; here it is written out by hand
    pad = padding if isinstance(padding, int) else {"valid": 0, "same": None}[padding]
    if pad is None:
        return np.int64(math.ceil(n / stride))
    return int(np.floor_divide(n + 2 * pad - k, stride)) + 1
"""

#: Correct and vectorised, with comments naming Keras and SciPy and a helper of its own.
CONV2D_VECTORISED = """
from numpy.lib.stride_tricks import sliding_window_view


def pad_for_same(image, k):
    # like keras.layers.Conv2D(padding="same") or scipy.signal.correlate2d(mode="same")
    border = (k - 1) // 2
    return np.pad(image, ((border, border), (border, border), (0, 0)))


def conv2d(image, kernels, bias, stride=1, padding="valid"):
    image = np.asarray(image, dtype=float)
    k = kernels.shape[0]
    if padding == "same":
        image = pad_for_same(image, k)
    windows = sliding_window_view(image, (k, k), axis=(0, 1))[::stride, ::stride]
    return np.einsum("ijcab,abcf->ijf", windows, kernels) + bias
"""

#: A helper outside conv2d that calls labcore's convolution: no work of its own.
CONV2D_VIA_LIBRARY_HELPER = """
from labcore.theory import conv2d as reference_convolution


def find_feature_maps(image, kernels, bias, stride, padding):
    return reference_convolution(image, kernels, bias, stride=stride, padding=padding)


def conv2d(image, kernels, bias, stride=1, padding="valid"):
    return find_feature_maps(image, kernels, bias, stride, padding)
"""

#: Objects that claim to equal every number.
ALWAYS_EQUAL_COUNTS = """
class Anything(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


CONV1_PARAMS = CONV2_PARAMS = FLATTENED_FEATURES = DENSE_PARAMS = OUTPUT_PARAMS = Anything(1)
"""

SWAPPED_SOBEL = """
SOBEL_HORIZONTAL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
SOBEL_VERTICAL = SOBEL_HORIZONTAL.T.copy()
"""

PREWITT_VERTICAL = """
SOBEL_VERTICAL = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=float)
SOBEL_HORIZONTAL = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float)
"""


def wrong_answers() -> dict[str, tuple]:
    """Student id -> (answer cell, a plausible wrong answer[, the test cells it loses])."""
    conv2d = reference_answer(ASSIGNMENT, "theory_conv2d")
    pool2d = reference_answer(ASSIGNMENT, "theory_pool2d")
    counts = reference_answer(ASSIGNMENT, "theory_param_counts")
    sobel = reference_answer(ASSIGNMENT, "theory_edge_kernels")
    product = "np.tensordot(patch, kernels, axes=3)"
    return {
        # one point of output_size each
        "valid-without-plus-one": ("theory_output_size", VALID_WITHOUT_PLUS_ONE),
        "same-as-half-kernel-padding": (
            "theory_output_size",
            SAME_AS_HALF_KERNEL_PADDING,
            ("test_theory_output_size_same",),
        ),
        "same-size-rounded-down": (
            "theory_output_size",
            FLOOR_FOR_SAME,
            ("test_theory_output_size_stride",),
        ),
        # padding on one side only
        "explicit-padding-one-side": (
            "theory_output_size",
            replace_once(
                reference_answer(ASSIGNMENT, "theory_output_size"),
                "(n + 2 * padding - k)",
                "(n + padding - k)",
            ),
            ("test_theory_output_size_explicit",),
        ),
        # one point of conv2d each
        "conv-bias-forgotten": (
            "theory_conv2d",
            replace_once(conv2d, f"{product} + bias", product),
        ),
        "conv-first-channel-only": (
            "theory_conv2d",
            replace_once(
                conv2d, product, "np.tensordot(patch[:, :, :1], kernels[:, :, :1], axes=3)"
            ),
            ("test_theory_conv2d_channels",),
        ),
        # all padding at the bottom and right: the right size, shifted feature maps
        "conv-padding-one-sided": (
            "theory_conv2d",
            replace_once(
                conv2d,
                "((border, border), (border, border), (0, 0))",
                "((0, 2 * border), (0, 2 * border), (0, 0))",
            ),
            ("test_theory_conv2d_same",),
        ),
        "conv-stride-ignored-in-the-window": (
            "theory_conv2d",
            replace_once(
                conv2d,
                "image[row * stride : row * stride + k, col * stride : col * stride + k, :]",
                "image[row : row + k, col : col + k, :]",
            ),
            ("test_theory_conv2d_stride",),
        ),
        # a textbook convolution that flips the kernel (Keras does not): every case is wrong
        "conv-kernel-flipped": (
            "theory_conv2d",
            replace_once(conv2d, "np.tensordot(patch,", "np.tensordot(patch[::-1, ::-1],"),
            CONV2D_CELLS,
        ),
        "conv-library-helper": ("theory_conv2d", CONV2D_VIA_LIBRARY_HELPER, CONV2D_CELLS),
        # one point per pooling mode
        "pool-max-over-channels-too": (
            "theory_pool2d",
            replace_once(pool2d, '"max": np.max', '"max": lambda window, axis: np.max(window)'),
        ),
        "pool-average-divides-by-size": (
            "theory_pool2d",
            replace_once(
                pool2d,
                '"average": np.mean',
                '"average": lambda window, axis: np.sum(window, axis=axis) / size',
            ),
            ("test_theory_pool2d_average",),
        ),
        "pool-sum-is-average-times-size": (
            "theory_pool2d",
            replace_once(
                pool2d,
                '"sum": np.sum',
                '"sum": lambda window, axis: np.mean(window, axis=axis) * size',
            ),
            ("test_theory_pool2d_sum",),
        ),
        # one point per count
        "conv1-without-bias": (
            "theory_param_counts",
            replace_once(counts, "3 * 3 * 1 * 8 + 8", "3 * 3 * 1 * 8"),
        ),
        "conv2-without-input-channels": (
            "theory_param_counts",
            replace_once(counts, "3 * 3 * 8 * 16 + 16", "3 * 3 * 16 + 16"),
            ("test_theory_param_counts_conv2",),
        ),
        "flatten-with-same-padding-sizes": (
            "theory_param_counts",
            replace_once(
                replace_once(counts, "FLATTENED_FEATURES * 64 + 64", "400 * 64 + 64"),
                "5 * 5 * 16",
                "7 * 7 * 16",
            ),
            ("test_theory_param_counts_flatten",),
        ),
        "dense-without-bias": (
            "theory_param_counts",
            replace_once(counts, "FLATTENED_FEATURES * 64 + 64", "FLATTENED_FEATURES * 64"),
            ("test_theory_param_counts_dense",),
        ),
        "output-without-bias": (
            "theory_param_counts",
            replace_once(counts, "64 * 10 + 10", "64 * 10"),
            ("test_theory_param_counts_output",),
        ),
        "counts-always-equal": ("theory_param_counts", ALWAYS_EQUAL_COUNTS, COUNT_CELLS),
        # one point per Sobel kernel
        "sobel-vertical-is-prewitt": ("theory_edge_kernels", PREWITT_VERTICAL),
        "sobel-horizontal-upside-down": (
            "theory_edge_kernels",
            replace_once(sobel, "SOBEL_VERTICAL.T.copy()", "-SOBEL_VERTICAL.T"),
            ("test_theory_edge_kernels_horizontal",),
        ),
        # a bias on the depthwise part too
        "separable-with-depthwise-bias": (
            "theory_separable_counts",
            replace_once(
                reference_answer(ASSIGNMENT, "theory_separable_counts"),
                "5 * 5 * 64 + 64 * 128 + 128",
                "5 * 5 * 64 + 64 + 64 * 128 + 128",
            ),
        ),
        "standard-without-input-channels": (
            "theory_separable_counts",
            replace_once(
                reference_answer(ASSIGNMENT, "theory_separable_counts"),
                "5 * 5 * 64 * 128 + 128",
                "5 * 5 * 128 + 128",
            ),
            ("test_theory_separable_counts_standard",),
        ),
        "sobel-swapped": (
            "theory_edge_kernels",
            SWAPPED_SOBEL,
            ("test_theory_edge_kernels", "test_theory_edge_kernels_horizontal"),
        ),
    }


def right_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (answer cell, a correct answer written differently)."""
    conv2d = reference_answer(ASSIGNMENT, "theory_conv2d")
    return {
        "output-size-other-style": ("theory_output_size", OUTPUT_SIZE_OTHER_STYLE),
        "conv-vectorised-with-comments": ("theory_conv2d", CONV2D_VECTORISED),
        "conv-comment-naming-keras": (
            "theory_conv2d",
            "# checked against keras.layers.Conv2D and scipy.signal.correlate\n" + conv2d,
        ),
        "counts-as-numpy-integers": (
            "theory_param_counts",
            "CONV1_PARAMS = np.int64(80)\nCONV2_PARAMS = 1_168\nFLATTENED_FEATURES = 400\n"
            "DENSE_PARAMS = np.int32(25_664)\nOUTPUT_PARAMS = 650\n",
        ),
    }


class TestGrading(AssignmentGradingTests):
    assignment = ASSIGNMENT
    expected_points = EXPECTED_POINTS
    wrong_answers = staticmethod(wrong_answers)
    right_answers = staticmethod(right_answers)
    min_secret_lines = 20

    def check_released_stubs(self, released):
        stubs = solution_stubs(released)
        assert len(stubs) == 6
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
