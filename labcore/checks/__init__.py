"""Self-checks: run them on your work, and they tell you what is wrong and give a hint.

Each check either prints one line starting with ``✓`` (all good) or raises a
:class:`SelfCheckError` whose message has two parts: *what* is wrong, described with your
own values, and a ``Hint:`` that points you in the right direction. A hint never contains
the solution of an exercise: a parameter-count check tells you that your count is off and
where to look, not the number you should find.

:class:`SelfCheckError` is an ``AssertionError``, so in a notebook a failing check stops the
cell with a red message, exactly like a failing ``assert`` in a visible test cell. The checks
write only to standard output (never to standard error), so a passing check never costs
points under nbgrader.

Example::

    from labcore import checks
    checks.check_images_scaled(x_train)          # ✓ images: float32 values in [0, 1] ...
    checks.check_output_layer(model, num_classes=10, activation="softmax")

The checks live in topic modules (:mod:`~labcore.checks.core`, :mod:`~labcore.checks.data`,
:mod:`~labcore.checks.models`, :mod:`~labcore.checks.theory`,
:mod:`~labcore.checks.architecture`, :mod:`~labcore.checks.training`, and one module per
notebook's answers: :mod:`~labcore.checks.xray`, :mod:`~labcore.checks.tuning`); import them from
here, ``from labcore import checks``.
"""

from __future__ import annotations

from labcore.checks.architecture import (
    LAYER_SETTINGS,
    XRAY_AUGMENTATION_LIMITS,
    check_augmentation,
    check_own_design,
    check_seed_cnn,
    largest_factor,
)
from labcore.checks.core import (
    CONVOLUTION_LIBRARIES,
    LIBRARY_GROUPS,
    LibraryCallError,
    SelfCheckError,
    all_layers,
    call_own_code,
    check_count,
    model_layers,
    whole_number,
)
from labcore.checks.data import (
    check_channel_axis,
    check_images_scaled,
    check_integer_labels,
    check_shape,
)
from labcore.checks.models import (
    check_compiled,
    check_layer_counts,
    check_output_layer,
    check_parameter_count,
    check_sgd_momentum,
    layer_parameter_counts,
)
from labcore.checks.theory import (
    CONV2D_CASES,
    OUTPUT_SIZE_CASES,
    POOL2D_CASES,
    check_conv2d,
    check_edge_kernel,
    check_output_size,
    check_pool2d,
)
from labcore.checks.training import (
    ProbeRun,
    callback_probe,
    check_checkpoint,
    check_confusion_drawn_from,
    check_curves_drawn_from,
    check_early_stopping,
    check_frozen_base,
    check_history,
    check_plateau_reduction,
    check_recompiled,
    check_schedule,
    check_unfrozen_base,
    recorded_rates,
)
from labcore.checks.tuning import (
    SEARCH_SPACE_LIMITS,
    SEARCH_SPACE_NAMES,
    check_best_epoch,
    check_best_trial,
    check_influence_columns,
    check_influence_means,
    check_influence_tie,
    check_overfitting,
    check_search_space_names,
    check_search_space_ranges,
    overfitting_reader,
)
from labcore.checks.xray import check_class_weight_values, check_screening_threshold

__all__ = [
    "CONV2D_CASES",
    "CONVOLUTION_LIBRARIES",
    "LAYER_SETTINGS",
    "LIBRARY_GROUPS",
    "OUTPUT_SIZE_CASES",
    "POOL2D_CASES",
    "SEARCH_SPACE_LIMITS",
    "SEARCH_SPACE_NAMES",
    "XRAY_AUGMENTATION_LIMITS",
    "LibraryCallError",
    "ProbeRun",
    "SelfCheckError",
    "all_layers",
    "call_own_code",
    "callback_probe",
    "check_augmentation",
    "check_best_epoch",
    "check_best_trial",
    "check_channel_axis",
    "check_checkpoint",
    "check_class_weight_values",
    "check_compiled",
    "check_confusion_drawn_from",
    "check_conv2d",
    "check_count",
    "check_curves_drawn_from",
    "check_early_stopping",
    "check_edge_kernel",
    "check_frozen_base",
    "check_history",
    "check_images_scaled",
    "check_influence_columns",
    "check_influence_means",
    "check_influence_tie",
    "check_integer_labels",
    "check_layer_counts",
    "check_output_layer",
    "check_output_size",
    "check_overfitting",
    "check_own_design",
    "check_parameter_count",
    "check_plateau_reduction",
    "check_pool2d",
    "check_recompiled",
    "check_schedule",
    "check_screening_threshold",
    "check_search_space_names",
    "check_search_space_ranges",
    "check_seed_cnn",
    "check_sgd_momentum",
    "check_shape",
    "check_unfrozen_base",
    "largest_factor",
    "layer_parameter_counts",
    "model_layers",
    "overfitting_reader",
    "recorded_rates",
    "whole_number",
]
