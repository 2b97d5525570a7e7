"""Plots: every figure the notebooks show, each returned as a matplotlib Figure.

Each function draws one figure and returns it; it never calls ``plt.show()``. In a notebook,
put the call last in a cell (or pass the figure to ``display(fig)``) to show it; in a script,
save it with ``fig.savefig("name.png")``. The functions work without a screen (the ``Agg``
backend that tests and papermill use).

**Why the figures are closed before they are returned.** The figures are made with
``plt.subplots`` and then closed with ``plt.close(fig)``: a closed figure is no longer
tracked by pyplot, but stays a complete Figure that Jupyter can display and
``savefig`` can write. If it stayed open, Jupyter's inline backend would draw it once by
itself at the end of the cell and then once more as the cell's returned value: every plot
twice. Closing also keeps long loops from piling up open figures (matplotlib warns after
twenty). The one thing to remember: ``fig = plots.image_grid(...)`` on its own shows
nothing; end the cell with ``fig`` or call ``display(fig)``.

The figures are :class:`NotebookFigure` objects: ordinary matplotlib Figures that can also
render themselves as PNG for Jupyter. So they show up in a notebook whatever matplotlib
backend the kernel uses, also ``Agg``, which the course runner sets for executed notebooks
(with the usual inline backend Jupyter's own formatter draws them, exactly once).

What is where:

* data: :func:`image_grid`, :func:`class_balance`;
* training: :func:`learning_curves` (from the DataFrame that :func:`labcore.training.fit`
  returns);
* results: :func:`class_probabilities` (one prediction), :func:`confusion_matrix`,
  :func:`prediction_grid`, :func:`misclassified`, :func:`roc_curve`;
* inside the network: :func:`conv_filters`, :func:`feature_maps`;
* tuning: :func:`tuning_heatmap`, :func:`tuning_ranking` (from the results of
  :func:`labcore.tuning.search`).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from labcore import metrics

__all__ = [
    "NotebookFigure",
    "class_balance",
    "class_probabilities",
    "confusion_matrix",
    "conv_filters",
    "feature_maps",
    "image_grid",
    "learning_curves",
    "misclassified",
    "prediction_grid",
    "roc_curve",
    "tuning_heatmap",
    "tuning_ranking",
]

#: Colour of wrong predictions in the prediction grids.
WRONG_COLOR = "crimson"
#: Colour of right predictions in the prediction grids.
RIGHT_COLOR = "black"


# --------------------------------------------------------------------------- helpers


class NotebookFigure(Figure):
    """A matplotlib Figure that Jupyter can display under any backend.

    Jupyter shows an object as an image when it has a ``_repr_png_`` method. The inline
    backend registers its own formatter for figures (and that one is used then); under the
    ``Agg`` backend nothing is registered, and a plain Figure would show only as the text
    ``<Figure size ... with 2 Axes>``.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def _subplots(*args, **kwargs):
    """``plt.subplots`` making a :class:`NotebookFigure`."""
    return plt.subplots(*args, FigureClass=NotebookFigure, **kwargs)


def _finish(fig: Figure) -> Figure:
    """Stop pyplot from tracking the figure (see the module docstring) and return it."""
    plt.close(fig)
    return fig


def _grid(count: int, ncols: int, cell_size: tuple[float, float] = (1.6, 1.8)):
    """A figure with exactly ``count`` axes in rows of ``ncols``; returns (fig, axes list)."""
    if count < 1:
        raise ValueError("There is nothing to show: no images were selected.")
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    fig, axes = _subplots(
        nrows,
        ncols,
        figsize=(cell_size[0] * ncols, cell_size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for extra in flat[count:]:
        fig.delaxes(extra)
    return fig, flat[:count]


def _as_images(images) -> np.ndarray:
    """A batch of images as a NumPy array ``(N, H, W)`` or ``(N, H, W, 3)``."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (3, 4)):
        raise ValueError(
            f"images must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {images.shape}"
        )
    return images


def _show_image(ax, image: np.ndarray, cmap: str = "gray") -> None:
    """Draw one image without ticks; grayscale on a fixed scale so contrast is not stretched."""
    if image.ndim == 2:
        high = 255 if image.dtype == np.uint8 or image.max() > 1.0 else 1.0
        ax.imshow(image, cmap=cmap, vmin=0, vmax=high)
    else:
        ax.imshow(image if image.dtype == np.uint8 else np.clip(image, 0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def _label_text(label, class_names: Sequence[str] | None) -> str:
    label = int(label)
    if class_names is None:
        return str(label)
    if not 0 <= label < len(class_names):
        raise ValueError(f"Label {label} has no name in class_names ({len(class_names)} names).")
    return str(class_names[label])


def _labels(values, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 2:
        values = values[:, 0] if values.shape[1] == 1 else values.argmax(axis=1)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per image), got shape {values.shape}")
    return values


# --------------------------------------------------------------------------- data


def image_grid(
    images,
    labels=None,
    class_names: Sequence[str] | None = None,
    *,
    num_images: int = 16,
    ncols: int = 8,
    title: str | None = None,
    cmap: str = "gray",
) -> Figure:
    """The first images of a set in a grid, each titled with its label.

    Parameters
    ----------
    images : array-like
        ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``; uint8 (0-255) or float (0-1).
    labels : array-like of int or None
        One label per image; None leaves the images untitled.
    class_names : sequence of str or None
        Names shown instead of label numbers.
    num_images : int, default=16
        How many images to show (at most N).
    ncols : int, default=8
        Images per row.
    title : str or None
        A title over the grid.
    cmap : str, default="gray"
        Colour map for grayscale images.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per image, titled with the label (or class name).
    """
    images = _as_images(images)
    count = min(num_images, len(images))
    if labels is not None:
        labels = _labels(labels, "labels")
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
    fig, axes = _grid(count, ncols)
    for index, ax in enumerate(axes):
        _show_image(ax, images[index], cmap)
        if labels is not None:
            ax.set_title(_label_text(labels[index], class_names), fontsize=9)
    if title:
        fig.suptitle(title)
    return _finish(fig)


def _counts_per_class(values, class_names: Sequence[str] | None) -> pd.Series:
    """Counts per class from labels (array) or counts (mapping or list)."""
    if isinstance(values, Mapping):
        counts = pd.Series({str(k): int(v) for k, v in values.items()})
    elif isinstance(values, list | tuple):
        counts = pd.Series([int(v) for v in values])
    else:
        labels = _labels(values, "labels").astype(np.int64)
        size = len(class_names) if class_names is not None else int(labels.max()) + 1
        counts = pd.Series(np.bincount(labels, minlength=size))
    if class_names is not None and not isinstance(values, Mapping):
        if len(class_names) != len(counts):
            raise ValueError(f"{len(counts)} classes counted but {len(class_names)} class_names")
        counts.index = [str(name) for name in class_names]
    else:
        counts.index = [str(name) for name in counts.index]
    return counts


def class_balance(
    counts, class_names: Sequence[str] | None = None, *, title: str = "Examples per class"
) -> Figure:
    """Bars of how many examples each class has, optionally side by side per split.

    Parameters
    ----------
    counts : array-like of int, mapping or mapping of mappings
        One of: an array of integer labels; ``{class: count}``; a list of counts in class
        order; or per split, ``{split: labels or {class: count}}`` such as
        ``{"train": y_train, "test": y_test}`` or :attr:`labcore.data.ImageFolderData.counts`.
    class_names : sequence of str or None
        Names of classes ``0, 1, ...`` for labels and lists.
    title : str, default="Examples per class"
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one bar per class (per split), each labelled with its count, and a
        legend of the splits when there are several.
    """
    per_split = isinstance(counts, Mapping) and all(
        isinstance(v, Mapping) or (hasattr(v, "__len__") and not isinstance(v, str))
        for v in counts.values()
    )
    if per_split:
        table = pd.DataFrame(
            {str(split): _counts_per_class(v, class_names) for split, v in counts.items()}
        ).fillna(0)
    else:
        table = pd.DataFrame({"examples": _counts_per_class(counts, class_names)})
    width_inches = min(12.0, max(4.0, 0.5 * len(table) * table.shape[1] + 2.0))
    fig, ax = _subplots(figsize=(width_inches, 3.5))
    width = 0.8 / table.shape[1]
    positions = np.arange(len(table))
    for column_index, split in enumerate(table.columns):
        offset = (column_index - (table.shape[1] - 1) / 2) * width
        bars = ax.bar(positions + offset, table[split].to_numpy(), width, label=split)
        ax.bar_label(bars, fmt="%d", fontsize=8)
    ax.set_xticks(positions, table.index)
    ax.set_xlabel("class")
    ax.set_ylabel("examples")
    ax.set_title(title)
    if table.shape[1] > 1:
        ax.legend(title="split")
    fig.tight_layout()
    return _finish(fig)


# --------------------------------------------------------------------------- training


def learning_curves(history, metric_names: Sequence[str] = ("loss", "accuracy")) -> Figure:
    """Training and validation curves per epoch, one axes per metric.

    Parameters
    ----------
    history : pandas.DataFrame or keras History or dict
        The DataFrame from :func:`labcore.training.fit` (or ``model.fit(...)``'s History,
        or its ``.history`` dict).
    metric_names : sequence of str, default=("loss", "accuracy")
        Which results to plot; those the history lacks are left out.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per metric with a ``training`` and a ``validation`` line (x: epoch); when
        the history knows its best epoch (``fit`` records it), a dashed vertical line marks
        it.
    """
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(dict(history))
    present = [name for name in metric_names if name in frame.columns]
    if not present:
        raise ValueError(
            f"The history has none of {list(metric_names)}; its columns are {list(frame.columns)}."
        )
    epochs = frame["epoch"] if "epoch" in frame else pd.Series(np.arange(1, len(frame) + 1))
    best_epoch = frame.attrs.get("best_epoch") if isinstance(history, pd.DataFrame) else None
    fig, axes = _subplots(1, len(present), figsize=(5 * len(present), 3.6), squeeze=False)
    for ax, name in zip(axes[0], present, strict=True):
        ax.plot(epochs, frame[name], marker="o", label="training")
        if f"val_{name}" in frame:
            ax.plot(epochs, frame[f"val_{name}"], marker="o", label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", linestyle="--", label=f"best epoch ({best_epoch})")
        ax.set_title(name.replace("_", " ").capitalize())
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    fig.tight_layout()
    return _finish(fig)


# --------------------------------------------------------------------------- results


def class_probabilities(
    probabilities,
    class_names: Sequence[str] | None = None,
    *,
    image=None,
    true_label=None,
    title: str | None = None,
) -> Figure:
    """One prediction: the class probabilities as bars, next to the image if given.

    Parameters
    ----------
    probabilities : array-like of float
        One row of a softmax output, shape ``(n_classes,)`` (or ``(1, n_classes)``).
    class_names : sequence of str or None
        Names of the classes (default ``"0"``, ``"1"``, ...).
    image : array-like or None
        The image, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; shown on the left.
    true_label : int or None
        The correct class: its bar is outlined in black and named in the title.
    title : str or None
        The title; by default ``"Predicted: <class> (<probability>)"`` and the true class.

    Returns
    -------
    matplotlib.figure.Figure
        One axes of bars (the predicted class coloured, each bar labelled with its
        probability in %), plus one axes with the image when given.

    Raises
    ------
    ValueError
        If ``probabilities`` is not one vector, or ``class_names`` has another length.
    """
    values = np.asarray(probabilities, dtype=np.float64)
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(
            f"probabilities must be one row of class probabilities, got shape {values.shape}; "
            "for a batch of predictions pass one row, e.g. probabilities[0]"
        )
    names = [str(i) for i in range(len(values))] if class_names is None else list(class_names)
    if len(names) != len(values):
        raise ValueError(f"{len(values)} probabilities but {len(names)} class_names")
    predicted = int(values.argmax())
    columns = 2 if image is not None else 1
    fig, axes = _subplots(
        1,
        columns,
        figsize=(2.4 * (columns - 1) + 0.35 * len(values) + 1.8, 2.8),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 2.2] if image is not None else [1]},
    )
    bar_axes = axes[0][-1]
    if image is not None:
        _show_image(axes[0][0], _as_images(np.asarray(image)[np.newaxis])[0])
    colors = [WRONG_COLOR if i == predicted else "lightsteelblue" for i in range(len(values))]
    if true_label is not None and int(true_label) == predicted:
        colors[predicted] = "seagreen"
    bars = bar_axes.bar(names, values, color=colors)
    if true_label is not None:
        bars[int(true_label)].set_edgecolor("black")
        bars[int(true_label)].set_linewidth(2)
    bar_axes.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=7)
    bar_axes.set_ylim(0, 1.12)
    bar_axes.set_xlabel("class")
    bar_axes.set_ylabel("probability")
    if title is None:
        title = f"Predicted: {names[predicted]} ({values[predicted]:.1%})"
        if true_label is not None:
            title += f" / True: {names[int(true_label)]}"
    bar_axes.set_title(title)
    fig.tight_layout()
    return _finish(fig)


def confusion_matrix(
    y_true, y_pred, class_names: Sequence[str] | None = None, *, title: str = "Confusion matrix"
) -> Figure:
    """Heatmap of the confusion matrix with counts and per-class rates.

    Each cell shows how many examples of the true class (row) got the predicted class
    (column), and below it that count as a share of its row: on the diagonal that share is
    the recall of the class. Colours follow the shares, so a rare class is as visible as a
    common one.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted labels.
    class_names : sequence of str or None
        Names of the classes.
    title : str, default="Confusion matrix"
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; one annotation ``"count\\nrate %"`` per cell.
    """
    table = metrics.confusion_matrix(y_true, y_pred, class_names)
    row_totals = table.sum(axis=1).to_numpy()[:, np.newaxis]
    rates = np.divide(table.to_numpy(), row_totals, out=np.zeros(table.shape), where=row_totals > 0)
    notes = np.array(
        [
            [f"{count}\n{rate:.1%}" for count, rate in zip(row_counts, row_rates, strict=True)]
            for row_counts, row_rates in zip(table.to_numpy(), rates, strict=True)
        ]
    )
    size = max(3.5, 0.9 * len(table) + 1.5)
    fig, ax = _subplots(figsize=(size, size * 0.85))
    sns.heatmap(
        pd.DataFrame(rates, index=table.index, columns=table.columns),
        annot=notes,
        fmt="",
        cmap="Blues",
        vmin=0.0,
        vmax=1.0,
        cbar=False,
        square=True,
        linewidths=0.5,
        ax=ax,
        annot_kws={"fontsize": 8 if len(table) > 4 else 10},
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.tight_layout()
    return _finish(fig)


def prediction_grid(
    images,
    y_true,
    y_pred,
    class_names: Sequence[str] | None = None,
    *,
    num_images: int = 16,
    ncols: int = 6,
    title: str | None = None,
) -> Figure:
    """Images titled ``True: ... / Predicted: ...``; wrong predictions in red with a red frame.

    Parameters
    ----------
    images : array-like
        ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``.
    y_true, y_pred : array-like of int
        True and predicted labels (one per image).
    class_names : sequence of str or None
        Names shown instead of label numbers.
    num_images : int, default=16
        How many images, from the start.
    ncols : int, default=6
        Images per row.
    title : str or None
        A title over the grid.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per image; wrong ones have a red title and frame.
    """
    images = _as_images(images)
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if not len(images) == len(y_true) == len(y_pred):
        raise ValueError(
            f"{len(images)} images, {len(y_true)} true and {len(y_pred)} predicted labels: "
            "they must match."
        )
    fig, axes = _grid(min(num_images, len(images)), ncols, cell_size=(2.0, 2.1))
    for index, ax in enumerate(axes):
        _show_image(ax, images[index])
        wrong = int(y_true[index]) != int(y_pred[index])
        color = WRONG_COLOR if wrong else RIGHT_COLOR
        ax.set_title(
            f"True: {_label_text(y_true[index], class_names)} / "
            f"Predicted: {_label_text(y_pred[index], class_names)}",
            fontsize=7,
            color=color,
        )
        for spine in ax.spines.values():
            spine.set_edgecolor(color if wrong else "lightgray")
            spine.set_linewidth(2.5 if wrong else 0.5)
    if title:
        fig.suptitle(title)
    return _finish(fig)


def misclassified(
    images,
    y_true,
    y_pred,
    class_names: Sequence[str] | None = None,
    *,
    y_score=None,
    num_images: int = 16,
    ncols: int = 6,
) -> Figure:
    """The examples the model got wrong, most confident mistakes first when scores are given.

    Parameters
    ----------
    images : array-like
        All images, ``(N, H, W[, C])``.
    y_true, y_pred : array-like of int
        True and predicted labels.
    class_names : sequence of str or None
        Names shown instead of label numbers.
    y_score : array-like or None
        Softmax probabilities ``(N, n_classes)`` or binary scores ``(N,)``; if given,
        mistakes are ordered by the model's confidence in its wrong answer.
    num_images : int, default=16
        How many mistakes to show at most.
    ncols : int, default=6
        Images per row.

    Returns
    -------
    matplotlib.figure.Figure
        A :func:`prediction_grid` of the mistakes (all titles red) with a title
        ``"k of n examples misclassified"``, or one empty axes saying
        ``"No misclassified examples"``.
    """
    images = _as_images(images)
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if not len(images) == len(y_true) == len(y_pred):
        raise ValueError(f"{len(images)} images, {len(y_true)} true and {len(y_pred)} predictions")
    wrong = np.flatnonzero(y_true != y_pred)
    if len(wrong) == 0:
        fig, ax = _subplots(figsize=(4, 1.5))
        ax.text(0.5, 0.5, "No misclassified examples", ha="center", va="center")
        ax.set_axis_off()
        return _finish(fig)
    if y_score is not None:
        scores = np.asarray(y_score, dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] > 1:
            confidence = scores[np.arange(len(scores)), y_pred.astype(np.int64)]
        else:
            scores = scores.reshape(len(scores))
            confidence = np.where(y_pred == 1, scores, 1.0 - scores)
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    shown = wrong[:num_images]
    return prediction_grid(
        images[shown],
        y_true[shown],
        y_pred[shown],
        class_names,
        num_images=len(shown),
        ncols=ncols,
        title=f"{len(wrong)} of {len(y_true)} examples misclassified",
    )


def roc_curve(
    y_true, y_score, threshold: float | None = None, *, title: str = "ROC curve"
) -> Figure:
    """The ROC curve with its AUC in the legend and the chosen operating point marked.

    Parameters
    ----------
    y_true : array-like of 0/1
        True binary labels.
    y_score : array-like of float
        Positive-class scores.
    threshold : float or None
        The decision threshold in use (e.g. from :func:`labcore.metrics.choose_threshold`);
        its (false-positive rate, sensitivity) point is marked with a red dot.
    title : str, default="ROC curve"
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the curve labelled ``"model (AUC = 0.xxx)"``, the chance diagonal and,
        with a threshold, the operating point labelled with its threshold, sensitivity and
        specificity.
    """
    curve = metrics.roc_curve(y_true, y_score)
    auc = metrics.roc_auc(y_true, y_score)
    fig, ax = _subplots(figsize=(4.8, 4.5))
    ax.plot(curve["fpr"], curve["tpr"], label=f"model (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="chance (AUC = 0.5)")
    if threshold is not None:
        point = metrics.binary_report(y_true, y_score, threshold)
        ax.plot(
            [1.0 - point["specificity"]],
            [point["sensitivity"]],
            marker="o",
            markersize=9,
            linestyle="none",
            color="red",
            label=(
                f"threshold {threshold:.3g}: sensitivity {point['sensitivity']:.2f}, "
                f"specificity {point['specificity']:.2f}"
            ),
        )
    ax.set_xlabel("False-positive rate (1 - specificity)")
    ax.set_ylabel("True-positive rate (sensitivity)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _finish(fig)


# --------------------------------------------------------------------------- inside the network


def _find_layer(model, layer):
    """A layer of the model from its name, its index or the layer itself."""
    if isinstance(layer, str):
        try:
            return model.get_layer(layer)
        except ValueError:
            names = [candidate.name for candidate in model.layers]
            raise ValueError(f"The model has no layer {layer!r}; its layers are {names}.") from None
    if isinstance(layer, int):
        return model.layers[layer]
    if layer is None:
        return None
    return layer


def conv_filters(model, layer=None, *, max_filters: int = 32, ncols: int = 8) -> Figure:
    """The kernels of a Conv2D layer drawn as small images, one per filter.

    A 3×3 filter is nine weights; drawn as a 3×3 image (blue negative, red positive, on one
    scale for all filters) it shows what the filter responds to, such as an edge in one
    direction. A filter that looks at several input channels is shown as the mean over
    them.

    Parameters
    ----------
    model : keras.Model
        A built model.
    layer : str or int or keras.layers.Layer or None
        The Conv2D layer (name, index in ``model.layers`` or the layer); None takes the
        first Conv2D layer.
    max_filters : int, default=32
        How many filters to show at most.
    ncols : int, default=8
        Filters per row.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (one image) per filter shown, titled with the filter's number.

    Raises
    ------
    ValueError
        If the layer is not a Conv2D layer or the model has none.
    """
    import keras

    chosen = _find_layer(model, layer)
    if chosen is None:
        chosen = next((c for c in model.layers if isinstance(c, keras.layers.Conv2D)), None)
        if chosen is None:
            raise ValueError("The model has no Conv2D layer whose filters could be shown.")
    if not isinstance(chosen, keras.layers.Conv2D) or not chosen.get_weights():
        raise ValueError(
            f"{chosen.name!r} is not a built Conv2D layer; choose one of "
            f"{[c.name for c in model.layers if isinstance(c, keras.layers.Conv2D)]}."
        )
    kernel = np.asarray(chosen.get_weights()[0])  # (height, width, in_channels, filters)
    height, width, in_channels, filters = kernel.shape
    shown = min(filters, max_filters)
    images = kernel.mean(axis=2)  # (height, width, filters)
    scale = float(np.abs(images[..., :shown]).max()) or 1.0
    fig, axes = _grid(shown, ncols, cell_size=(1.2, 1.35))
    for index, ax in enumerate(axes):
        ax.imshow(images[..., index], cmap="coolwarm", vmin=-scale, vmax=scale)
        ax.set_title(f"filter {index}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    channels = f"mean of {in_channels} input channels" if in_channels > 1 else "1 channel"
    fig.suptitle(
        f"Filters of {chosen.name}: {height}×{width}, {channels}; {shown} of {filters} shown"
    )
    return _finish(fig)


def feature_maps(model, image, layer, *, max_maps: int = 32, ncols: int = 8) -> Figure:
    """What one image looks like after a layer: each output channel as an image.

    A sub-model is built with the functional API, ``keras.Model(model.inputs,
    layer.output)``: the same layers and weights, stopping at ``layer``. This works for
    Sequential and functional models alike, once they are built.

    Parameters
    ----------
    model : keras.Model
        A built model.
    image : array-like
        One image, ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``, scaled the way the model
        expects its input.
    layer : str or int or keras.layers.Layer
        A layer with image-shaped output (convolution, pooling, activation).
    max_maps : int, default=32
        How many channels to show at most.
    ncols : int, default=8
        Maps per row.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (one image) per channel shown, titled with the channel's number.

    Raises
    ------
    ValueError
        If the model is not built, or the layer's output is not ``(H, W, channels)``.
    """
    import keras

    chosen = _find_layer(model, layer)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            "The model is not built yet: start it with keras.Input(shape=...) or train it "
            "first, so its layers have known inputs."
        )
    batch = np.asarray(image, dtype=np.float32)
    expected = tuple(inputs[0].shape[1:])
    if batch.ndim == len(expected) - 1:
        batch = batch[..., np.newaxis]  # (H, W) -> (H, W, 1)
    if batch.ndim == len(expected):
        batch = batch[np.newaxis]
    fits = batch.ndim == len(expected) + 1 and all(
        wanted is None or wanted == given
        for wanted, given in zip(expected, batch.shape[1:], strict=True)
    )
    if not fits:
        raise ValueError(
            f"image has shape {np.asarray(image).shape}; the model expects one image of shape "
            f"{expected}."
        )
    probe = keras.Model(inputs=inputs, outputs=chosen.output)
    maps = np.asarray(keras.ops.convert_to_numpy(probe.predict(batch, verbose=0)))[0]
    if maps.ndim != 3:
        raise ValueError(
            f"{chosen.name!r} outputs shape {maps.shape}, not (height, width, channels); "
            "choose a convolution or pooling layer."
        )
    shown = min(maps.shape[-1], max_maps)
    fig, axes = _grid(shown, ncols, cell_size=(1.3, 1.45))
    for index, ax in enumerate(axes):
        ax.imshow(maps[..., index], cmap="viridis")
        ax.set_title(f"channel {index}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"Feature maps of {chosen.name}: {maps.shape[0]}×{maps.shape[1]}, "
        f"{shown} of {maps.shape[-1]} channels"
    )
    return _finish(fig)


# --------------------------------------------------------------------------- tuning


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric


def tuning_heatmap(results: pd.DataFrame, x: str, y: str, metric: str = "val_accuracy") -> Figure:
    """Mean validation score of the trials for each pair of values of two hyperparameters.

    Parameters
    ----------
    results : pandas.DataFrame
        The trials, as :func:`labcore.tuning.search` returns them.
    x, y : str
        The hyperparameters on the horizontal and the vertical axis.
    metric : str, default="val_accuracy"
        The validation score to average.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; one annotated cell (the mean, 3 decimals) per combination that was tried;
        combinations never tried stay blank.
    """
    for column in (x, y, metric):
        if column not in results.columns:
            raise ValueError(f"results has no column {column!r}; it has {list(results.columns)}.")
    table = results.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
    fig, ax = _subplots(figsize=(1.2 * table.shape[1] + 2.5, 0.8 * table.shape[0] + 1.8))
    sns.heatmap(
        table,
        annot=True,
        fmt=".3f",
        cmap="viridis_r" if _lower_is_better(metric) else "viridis",
        cbar=False,
        linewidths=0.5,
        ax=ax,
    )
    ax.set_title(f"Mean {metric} by {y} and {x}")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.tight_layout()
    return _finish(fig)


def _trial_label(row: pd.Series, parameter_names: Sequence[str]) -> str:
    if "params" in row and isinstance(row["params"], str):
        params = json.loads(row["params"])
    else:
        params = {name: row[name] for name in parameter_names}
    return ", ".join(f"{name}={value}" for name, value in params.items())


def tuning_ranking(results: pd.DataFrame, metric: str = "val_accuracy", *, top: int = 15) -> Figure:
    """The trials ranked by a validation score, best at the top, as horizontal bars.

    Parameters
    ----------
    results : pandas.DataFrame
        The trials, as :func:`labcore.tuning.search` returns them (a ``params`` column of
        JSON text names each trial; without it the other non-metric columns do).
    metric : str, default="val_accuracy"
        The validation score to rank by (names with ``loss`` are ranked lowest first).
    top : int, default=15
        How many trials to show.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one bar per trial shown, labelled with its hyperparameters; the best
        trial's bar is highlighted.
    """
    if metric not in results.columns:
        raise ValueError(f"results has no column {metric!r}; it has {list(results.columns)}.")
    finished = results.dropna(subset=[metric])
    if finished.empty:
        raise ValueError(f"No trial has a {metric} value to rank.")
    ranked = finished.sort_values(metric, ascending=_lower_is_better(metric)).head(top)
    skip = {"trial", "params", "epochs_run", "best_epoch", "seconds", metric}
    parameter_names = [c for c in results.columns if c not in skip and not c.startswith("val_")]
    labels = [_trial_label(row, parameter_names) for _, row in ranked.iterrows()]
    fig, ax = _subplots(figsize=(8, 0.38 * len(ranked) + 1.4))
    colors = ["tab:orange"] + ["tab:blue"] * (len(ranked) - 1)
    positions = np.arange(len(ranked))[::-1]  # best at the top
    bars = ax.barh(positions, ranked[metric].to_numpy(), color=colors)
    ax.bar_label(bars, fmt="%.4f", fontsize=8, padding=2)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel(metric)
    ax.set_title(f"Trials ranked by {metric} (best highlighted)")
    low, high = float(ranked[metric].min()), float(ranked[metric].max())
    margin = 0.15 * (high - low) or 0.05 * abs(high) or 0.05
    ax.set_xlim(max(0.0, low - margin) if low >= 0 else low - margin, high + margin)
    fig.tight_layout()
    return _finish(fig)
