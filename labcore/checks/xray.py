"""Self-checks for notebook 03's exercises: class weights and the screening threshold."""

from __future__ import annotations

import numpy as np

from labcore.checks.core import _fail, _passed, call_own_code


def check_class_weight_values(class_weights_from_counts) -> dict:
    """Check a student's balanced class weights on 50 and 150 images.

    Parameters
    ----------
    class_weights_from_counts : callable
        The student's function, counts per class -> ``{class_index: weight}``. It may not
        call ``labcore.training``.

    Returns
    -------
    dict
        The weights it returned.
    """
    weights = call_own_code(class_weights_from_counts, [50, 150], forbid=("labcore.training",))
    values = [float(weight) for _, weight in sorted(dict(weights).items())]
    if not values[0] > 1 > values[1]:
        _fail(
            f"the weights for 50 and 150 images are {weights}.",
            "the rare class (50 images) needs a weight above 1, the common one below 1.",
        )
    if abs(values[0] * 50 - values[1] * 150) >= 1e-9:
        _fail(
            f"the weights for 50 and 150 images are {weights}: the classes do not add the "
            "same total weight.",
            "weight times count must be equal for every class.",
        )
    if abs(values[0] * 50 + values[1] * 150 - 200) >= 1e-9:
        _fail(
            f"the weights for 50 and 150 images are {weights}: the weighted images add up to "
            f"{values[0] * 50 + values[1] * 150:g}.",
            "the weighted images should add up to the number of images (here 200).",
        )
    _passed(f"class weights for 50 / 150 images: {weights}")
    return weights


def check_screening_threshold(threshold_for_screening) -> None:
    """Check a student's threshold choice on toy splits where each split gives another answer.

    Parameters
    ----------
    threshold_for_screening : callable
        The student's ``threshold_for_screening(scores_by_split, min_sensitivity)``.
    """
    toy_splits = {
        "train": (np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])),
        "validation": (np.array([0, 0, 1, 1, 1, 1]), np.array([0.1, 0.5, 0.3, 0.6, 0.7, 0.9])),
        "test": (np.array([0, 1, 1]), np.array([0.2, 0.4, 0.95])),
    }
    threshold = threshold_for_screening(toy_splits, min_sensitivity=0.75)
    if not isinstance(threshold, float):
        _fail(f"the threshold is a {type(threshold).__name__}.", "return a float.")
    if threshold not in (0.8, 0.6, 0.4):
        _fail(
            f"the threshold for the toy splits is {threshold}, not one of the scores.",
            "the threshold should be one of the scores of the split you choose on.",
        )
    if threshold == 0.4:
        _fail(
            "this threshold was chosen on the test split.",
            "the test set must stay unseen: choose on the validation split.",
        )
    if threshold == 0.8:
        _fail(
            "this threshold was chosen on the training split, where the model is too confident.",
            "choose on the validation split.",
        )
    if abs(threshold - 0.6) >= 1e-12:
        _fail(f"the threshold is {threshold}.", "choose on the validation split.")
    _passed("threshold 0.6 for the toy splits")
