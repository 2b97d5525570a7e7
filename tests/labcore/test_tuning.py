"""labcore.tuning: real searches on 500 MNIST images, resuming, budgets, choosing, bad files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from labcore import data, models, tuning

SPACE = {
    "filters": [4, 8],
    "kernel_size": [3, 5],
    "dropout": [0.0, 0.25],
    "conv_blocks": [1],
    "dense_units": [16],
    "batch_size": [64],
}


@pytest.fixture(scope="module")
def mnist_500(mirror):
    """500 training and 200 validation MNIST images, stratified and scaled."""
    (x_train, y_train), _ = data.load_mnist()
    x, y = data.stratified_subset(x_train, y_train, 700, seed=1)
    x = data.prepare_images(x)
    return (x[:500], y[:500]), (x[500:], y[500:])


class CountingBuilder:
    """The real model builder, counting the models it builds (one per trial trained)."""

    def __init__(self):
        self.built: list[dict] = []

    def __call__(self, params: dict):
        self.built.append(dict(params))
        return models.cnn_from_hparams(params)


def test_grid_trials_list_every_combination_in_order():
    trials = tuning.grid_trials({"filters": [8, 16], "dropout": [0.0, 0.5], "units": [32]})
    assert trials == [
        {"filters": 8, "dropout": 0.0, "units": 32},
        {"filters": 8, "dropout": 0.5, "units": 32},
        {"filters": 16, "dropout": 0.0, "units": 32},
        {"filters": 16, "dropout": 0.5, "units": 32},
    ]


def test_random_trials_are_distinct_repeatable_and_extend_a_shorter_search():
    grid = tuning.grid_trials(SPACE)
    five = tuning.random_trials(SPACE, 5, seed=7)
    assert len({json.dumps(t, sort_keys=True) for t in five}) == 5
    assert all(trial in grid for trial in five)
    assert tuning.random_trials(SPACE, 5, seed=7) == five
    assert tuning.random_trials(SPACE, 3, seed=7) == five[:3]
    assert tuning.random_trials(SPACE, 5, seed=8) != five
    everything = tuning.random_trials(SPACE, 100, seed=7)  # capped at the grid size
    assert sorted(map(str, everything)) == sorted(map(str, grid))


def test_space_errors_name_the_hyperparameter():
    with pytest.raises(ValueError, match=r"space\['dropout'\] must be a list"):
        tuning.grid_trials({"dropout": 0.5})
    with pytest.raises(ValueError, match="lists a value twice"):
        tuning.grid_trials({"filters": [8, 8]})
    with pytest.raises(ValueError, match="non-empty dict"):
        tuning.grid_trials({})


@pytest.mark.slow
def test_search_records_every_trial_and_resumes_only_the_missing_ones(mnist_500, tmp_path):
    (x, y), validation = mnist_500
    path = tmp_path / "tuning" / "results.csv"
    builder = CountingBuilder()
    first = tuning.search(
        SPACE,
        x,
        y,
        validation_data=validation,
        build_model=builder,
        max_trials=3,
        time_budget_s=math.inf,
        results_path=path,
        seed=3,
        profile="smoke",
        verbose=False,
    )
    assert len(builder.built) == 3
    on_disk = pd.read_csv(path)
    assert len(on_disk) == 3 and len(first) == 3
    assert list(on_disk.columns) == ["trial", "params", *SPACE, *tuning.RESULT_COLUMNS[2:]]
    assert on_disk["trial"].tolist() == [1, 2, 3]
    assert (on_disk["epochs_run"] == 1).all()  # the smoke profile's tuning_epochs
    assert on_disk["val_accuracy"].between(0.0, 1.0).all() and (on_disk["seconds"] > 0).all()
    expected_order = tuning.random_trials(SPACE, 5, seed=3)
    assert [json.loads(p) for p in on_disk["params"]] == expected_order[:3]
    assert builder.built == expected_order[:3]

    resumed = CountingBuilder()
    second = tuning.search(
        SPACE,
        x,
        y,
        validation_data=validation,
        build_model=resumed,
        max_trials=5,
        time_budget_s=math.inf,
        results_path=path,
        seed=3,
        profile="smoke",
        verbose=False,
    )
    assert resumed.built == expected_order[3:5]  # only the two missing trials were trained
    assert len(pd.read_csv(path)) == 5 and len(second) == 5
    assert second.attrs["new_trials"] == 2
    assert [json.loads(p) for p in second["params"]] == expected_order
    # nothing left to do: a third run trains nothing
    idle = CountingBuilder()
    again = tuning.search(
        SPACE,
        x,
        y,
        validation_data=validation,
        build_model=idle,
        max_trials=5,
        results_path=path,
        seed=3,
        profile="smoke",
        verbose=False,
    )
    assert idle.built == [] and len(again) == 5


def test_time_budget_stops_the_search_early(mnist_500, tmp_path, capsys):
    (x, y), validation = mnist_500
    path = tmp_path / "budget.csv"
    # The budget is used up during the first trial (building and training take over a
    # second), so no second trial starts. The default builder is models.cnn_from_hparams.
    results = tuning.search(
        SPACE,
        x,
        y,
        validation_data=validation,
        strategy="grid",
        max_trials=3,
        time_budget_s=0.5,
        results_path=path,
        profile="smoke",
    )
    assert len(results) == 1 and len(pd.read_csv(path)) == 1
    assert results.attrs["time_budget_reached"] is True
    assert json.loads(results["params"].iloc[0]) == tuning.grid_trials(SPACE)[0]
    out = capsys.readouterr().out
    assert "Trial 1/3 (filters=4, kernel_size=3, dropout=0.0" in out
    assert "Time budget of 0.5 s used up: 2 trial(s) not run" in out


def _results(accuracies, losses) -> pd.DataFrame:
    rows = []
    for trial, (accuracy, loss) in enumerate(zip(accuracies, losses, strict=True), start=1):
        params = {"filters": 4 * trial}
        rows.append(
            {
                "trial": trial,
                "params": json.dumps(params),
                **params,
                "val_accuracy": accuracy,
                "val_loss": loss,
                "best_epoch": 1,
                "epochs_run": 1,
                "seconds": 1.0,
            }
        )
    return pd.DataFrame(rows)


def test_best_trial_chooses_by_validation_score_only():
    results = _results([0.91, 0.97, 0.95, 0.97], [0.30, 0.12, 0.10, 0.15])
    best = tuning.best_trial(results)
    assert best["trial"] == 2 and best["params"] == {"filters": 8}  # tie -> earlier trial
    assert best["val_accuracy"] == 0.97 and isinstance(best["val_accuracy"], float)
    by_loss = tuning.best_trial(results, metric="val_loss")
    assert by_loss["trial"] == 3 and by_loss["params"] == {"filters": 12}
    results["test_accuracy"] = [0.99, 0.90, 0.90, 0.90]
    with pytest.raises(ValueError, match="Test data must stay unseen"):
        tuning.best_trial(results, metric="test_accuracy")
    with pytest.raises(ValueError, match="no column 'val_auc'"):
        tuning.best_trial(results, metric="val_auc")


def test_foreign_or_damaged_results_files_are_clear_errors(mnist_500, tmp_path):
    (x, y), validation = mnist_500
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("name,score\nalice,3\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        tuning.search(SPACE, x, y, validation_data=validation, results_path=foreign)
    message = str(error.value)
    assert str(foreign) in message and "not a tuning results file" in message
    assert "move it away or choose another results_path" in message

    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="cannot be read as a CSV file") as error:
        tuning.load_results(binary)
    assert str(binary) in str(error.value)

    columns = ["trial", "params", *SPACE, *tuning.RESULT_COLUMNS[2:]]
    damaged = tmp_path / "damaged.csv"
    row = [1, "{not json", 4, 3, 0.0, 1, 16, 64, 0.9, 0.3, 1, 1, 2.0]
    pd.DataFrame([row], columns=columns).to_csv(damaged, index=False)
    with pytest.raises(ValueError, match=r"damaged\.csv, line 2: params"):
        tuning.load_results(damaged, SPACE)

    other_space = tmp_path / "other.csv"
    good = [1, json.dumps({"units": 8}), 8, 0.9, 0.3, 1, 1, 2.0]
    pd.DataFrame([good], columns=["trial", "params", "units", *tuning.RESULT_COLUMNS[2:]]).to_csv(
        other_space, index=False
    )
    with pytest.raises(ValueError, match=r"records the hyperparameters \['units'\]"):
        tuning.load_results(other_space, SPACE)
    assert len(tuning.load_results(other_space)) == 1  # fine without a space to compare
    assert tuning.load_results(tmp_path / "missing.csv", SPACE).empty
