"""labcore.plots under the Agg backend: the figures hold the axes, texts and artists promised."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from labcore import data, plots
from labcore.runtime import quiet_import_keras

keras = quiet_import_keras()

CLASS_NAMES = [str(digit) for digit in range(10)]


@pytest.fixture(scope="module")
def digits(mirror):
    """The first 40 MNIST test images (uint8) and labels."""
    _, (x_test, y_test) = data.load_mnist()
    return x_test[:40], y_test[:40]


def _titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def _untracked(fig: Figure) -> bool:
    """The figure is not registered in pyplot (so a notebook shows it only once)."""
    return isinstance(fig, Figure) and fig.number not in plt.get_fignums()


def test_tests_draw_headless():
    assert plt.get_backend().lower() == "agg"  # tests/conftest.py sets MPLBACKEND=Agg


def test_image_grid_titles_each_image_with_its_class(digits):
    images, labels = digits
    fig = plots.image_grid(
        images, labels, CLASS_NAMES, num_images=10, ncols=4, title="MNIST digits"
    )
    assert _untracked(fig)
    assert len(fig.axes) == 10
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert _titles(fig) == [str(label) for label in labels[:10]]
    assert fig._suptitle.get_text() == "MNIST digits"
    assert fig.axes[0].images[0].get_array().shape == (28, 28)
    assert isinstance(fig, plots.NotebookFigure)
    assert fig._repr_png_().startswith(b"\x89PNG")  # Jupyter can show it under Agg too


def test_image_grid_accepts_channel_last_float_images(digits):
    images, _ = digits
    fig = plots.image_grid(data.prepare_images(images[:3]))
    assert len(fig.axes) == 3 and _titles(fig) == ["", "", ""]
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        plots.image_grid(images[:3], [1, 2])


def test_class_balance_bars_with_counts(digits):
    _, labels = digits
    fig = plots.class_balance(labels, CLASS_NAMES)
    (ax,) = fig.axes
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == np.bincount(labels, minlength=10).tolist()
    assert [label.get_text() for label in ax.get_xticklabels()] == CLASS_NAMES
    assert [text.get_text() for text in ax.texts] == [str(int(h)) for h in heights]
    assert ax.get_legend() is None


def test_class_balance_per_split():
    counts = {
        "train": {"NORMAL": 1341, "PNEUMONIA": 3875},
        "test": {"NORMAL": 234, "PNEUMONIA": 390},
    }
    fig = plots.class_balance(counts, title="Chest X-rays")
    (ax,) = fig.axes
    assert [bar.get_height() for bar in ax.patches] == [1341, 3875, 234, 390]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["train", "test"]
    assert ax.get_title() == "Chest X-rays"
    assert _untracked(fig)


def _history() -> pd.DataFrame:
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.9, 0.5, 0.4],
            "accuracy": [0.7, 0.85, 0.9],
            "val_loss": [0.6, 0.45, 0.5],
            "val_accuracy": [0.8, 0.87, 0.86],
            "learning_rate": [1e-3, 1e-3, 1e-3],
            "seconds": [2.0, 1.5, 1.5],
        }
    )
    history.attrs = {"monitor": "val_loss", "best_epoch": 2, "stopped_early": False}
    return history


def test_learning_curves_have_loss_and_accuracy_axes():
    fig = plots.learning_curves(_history())
    assert _titles(fig) == ["Loss", "Accuracy"]
    loss_ax, accuracy_ax = fig.axes
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch", "epoch"]
    assert len(loss_ax.lines) == 3  # training, validation, best epoch
    assert loss_ax.lines[1].get_ydata().tolist() == [0.6, 0.45, 0.5]
    assert accuracy_ax.lines[0].get_ydata().tolist() == [0.7, 0.85, 0.9]
    legend = [text.get_text() for text in loss_ax.get_legend().get_texts()]
    assert legend == ["training", "validation", "best epoch (2)"]
    assert loss_ax.lines[2].get_xdata()[0] == 2
    assert _untracked(fig)


def test_learning_curves_from_a_keras_history_dict_without_accuracy():
    fig = plots.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    assert _titles(fig) == ["Loss"]
    assert [line.get_xdata().tolist() for line in fig.axes[0].lines] == [[1, 2], [1, 2]]
    with pytest.raises(ValueError, match="none of"):
        plots.learning_curves({"auc": [0.5]})


def test_class_probabilities_bars_with_the_image_and_the_prediction(digits):
    images, labels = digits
    probabilities = np.full(10, 0.02)
    probabilities[3] = 0.82
    fig = plots.class_probabilities(probabilities, image=images[0], true_label=int(labels[0]))
    assert _untracked(fig)
    image_axes, bar_axes = fig.axes
    assert len(image_axes.images) == 1
    heights = [patch.get_height() for patch in bar_axes.patches]
    assert heights == pytest.approx(probabilities.tolist())
    assert bar_axes.get_title() == f"Predicted: 3 (82.0%) / True: {labels[0]}"
    assert [text.get_text() for text in bar_axes.texts][3] == "82%"
    # the predicted bar stands out; a right prediction is green, a wrong one red
    assert bar_axes.patches[3].get_facecolor() == to_rgba(
        "seagreen" if labels[0] == 3 else plots.WRONG_COLOR
    )
    assert bar_axes.patches[0].get_facecolor() == to_rgba("lightsteelblue")


def test_class_probabilities_without_image_and_errors():
    fig = plots.class_probabilities([[0.1, 0.9]], ["normal", "pneumonia"])
    assert len(fig.axes) == 1
    assert fig.axes[0].get_title() == "Predicted: pneumonia (90.0%)"
    with pytest.raises(ValueError, match="one row"):
        plots.class_probabilities(np.ones((2, 10)) / 10)
    with pytest.raises(ValueError, match="class_names"):
        plots.class_probabilities([0.5, 0.5], ["a", "b", "c"])


def test_confusion_matrix_heatmap_shows_counts_and_row_rates():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    y_pred = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    fig = plots.confusion_matrix(y_true, y_pred, ["normal", "pneumonia"])
    (ax,) = fig.axes
    notes = [text.get_text() for text in ax.texts]
    assert notes == ["3\n75.0%", "1\n25.0%", "2\n33.3%", "4\n66.7%"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["normal", "pneumonia"]
    assert ax.get_title() == "Confusion matrix"
    assert _untracked(fig)


def test_prediction_grid_titles_and_marks_wrong_predictions(digits):
    images, labels = digits
    predicted = labels[:6].copy()
    predicted[[1, 4]] = (predicted[[1, 4]] + 1) % 10
    fig = plots.prediction_grid(images[:6], labels[:6], predicted, CLASS_NAMES, ncols=3)
    assert len(fig.axes) == 6
    assert _titles(fig)[0] == f"True: {labels[0]} / Predicted: {predicted[0]}"
    assert _titles(fig)[1] == f"True: {labels[1]} / Predicted: {predicted[1]}"
    red = to_rgba(plots.WRONG_COLOR)
    wrong = [i for i, ax in enumerate(fig.axes) if to_rgba(ax.title.get_color()) == red]
    assert wrong == [1, 4]
    assert to_rgba(fig.axes[4].spines["left"].get_edgecolor()) == red


def test_misclassified_shows_only_mistakes_most_confident_first(digits):
    images, labels = digits
    predicted = labels.copy()
    predicted[[3, 10, 20]] = (predicted[[3, 10, 20]] + 1) % 10
    scores = np.full((len(labels), 10), 0.01)
    scores[np.arange(len(labels)), predicted] = 0.5
    scores[20, predicted[20]] = 0.99  # the most confident mistake
    fig = plots.misclassified(images, labels, predicted, CLASS_NAMES, y_score=scores)
    assert len(fig.axes) == 3
    assert fig._suptitle.get_text() == f"3 of {len(labels)} examples misclassified"
    assert _titles(fig)[0] == f"True: {labels[20]} / Predicted: {predicted[20]}"
    assert all(to_rgba(ax.title.get_color()) == to_rgba(plots.WRONG_COLOR) for ax in fig.axes)
    none_wrong = plots.misclassified(images, labels, labels)
    assert [t.get_text() for t in none_wrong.axes[0].texts] == ["No misclassified examples"]


def test_roc_curve_has_auc_in_legend_and_marks_the_operating_point():
    y_true = np.array([0, 0, 1, 1])
    y_score = np.array([0.1, 0.4, 0.35, 0.8])
    fig = plots.roc_curve(y_true, y_score, threshold=0.35)
    (ax,) = fig.axes
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[0] == "model (AUC = 0.750)"
    assert legend[1] == "chance (AUC = 0.5)"
    assert legend[2] == "threshold 0.35: sensitivity 1.00, specificity 0.50"
    curve, _, point = ax.lines
    assert curve.get_xdata().tolist() == [0, 0, 0.5, 0.5, 1]
    assert point.get_marker() == "o"
    assert (point.get_xdata()[0], point.get_ydata()[0]) == (0.5, 1.0)  # (1 - spec, sens)
    assert "sensitivity" in ax.get_ylabel()
    without = plots.roc_curve(y_true, y_score)
    assert len(without.axes[0].lines) == 2


def _small_cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="classifier"),
        ]
    )


def test_conv_filters_draw_each_kernel():
    model = _small_cnn()
    fig = plots.conv_filters(model, "conv1", ncols=4)
    assert len(fig.axes) == 6
    assert _titles(fig) == [f"filter {i}" for i in range(6)]
    kernel = model.get_layer("conv1").get_weights()[0]
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), kernel[:, :, 0, 2])
    assert "conv1" in fig._suptitle.get_text() and "6 of 6" in fig._suptitle.get_text()
    assert len(plots.conv_filters(model, max_filters=4).axes) == 4  # first Conv2D by default
    with pytest.raises(ValueError, match="not a built Conv2D layer"):
        plots.conv_filters(model, "classifier")
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        plots.conv_filters(model, "conv9")


def test_feature_maps_of_a_sequential_model(digits):
    images, _ = digits
    model = _small_cnn()
    # filter 0 lets the centre pixel through unchanged, so its map is the image itself
    kernel, bias = model.get_layer("conv1").get_weights()
    kernel[:] = 0.0
    kernel[1, 1, 0, 0] = 1.0
    model.get_layer("conv1").set_weights([kernel, np.zeros_like(bias)])
    image = data.prepare_images(images[:1])[0]
    fig = plots.feature_maps(model, image, "conv1", ncols=3)
    assert len(fig.axes) == 6 and _titles(fig)[0] == "channel 0"
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), image[..., 0], atol=1e-6)
    pooled = plots.feature_maps(model, image[..., 0], "pool1", max_maps=2)
    assert len(pooled.axes) == 2
    assert pooled.axes[0].images[0].get_array().shape == (14, 14)
    with pytest.raises(ValueError, match="not \\(height, width, channels\\)"):
        plots.feature_maps(model, image, "classifier")
    with pytest.raises(ValueError, match="the model expects one image"):
        plots.feature_maps(model, np.zeros((32, 32, 1)), "conv1")


def _tuning_results() -> pd.DataFrame:
    rows = []
    for trial, (filters, kernel, accuracy) in enumerate(
        [(8, 3, 0.90), (8, 5, 0.92), (16, 3, 0.95), (16, 3, 0.93), (16, 5, 0.97)], start=1
    ):
        params = {"filters": filters, "kernel_size": kernel}
        rows.append(
            {
                "trial": trial,
                "params": json.dumps(params),
                **params,
                "val_accuracy": accuracy,
                "val_loss": 1 - accuracy,
                "best_epoch": 1,
                "epochs_run": 1,
                "seconds": 3.0,
            }
        )
    return pd.DataFrame(rows)


def test_tuning_heatmap_annotates_the_mean_of_each_combination():
    fig = plots.tuning_heatmap(_tuning_results(), x="kernel_size", y="filters")
    (ax,) = fig.axes
    notes = [text.get_text() for text in ax.texts]
    assert notes == ["0.900", "0.920", "0.940", "0.970"]  # (16, 3) is the mean of 0.95, 0.93
    assert ax.get_xlabel() == "kernel_size" and ax.get_ylabel() == "filters"
    assert ax.get_title() == "Mean val_accuracy by filters and kernel_size"
    with pytest.raises(ValueError, match="no column 'units'"):
        plots.tuning_heatmap(_tuning_results(), x="units", y="filters")


def test_tuning_ranking_puts_the_best_trial_on_top():
    fig = plots.tuning_ranking(_tuning_results(), top=4)
    (ax,) = fig.axes
    assert len(ax.patches) == 4
    top_bar = max(ax.patches, key=lambda bar: bar.get_y())
    assert top_bar.get_width() == pytest.approx(0.97)
    labels = {
        position: label.get_text()
        for position, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    }
    assert labels[max(labels)] == "filters=16, kernel_size=5"  # the highest tick is the best
    assert labels[min(labels)] == "filters=8, kernel_size=5"  # fourth best: 0.92
    colors = {to_rgba(bar.get_facecolor()) for bar in ax.patches}
    assert len(colors) == 2  # the best is highlighted
    by_loss = plots.tuning_ranking(_tuning_results(), metric="val_loss", top=1)
    assert by_loss.axes[0].patches[0].get_width() == pytest.approx(0.03)
