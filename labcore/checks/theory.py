"""Self-checks for notebook 01's NumPy exercises: output sizes, convolution, pooling."""

from __future__ import annotations

import numpy as np

from labcore.checks.core import _as_array, _fail, _passed, call_own_code, whole_number

# ------------------------------------------------------------------ notebook 01's exercises

#: ``output_size`` cases ``(n, k, stride, padding)`` per point of notebook 01's Exercise 1.
OUTPUT_SIZE_CASES = {
    "valid": [(28, 3, 1, "valid"), (26, 2, 2, "valid"), (10, 3, 2, "valid"), (7, 7, 1, "valid")],
    "same": [(28, 3, 1, "same"), (28, 4, 1, "same"), (9, 5, 1, "same")],
    "same with stride": [(28, 3, 2, "same"), (7, 3, 2, "same"), (11, 3, 3, "same")],
    "explicit padding": [(28, 3, 1, 1), (28, 5, 2, 2), (7, 3, 2, 0), (10, 4, 3, 2)],
}


def check_output_size(output_size, case: str, cases=None) -> None:
    """Check a student's ``output_size(n, k, stride, padding)`` on one kind of case.

    Parameters
    ----------
    output_size : callable
        The student's function.
    case : {"valid", "same", "same with stride", "explicit padding"}
        Which point of the exercise to check.
    cases : list of tuple, optional
        ``(n, k, stride, padding)`` tuples (default: :data:`OUTPUT_SIZE_CASES` ``[case]``);
        ``padding`` is ``"valid"``, ``"same"`` or a whole number of zeros per side.

    Raises
    ------
    SelfCheckError
        On the first wrong or non-integer result, or a call to ``labcore.theory``.
    """
    from labcore import theory

    for n, k, stride, padding in cases or OUTPUT_SIZE_CASES[case]:
        call = f"output_size({n}, {k}, {stride}, {padding!r})"
        got = whole_number(
            call_own_code(output_size, n, k, stride, padding, forbid=("labcore.theory",)), call
        )
        if isinstance(padding, str):
            wanted = theory.conv_output_size(n, k, stride, padding)
        else:  # p zeros on each side
            wanted = (n + 2 * padding - k) // stride + 1
        if got != wanted:
            hints = {
                "valid": "count the window starts 0, s, 2s, ... whose whole window fits in n.",
                "same": "with 'same' padding the kernel size does not matter: ⌈n / s⌉.",
                "same with stride": "⌈n / s⌉ rounds up: a last window that is only partly "
                "inside still counts. -(-n // s) is ceiling division with ints.",
                "explicit padding": "p zeros on EACH side make the axis n + 2p pixels long; "
                "then count the window positions as for 'valid'.",
            }
            _fail(f"{call} returned {got}, which is not right.", hints[case])
    _passed(f"output_size: {case} cases right")


#: ``conv2d`` cases per point of notebook 01's Exercise 2: image shape, kernel size,
#: filters, stride, padding, whether the bias is non-zero.
CONV2D_CASES = {
    "one channel": [((5, 6, 1), 3, 1, 1, "valid", True), ((7, 5, 1), 2, 1, 1, "valid", True)],
    "channels": [((6, 5, 3), 3, 2, 1, "valid", False), ((5, 7, 2), 2, 4, 1, "valid", False)],
    "same": [((5, 6, 1), 3, 1, 1, "same", False), ((6, 6, 1), 5, 2, 1, "same", False)],
    "stride": [((9, 11, 1), 3, 1, 2, "valid", False), ((10, 10, 1), 2, 2, 3, "valid", False)],
}


def check_conv2d(conv2d, case: str, seed: int = 0, trials: int = 1) -> None:
    """Check a student's ``conv2d(image, kernels, bias, stride, padding)`` on one kind of case.

    Random images and asymmetric random kernels (a flipped kernel gives other numbers),
    compared with ``labcore.theory.conv2d``, which agrees with Keras' ``Conv2D``.

    Parameters
    ----------
    conv2d : callable
        The student's function.
    case : {"one channel", "channels", "same", "stride"}
        Which point of the exercise to check (see :data:`CONV2D_CASES`).
    seed : int, default=0
        Seed of the random inputs.
    trials : int, default=1
        Random inputs per case.

    Raises
    ------
    SelfCheckError
        On a wrong shape or wrong values (with a hint at the likely slip), or if ``conv2d``
        calls a library's convolution.
    """
    from labcore import theory

    rng = np.random.default_rng(seed)
    for image_shape, k, filters, stride, padding, with_bias in CONV2D_CASES[case] * trials:
        image = rng.normal(size=image_shape)
        kernels = rng.normal(size=(k, k, image_shape[-1], filters))
        bias = rng.normal(size=filters) if with_bias else np.zeros(filters)
        what = (
            f"conv2d of a {image_shape} image with {filters} filter(s) of {k}×{k}, "
            f"stride {stride}, padding {padding!r}"
        )
        got = call_own_code(
            conv2d, image.copy(), kernels.copy(), bias.copy(), stride=stride, padding=padding
        )
        got = _as_array(got, what).astype(float)
        wanted = theory.conv2d(image, kernels, bias, stride=stride, padding=padding)
        if got.shape != wanted.shape:
            _fail(
                f"{what} has shape {got.shape}, which is not right.",
                "output (H_out, W_out, F): each spatial size follows your output_size; the "
                "last axis has one map per filter."
                if got.ndim == 3
                else "return (H_out, W_out, F): three axes, one feature map per filter.",
            )
        if not np.allclose(got, wanted, atol=1e-6):
            flipped = theory.conv2d(
                image, kernels[::-1, ::-1], bias, stride=stride, padding=padding
            )
            no_bias = wanted - bias
            if np.allclose(got, flipped, atol=1e-6):
                hint = "the kernel is flipped: Keras (and this exercise) does not flip it."
            elif with_bias and np.allclose(got, no_bias, atol=1e-6):
                hint = "the bias is missing: add bias[f] to every output of filter f."
            elif case == "channels":
                hint = "sum over all C input channels, and compute each of the F filters."
            elif case == "same":
                hint = "'same': (k − 1) / 2 zeros on EVERY side (top, bottom, left, right)."
            elif case == "stride":
                hint = "output (i, j) starts at pixel (i·s, j·s) of the (padded) image."
            else:
                hint = "output[i, j, f] = Σ patch · kernels[..., f] + bias[f], patch at (i, j)."
            _fail(f"{what}: the values are not right.", hint)
    _passed(f"conv2d: {case} cases right")


#: ``pool2d`` inputs: image shape and window size. The sizes do not divide every image
#: (left-over rows and columns are dropped) and the images have several channels.
POOL2D_CASES = [((4, 4, 1), 2), ((7, 9, 3), 2), ((8, 7, 2), 3)]


def check_pool2d(pool2d, mode: str, seed: int = 0, trials: int = 1) -> None:
    """Check a student's ``pool2d(image, size, mode)`` for one pooling mode.

    Parameters
    ----------
    pool2d : callable
        The student's function.
    mode : {"max", "average", "sum"}
        Which point of the exercise to check.
    seed : int, default=0
        Seed of the random inputs.
    trials : int, default=1
        Random inputs per case.

    Raises
    ------
    SelfCheckError
        On a wrong shape or wrong values (with a hint), or if ``pool2d`` calls a library's
        pooling.
    """
    from labcore import theory

    rng = np.random.default_rng(seed)
    for image_shape, size in POOL2D_CASES * trials:
        image = rng.normal(size=image_shape)
        what = f"{mode} pooling of a {image_shape} image with size {size}"
        got = _as_array(call_own_code(pool2d, image.copy(), size, mode), what).astype(float)
        average = theory.pool2d(image, size, mode="average")
        wanted = average * size**2 if mode == "sum" else theory.pool2d(image, size, mode=mode)
        if got.shape != wanted.shape:
            _fail(
                f"{what} has shape {got.shape}, which is not right.",
                "windows do not overlap and left-over rows or columns are dropped: "
                "(H // size, W // size, C), every channel pooled on its own.",
            )
        if not np.allclose(got, wanted, atol=1e-6):
            if mode == "sum" and np.allclose(got, average * size, atol=1e-6):
                hint = "a size × size window holds size² values: sum = average · size²."
            elif mode == "average" and np.allclose(got, average * size, atol=1e-6):
                hint = "divide by the number of values in the window, size², not by size."
            else:
                hint = (
                    "summarise each window of each channel on its own (axis=(0, 1)); "
                    "window (i, j) covers rows i·size to (i+1)·size − 1."
                )
            _fail(f"{what}: the values are not right.", hint)
    _passed(f"pool2d: {mode} pooling right")


def check_edge_kernel(kernel, direction: str, name: str) -> None:
    """Check a 3 × 3 edge-detection kernel by the edges it responds to.

    The kernel must have shape (3, 3), weights that add up to 0, a positive response to a
    dark-to-bright edge in its ``direction`` and no response to an edge across it.

    Parameters
    ----------
    kernel : array-like
        The student's kernel, e.g. ``SOBEL_VERTICAL``.
    direction : {"vertical", "horizontal"}
        The edges the kernel should detect.
    name : str
        The kernel's name in the notebook, for the messages.
    """
    from labcore import theory

    if direction not in ("vertical", "horizontal"):
        raise ValueError(f"direction must be 'vertical' or 'horizontal', not {direction!r}")
    weights = _as_array(kernel, name).astype(float)
    if weights.shape != (3, 3):
        _fail(f"{name} has shape {weights.shape}.", "give a 3 × 3 array: np.array([[...], ...]).")
    if abs(float(weights.sum())) >= 1e-9:
        _fail(
            f"{name}'s weights add up to {weights.sum():g}, not 0.",
            "an edge detector gives 0 on a flat patch: its negative and positive weights balance.",
        )
    vertical_edge = np.zeros((6, 6, 1))
    vertical_edge[:, 3:] = 1.0  # dark on the left, bright on the right
    horizontal_edge = vertical_edge.transpose(1, 0, 2)  # dark on top, bright below
    wanted, other = (
        (vertical_edge, horizontal_edge)
        if direction == "vertical"
        else (horizontal_edge, vertical_edge)
    )
    across = "left to right" if direction == "vertical" else "top to bottom"
    as_filter = weights[:, :, np.newaxis, np.newaxis]
    if theory.conv2d(wanted, as_filter).max() <= 0:
        _fail(
            f"{name} does not respond positively to a dark-to-bright {direction} edge.",
            f"put the negative weights where the image is dark and the positive ones where it "
            f"is bright, going {across}.",
        )
    if np.abs(theory.conv2d(other, as_filter)).max() != 0:
        _fail(
            f"{name} also responds to an edge that is not {direction}.",
            f"it should compare {across} only: the weights along the edge must repeat the same "
            "difference.",
        )
    _passed(f"{name} detects {direction} edges")
