"""Self-checks for notebook 04's exercises: the search space, reading a search's results."""

from __future__ import annotations

import numpy as np

from labcore.checks.core import _fail, _passed, whole_number

#: The hyperparameters of notebook 04's search space.
SEARCH_SPACE_NAMES = (
    "filters",
    "kernel_size",
    "dense_units",
    "dropout",
    "learning_rate",
    "batch_size",
    "optimizer",
)
#: The range each numeric hyperparameter's values must stay in.
SEARCH_SPACE_LIMITS = {
    "filters": (8, 64),
    "kernel_size": (3, 7),
    "dense_units": (16, 256),
    "dropout": (0.0, 0.5),
    "learning_rate": (1e-4, 1e-2),
    "batch_size": (32, 256),
}


def check_search_space_names(space) -> None:
    """Check that a search space is a dict of the seven hyperparameters, each with a list.

    Parameters
    ----------
    space : dict
        The result of ``make_search_space()``.
    """
    if not isinstance(space, dict):
        _fail(f"the space is a {type(space).__name__}.", "return a dict: name -> list of values.")
    wanted = set(SEARCH_SPACE_NAMES)
    if set(space) != wanted:
        _fail(
            f"missing: {sorted(wanted - set(space))}, "
            f"not asked for: {sorted(set(space) - wanted, key=str)}.",
            "use exactly the seven names of the exercise as keys.",
        )
    for name, values in space.items():
        if not isinstance(values, list):
            _fail(f"{name}: {values!r} is not a list.", f"give {name} a list of values.")
        if not len(set(values)) == len(values) >= 2:
            _fail(f"{name}: {values!r}.", f"give {name} at least two different values.")
    _passed("the seven hyperparameters, each with a list of values")


def check_search_space_ranges(space) -> None:
    """Check that every value of a search space lies in its hyperparameter's range.

    Parameters
    ----------
    space : dict
        The result of ``make_search_space()``.
    """
    space = dict(space)
    for name, (low, high) in SEARCH_SPACE_LIMITS.items():
        for value in space.get(name, []):
            if not low <= value <= high:
                _fail(f"{name}: {value} is outside {low} to {high}.", "keep to the ranges given.")
    optimizers = set(space.get("optimizer", []))
    if not {"adam", "sgd"} <= optimizers <= {"adam", "sgd", "rmsprop"}:
        _fail(
            f"optimizer: {sorted(optimizers, key=str)}.",
            "try 'adam' and 'sgd' (and perhaps 'rmsprop').",
        )
    _passed("every value within its range")


def _answer(most_influential, table: dict, names: list) -> object:
    import pandas as pd

    return most_influential(pd.DataFrame(table), names)


def check_influence_means(most_influential) -> None:
    """Check that ``most_influential`` compares the spread of group means.

    Parameters
    ----------
    most_influential : callable
        The student's ``most_influential(results, hyperparameters)``.
    """
    table = {
        "dropout": [0.0, 0.0, 0.0, 0.5, 0.5, 0.5],
        "optimizer": ["adam", "sgd", "adam", "sgd", "adam", "sgd"],
        "val_accuracy": [0.87, 0.84, 0.88, 0.71, 0.99, 0.93],
    }
    answer = _answer(most_influential, table, ["dropout", "optimizer"])
    if answer != "optimizer":
        _fail(
            "group means: optimizer 0.913 (adam) and 0.827 (sgd), dropout 0.863 and 0.877, so "
            f"the optimizer spreads them more; got {answer!r}.",
            "compare the means of the groups, not each group's best.",
        )
    _passed("the spread of the group means")


def check_influence_columns(most_influential) -> None:
    """Check that only the hyperparameters asked for compete.

    Parameters
    ----------
    most_influential : callable
        The student's ``most_influential(results, hyperparameters)``.
    """
    table = {
        "trial": [1, 2, 3, 4],
        "filters": [16, 16, 32, 32],
        "dropout": [0.0, 0.5, 0.0, 0.5],
        "val_accuracy": [0.90, 0.94, 0.80, 0.86],
        "val_loss": [0.3, 0.2, 0.6, 0.4],
    }
    answer = _answer(most_influential, table, ["filters", "dropout"])
    if answer != "filters":
        _fail(
            f"the filters spread the means most; got {answer!r}.",
            "only the names in `hyperparameters` compete, not every column of the table "
            "(trial, val_loss, ...).",
        )
    _passed("only the hyperparameters asked for")


def check_influence_tie(most_influential) -> None:
    """Check that a tie goes to the hyperparameter named first.

    Parameters
    ----------
    most_influential : callable
        The student's ``most_influential(results, hyperparameters)``.
    """
    table = {"b": [1, 1, 2, 2], "a": [1, 2, 1, 2], "val_accuracy": [0.5, 0.75, 0.75, 1.0]}
    answer = _answer(most_influential, table, ["b", "a"])
    if answer != "b":
        _fail(
            f"a and b spread the means equally (by 0.25); got {answer!r}.",
            "on a tie, return the first of the names asked for, here 'b' of ['b', 'a'].",
        )
    _passed("a tie goes to the hyperparameter named first")


def check_best_trial(best_trial_number) -> None:
    """Check that the best trial is judged on validation data.

    Parameters
    ----------
    best_trial_number : callable
        The student's ``best_trial_number(results)``.
    """
    import pandas as pd

    results = pd.DataFrame(
        {
            "trial": [1, 2, 3],
            "accuracy": [0.99, 0.95, 0.97],
            "val_accuracy": [0.90, 0.94, 0.92],
            "test_accuracy": [0.91, 0.93, 0.95],
        }
    )
    best = whole_number(best_trial_number(results), "best_trial_number(toy_results)")
    if best == 1:
        _fail(
            "trial 1 has the best training accuracy, but it over-fits.",
            "judge on validation data (val_accuracy).",
        )
    if best == 3:
        _fail(
            "trial 3 has the best test accuracy, but the test set must not choose anything.",
            "judge on validation data (val_accuracy).",
        )
    if best != 2:
        _fail(f"trial 2 has the highest val_accuracy; got {best}.", "judge on val_accuracy.")
    _passed("trial 2 is the best of the toy results")


def check_best_epoch(read_learning_curves) -> None:
    """Check the best epoch found by ``read_learning_curves`` on an over-fitting run.

    Parameters
    ----------
    read_learning_curves : callable
        The student's ``read_learning_curves(history)`` -> ``(best_epoch, overfitting)``.
    """
    import pandas as pd

    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4, 5, 6],
            "loss": [0.60, 0.35, 0.25, 0.18, 0.12, 0.08],
            "val_loss": [0.50, 0.35, 0.30, 0.32, 0.36, 0.41],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    epoch, _ = read_learning_curves(history)
    epoch = whole_number(epoch, "best_epoch")
    if epoch != 3:
        _fail(
            "the lowest validation loss is in the row with epoch 3 (index label 12, "
            f"position 2); got {epoch}.",
            "return the value of the epoch column, not a position or an index label.",
        )
    _passed("best epoch 3")


def overfitting_reader(read_learning_curves):
    """A function ``(loss, val_loss) -> overfitting`` that runs the student's reader.

    Parameters
    ----------
    read_learning_curves : callable
        The student's ``read_learning_curves(history)`` -> ``(best_epoch, overfitting)``.

    Returns
    -------
    callable
        ``overfitting_of(loss, val_loss)``: the flag for a history with those losses; it
        fails when the flag is not ``True`` or ``False``.
    """

    def overfitting_of(loss, val_loss):
        import pandas as pd

        history = pd.DataFrame(
            {"epoch": range(1, len(loss) + 1), "loss": loss, "val_loss": val_loss}
        )
        flag = read_learning_curves(history)[1]
        if not isinstance(flag, bool | np.bool_):
            _fail(f"overfitting is {flag!r}.", "return True or False for over-fitting.")
        return flag

    return overfitting_of


def check_overfitting(read_learning_curves) -> None:
    """Check that over-fitting is told apart from unstable training.

    Parameters
    ----------
    read_learning_curves : callable
        The student's ``read_learning_curves(history)`` -> ``(best_epoch, overfitting)``.
    """
    overfitting_of = overfitting_reader(read_learning_curves)
    if not overfitting_of([0.6, 0.35, 0.25, 0.18], [0.5, 0.35, 0.3, 0.36]):
        _fail(
            "the validation loss rises after epoch 3 while the training loss keeps falling, "
            "and overfitting is False.",
            "this is over-fitting: compare the two losses after the best epoch.",
        )
    if overfitting_of([0.5, 0.3, 0.2, 0.4, 0.6], [0.6, 0.4, 0.3, 0.5, 0.7]):
        _fail(
            "both losses rise after epoch 3, and overfitting is True.",
            "this is unstable training, not over-fitting: check the training loss too.",
        )
    _passed("over-fitting told apart from unstable training")
