"""Run profiles: how big a run is, in one place.

Every notebook asks :func:`get_profile` how much data to use, how many epochs to train and
which accuracy its tests expect. Three profiles exist:

``full``
    A student's real run (the default): all the data, the published number of epochs, and
    the published targets (for example at least 99.0 % MNIST test accuracy for the model you
    design).
``grade``
    Picked automatically while nbgrader executes a notebook (it sets ``NBGRADER_EXECUTION``).
    Smaller subsets and fewer epochs keep grading a whole class fast; thresholds are set so a
    correct solution passes and a broken one fails.
``smoke``
    For continuous integration: tiny subsets, one epoch, small images. It proves that every
    cell runs; its thresholds only catch models that learn nothing.

The choice, strongest first: an explicit name (a function argument or the papermill
``PROFILE`` parameter), the ``LABCORE_PROFILE`` environment variable, ``grade`` when nbgrader
executes, otherwise ``full``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

__all__ = ["PROFILE_NAMES", "Profile", "get_profile", "resolve_profile_name"]

#: Environment variable that selects a profile for every notebook run in this process.
PROFILE_ENV = "LABCORE_PROFILE"
#: Set by nbgrader in the kernel's environment while it validates or autogrades.
NBGRADER_ENV = "NBGRADER_EXECUTION"


@dataclass(frozen=True)
class Profile:
    """Sizes, epochs and thresholds for one kind of run.

    ``None`` as a size means "all of it". Thresholds are the minimum values the notebook
    tests accept in this profile.
    """

    name: str
    description: str

    # MNIST (notebooks 01, 02 and 04)
    mnist_train_size: int | None
    mnist_test_size: int | None
    mnist_batch_size: int
    seed_cnn_epochs: int
    designed_cnn_epochs: int
    seed_cnn_min_accuracy: float
    designed_cnn_min_accuracy: float
    optimizer_comparison_epochs: int  # Adam against SGD with momentum (notebook 02)

    # Chest X-ray image folder (notebook 03, part 1)
    xray_image_size: int
    xray_batch_size: int
    xray_epochs: int

    # PneumoniaMNIST (notebook 03, part 2)
    pneumonia_train_size: int | None
    pneumonia_epochs: int
    pneumonia_min_auc: float
    transfer_epochs: tuple[int, int]  # frozen base, then fine-tuning (notebook 03, part 3)

    # Hyperparameter search (notebook 04)
    tuning_trials: int
    tuning_time_budget_s: float
    tuning_epochs: int
    tuning_train_size: int | None
    tuning_final_epochs: int  # retraining the chosen configuration (notebook 04)

    def replace(self, **changes) -> Profile:
        """Return a copy with some fields changed (papermill overrides such as epochs).

        Parameters
        ----------
        **changes
            Field names and their new values. ``None`` values are ignored, so a notebook can
            pass its optional override parameters straight through.

        Returns
        -------
        Profile
            A new profile; this one is unchanged.
        """
        unknown = set(changes) - {field.name for field in dataclasses.fields(self)}
        if unknown:
            raise ValueError(
                f"Profile has no field(s) {sorted(unknown)}; "
                f"known fields: {[f.name for f in dataclasses.fields(self)]}"
            )
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_PROFILES: dict[str, Profile] = {
    "full": Profile(
        name="full",
        description="a real run: all data, published epochs and targets",
        mnist_train_size=None,
        mnist_test_size=None,
        mnist_batch_size=128,
        seed_cnn_epochs=10,
        designed_cnn_epochs=8,
        seed_cnn_min_accuracy=0.98,
        designed_cnn_min_accuracy=0.99,
        optimizer_comparison_epochs=5,
        xray_image_size=250,
        xray_batch_size=16,
        xray_epochs=15,
        pneumonia_train_size=None,
        pneumonia_epochs=20,
        pneumonia_min_auc=0.93,
        transfer_epochs=(10, 10),
        tuning_trials=12,
        tuning_time_budget_s=900.0,
        tuning_epochs=3,
        tuning_train_size=20_000,
        tuning_final_epochs=10,
    ),
    "grade": Profile(
        name="grade",
        description="autograding: small subsets and few epochs, thresholds a correct answer meets",
        mnist_train_size=12_000,
        mnist_test_size=2_000,
        mnist_batch_size=128,
        seed_cnn_epochs=2,
        designed_cnn_epochs=2,
        seed_cnn_min_accuracy=0.85,
        designed_cnn_min_accuracy=0.95,
        optimizer_comparison_epochs=1,
        xray_image_size=80,
        xray_batch_size=16,
        xray_epochs=1,
        pneumonia_train_size=1_500,
        pneumonia_epochs=2,
        pneumonia_min_auc=0.80,
        transfer_epochs=(1, 1),
        tuning_trials=3,
        tuning_time_budget_s=90.0,
        tuning_epochs=1,
        tuning_train_size=3_000,
        tuning_final_epochs=2,
    ),
    "smoke": Profile(
        name="smoke",
        description="CI: tiny subsets, one epoch, small images; proves every cell runs",
        mnist_train_size=2_000,
        mnist_test_size=500,
        mnist_batch_size=128,
        seed_cnn_epochs=1,
        designed_cnn_epochs=1,
        seed_cnn_min_accuracy=0.30,
        designed_cnn_min_accuracy=0.30,
        optimizer_comparison_epochs=1,
        xray_image_size=64,
        xray_batch_size=16,
        xray_epochs=1,
        pneumonia_train_size=1_000,
        pneumonia_epochs=1,
        pneumonia_min_auc=0.55,
        transfer_epochs=(1, 1),
        tuning_trials=2,
        tuning_time_budget_s=30.0,
        tuning_epochs=1,
        tuning_train_size=1_000,
        tuning_final_epochs=1,
    ),
}

#: The profile names, smallest run first.
PROFILE_NAMES: tuple[str, ...] = ("smoke", "grade", "full")


def resolve_profile_name(name: str | None = None) -> str:
    """Decide which profile applies, without building it.

    Parameters
    ----------
    name : str or None
        An explicit choice (function argument or papermill parameter). ``None`` or an empty
        string means "not chosen here".

    Returns
    -------
    str
        One of :data:`PROFILE_NAMES`.

    Raises
    ------
    ValueError
        If the name (explicit or from ``LABCORE_PROFILE``) is not a known profile.
    """
    if name:
        chosen, source = name, "the profile argument"
    elif os.environ.get(PROFILE_ENV):
        chosen, source = os.environ[PROFILE_ENV], f"the {PROFILE_ENV} environment variable"
    elif os.environ.get(NBGRADER_ENV):
        chosen, source = "grade", f"{NBGRADER_ENV} (nbgrader is executing)"
    else:
        chosen, source = "full", "the default"
    chosen = chosen.strip().lower()
    if chosen not in _PROFILES:
        raise ValueError(
            f"Unknown profile {chosen!r} from {source}; choose one of {', '.join(PROFILE_NAMES)}."
        )
    return chosen


def get_profile(name: str | None = None, **overrides) -> Profile:
    """Return the run profile that applies here.

    Parameters
    ----------
    name : str or None
        ``"smoke"``, ``"grade"`` or ``"full"``; ``None`` lets the environment decide (see the
        module docstring for the order).
    **overrides
        Fields to change for this run, such as ``seed_cnn_epochs=3``; ``None`` values are
        ignored.

    Returns
    -------
    Profile
        The frozen settings for this run.

    Examples
    --------
    >>> get_profile("smoke").seed_cnn_epochs
    1
    >>> get_profile("full", seed_cnn_epochs=3).seed_cnn_epochs
    3
    """
    return _PROFILES[resolve_profile_name(name)].replace(**overrides)
