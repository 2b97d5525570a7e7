"""labcore.checks' helpers for notebooks 01, 03 and 04: right answers pass, each slip fails.

Each helper runs the visible test of one exercise; the answers below are the solution and
the common mistakes the notebook's text warns about.
"""

import numpy as np
import pytest

from labcore import checks, metrics, training

SOBEL_VERTICAL = np.outer([1, 2, 1], [-1, 0, 1])


def failure(check, *args, **kwargs) -> str:
    """Run a check that must fail; return its message."""
    with pytest.raises(checks.SelfCheckError) as caught:
        check(*args, **kwargs)
    message = str(caught.value)
    assert "\nHint: " in message, message
    return message


def passes(check, capsys, *args, **kwargs):
    result = check(*args, **kwargs)
    captured = capsys.readouterr()
    assert captured.out.startswith("✓ ") and captured.out.count("\n") == 1, captured.out
    assert captured.err == ""
    return result


# ------------------------------------------------------------------------------ notebook 01


def test_check_edge_kernel(capsys):
    passes(checks.check_edge_kernel, capsys, SOBEL_VERTICAL, "vertical", "SOBEL_VERTICAL")
    passes(checks.check_edge_kernel, capsys, SOBEL_VERTICAL.T.tolist(), "horizontal", "K")
    assert "shape (2, 3)" in failure(checks.check_edge_kernel, SOBEL_VERTICAL[:2], "vertical", "K")
    assert "add up to 1" in failure(
        checks.check_edge_kernel, SOBEL_VERTICAL + np.eye(3) / 3, "vertical", "K"
    )
    assert "does not respond positively" in failure(
        checks.check_edge_kernel, -SOBEL_VERTICAL, "vertical", "K"
    )
    both = SOBEL_VERTICAL + SOBEL_VERTICAL.T
    assert "also responds" in failure(checks.check_edge_kernel, both, "horizontal", "K")
    with pytest.raises(ValueError, match="diagonal"):
        checks.check_edge_kernel(SOBEL_VERTICAL, "diagonal", "K")


# ------------------------------------------------------------------------------ notebook 03


def balanced(counts):
    total = sum(counts)
    return {index: total / (len(counts) * count) for index, count in enumerate(counts)}


def test_check_class_weight_values(capsys):
    assert passes(checks.check_class_weight_values, capsys, balanced) == {0: 2.0, 1: 2 / 3}
    inverse = lambda counts: {i: 75 / c for i, c in enumerate(counts)}  # noqa: E731
    assert "add up to the number of images" in failure(checks.check_class_weight_values, inverse)
    swapped = lambda counts: dict(enumerate(reversed(balanced(counts).values())))  # noqa: E731
    assert "rare class" in failure(checks.check_class_weight_values, swapped)
    message = failure(checks.check_class_weight_values, training.class_weights)
    assert "of labcore.training" in message


def on_split(name):
    def threshold_for_screening(scores_by_split, min_sensitivity=0.95):
        labels, scores = scores_by_split[name]
        return float(metrics.choose_threshold(labels, scores, target_sensitivity=min_sensitivity))

    return threshold_for_screening


def test_check_screening_threshold(capsys):
    passes(checks.check_screening_threshold, capsys, on_split("validation"))
    assert "test split" in failure(checks.check_screening_threshold, on_split("test"))
    assert "training split" in failure(checks.check_screening_threshold, on_split("train"))
    assert "is a int" in failure(checks.check_screening_threshold, lambda splits, **_: 1)


# ------------------------------------------------------------------------------ notebook 04


def space():
    return {
        "filters": [16, 32],
        "kernel_size": [3, 5],
        "dense_units": [32, 64],
        "dropout": [0.0, 0.3],
        "learning_rate": [1e-3, 3e-3],
        "batch_size": [64, 128],
        "optimizer": ["adam", "sgd"],
    }


def test_search_space_checks(capsys):
    passes(checks.check_search_space_names, capsys, space())
    passes(checks.check_search_space_ranges, capsys, space())
    assert "not asked for: ['units']" in failure(
        checks.check_search_space_names, {**space(), "units": [1, 2]}
    )
    assert "give filters a list" in failure(
        checks.check_search_space_names, {**space(), "filters": (16, 32)}
    )
    assert "at least two different" in failure(
        checks.check_search_space_names, {**space(), "dropout": [0.1, 0.1]}
    )
    assert "learning_rate: 0.1 is outside" in failure(
        checks.check_search_space_ranges, {**space(), "learning_rate": [1e-3, 0.1]}
    )
    assert "'adam' and 'sgd'" in failure(
        checks.check_search_space_ranges, {**space(), "optimizer": ["adam", "rmsprop"]}
    )


def spread_of_means(results, hyperparameters):
    spreads = {}
    for name in hyperparameters:
        means = results.groupby(name)["val_accuracy"].mean()
        spreads[name] = means.max() - means.min()
    return max(hyperparameters, key=lambda name: spreads[name])


def spread_of_best(results, hyperparameters):
    spreads = {}
    for name in hyperparameters:
        best = results.groupby(name)["val_accuracy"].max()
        spreads[name] = best.max() - best.min()
    return max(hyperparameters, key=lambda name: spreads[name])


def every_column(results, hyperparameters):
    columns = [name for name in results.columns if name != "val_accuracy"]
    return spread_of_means(results, columns)


def last_on_tie(results, hyperparameters):
    return spread_of_means(results, list(reversed(hyperparameters)))


def test_influence_checks(capsys):
    for check in (
        checks.check_influence_means,
        checks.check_influence_columns,
        checks.check_influence_tie,
    ):
        passes(check, capsys, spread_of_means)
    assert "not each group's best" in failure(checks.check_influence_means, spread_of_best)
    assert "only the names" in failure(checks.check_influence_columns, every_column)
    assert "first of the names" in failure(checks.check_influence_tie, last_on_tie)


def best_by(column):
    return lambda results: int(results.loc[results[column].idxmax(), "trial"])


def test_check_best_trial(capsys):
    passes(checks.check_best_trial, capsys, best_by("val_accuracy"))
    assert "over-fits" in failure(checks.check_best_trial, best_by("accuracy"))
    assert "test set must not choose" in failure(checks.check_best_trial, best_by("test_accuracy"))


def curves_reader(epoch_of_best):
    def read_learning_curves(history):
        best = int(np.argmin(history["val_loss"].to_numpy()))
        after = slice(best, None)
        train_falls = history["loss"].iloc[-1] < history["loss"].iloc[best]
        val_rises = history["val_loss"].iloc[-1] > history["val_loss"].iloc[after].min()
        return epoch_of_best(history, best), bool(train_falls and val_rises)

    return read_learning_curves


def test_learning_curve_checks(capsys):
    right = curves_reader(lambda history, best: int(history["epoch"].iloc[best]))
    passes(checks.check_best_epoch, capsys, right)
    passes(checks.check_overfitting, capsys, right)
    by_label = curves_reader(lambda history, best: int(history.index[best]))
    assert "got 12" in failure(checks.check_best_epoch, by_label)
    rising = lambda history: (1, bool(history["val_loss"].iloc[-1] > history["val_loss"].min()))  # noqa: E731
    assert "unstable training" in failure(checks.check_overfitting, rising)
    as_text = lambda history: (1, "yes")  # noqa: E731
    assert "True or False" in failure(checks.overfitting_reader(as_text), [0.5, 0.4], [0.6, 0.7])
    assert checks.overfitting_reader(right)([0.6, 0.35, 0.25, 0.18], [0.5, 0.35, 0.3, 0.36])
