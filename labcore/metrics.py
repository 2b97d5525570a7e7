"""Metrics: how good is a classifier, in plain Python numbers and pandas tables.

Accuracy alone misleads when classes are unbalanced: on a test set with 62 % pneumonia
X-rays, a "model" that always says *pneumonia* is 62 % accurate and useless. So for a
**binary** problem (label 1 = the *positive* class, e.g. pneumonia) we count the four
outcomes of a decision

=================  =========================  =========================
..                 predicted negative (0)     predicted positive (1)
=================  =========================  =========================
truly negative     ``tn`` true negatives      ``fp`` false positives
truly positive     ``fn`` false negatives     ``tp`` true positives
=================  =========================  =========================

and derive from them

* **sensitivity** (= **recall**) ``tp / (tp + fn)``: of the sick, how many we find;
* **specificity** ``tn / (tn + fp)``: of the healthy, how many we clear;
* **precision** ``tp / (tp + fp)``: of those we call sick, how many are;
* **F1** ``2 * precision * recall / (precision + recall)``;
* **accuracy** ``(tp + tn) / n``.

A network outputs a **score** (a probability) per image, not a decision. The decision is
``score >= threshold``; moving the threshold trades sensitivity against specificity. The
**ROC curve** shows that trade for every threshold and the **ROC AUC** summarises it (1.0 is
perfect, 0.5 is guessing). Choose the threshold on *validation* data
(:func:`choose_threshold`), then report the test metrics at that threshold
(:func:`binary_report`). Choosing it on the test data would make the test result optimistic.

Datasets that reshuffle on every pass (the X-ray datasets do) must give their labels and
predictions from the *same* pass: :func:`predict_dataset` collects both in one loop.
Everything here returns plain ``float``/``int`` values, dicts and DataFrames, computed with
scikit-learn where it has the function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics

__all__ = [
    "accuracy",
    "binary_report",
    "choose_threshold",
    "classification_report",
    "confusion_matrix",
    "f1",
    "precision",
    "predict_dataset",
    "recall",
    "roc_auc",
    "roc_curve",
    "sensitivity",
    "specificity",
]


# --------------------------------------------------------------------------- inputs


def _labels(values, name: str = "y_true") -> np.ndarray:
    """A 1-D array of integer labels (from labels, a column, or one-hot rows)."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    elif values.ndim == 2:
        values = values.argmax(axis=1)  # one-hot rows or class probabilities
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per example), got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} is empty.")
    if values.dtype == bool:
        return values.astype(np.int64)
    if not np.issubdtype(values.dtype, np.number) or np.any(values != np.round(values)):
        raise ValueError(
            f"{name} must hold integer class labels, got {values.dtype} values such as "
            f"{values[:3].tolist()}; turn scores into labels first (e.g. scores >= 0.5, or "
            "probabilities.argmax(axis=1))."
        )
    return values.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}.")
    return y_true, y_pred


def _scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and one positive-class score per example."""
    y_true = _labels(y_true, "y_true")
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim == 2 and y_score.shape[1] == 1:
        y_score = y_score[:, 0]
    elif y_score.ndim == 2 and y_score.shape[1] == 2:
        y_score = y_score[:, 1]  # softmax over (negative, positive): keep P(positive)
    if y_score.ndim != 1:
        raise ValueError(
            f"y_score must hold one score per example (the probability of class 1), got shape "
            f"{y_score.shape}."
        )
    if len(y_true) != len(y_score):
        raise ValueError(f"y_true has {len(y_true)} labels but y_score has {len(y_score)} scores.")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or infinite values (did training diverge?).")
    if not set(np.unique(y_true)) <= {0, 1}:
        raise ValueError(
            f"These metrics are for binary labels 0 and 1; y_true holds {np.unique(y_true)}."
        )
    return y_true, y_score


def _require_both_classes(y_true: np.ndarray, what: str) -> None:
    present = np.unique(y_true)
    if len(present) < 2:
        raise ValueError(
            f"{what} needs examples of both classes, but y_true only holds class "
            f"{int(present[0])}. Use a (validation or test) set with positive and negative "
            "examples, e.g. a stratified subset."
        )


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` as a float; 0.0 when nothing was counted."""
    return float(numerator / denominator) if denominator else 0.0


# --------------------------------------------------------------------------- decisions


def accuracy(y_true, y_pred) -> float:
    """Share of examples whose predicted label equals the true label.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted class labels (one-hot rows or probabilities are reduced with
        ``argmax``).

    Returns
    -------
    float
        Between 0 and 1.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def _binary_counts(y_true, y_pred) -> dict[str, int]:
    y_true, y_pred = _pair(y_true, y_pred)
    if not set(np.unique(np.concatenate([y_true, y_pred]))) <= {0, 1}:
        raise ValueError(
            "Sensitivity, specificity and the tn/fp/fn/tp counts are for binary labels 0 and 1; "
            "for more classes use confusion_matrix or classification_report."
        )
    tn, fp, fn, tp = sk_metrics.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def precision(y_true, y_pred, average: str = "binary") -> float:
    """Precision: of the examples predicted positive, the share that is positive.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted labels.
    average : {"binary", "macro", "weighted", "micro"}, default="binary"
        ``"binary"`` scores class 1; the others average over all classes (scikit-learn's
        meaning).

    Returns
    -------
    float
        Between 0 and 1 (0.0 when nothing was predicted positive).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(sk_metrics.precision_score(y_true, y_pred, average=average, zero_division=0))


def recall(y_true, y_pred, average: str = "binary") -> float:
    """Recall (sensitivity): of the positive examples, the share predicted positive.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted labels.
    average : {"binary", "macro", "weighted", "micro"}, default="binary"
        ``"binary"`` scores class 1; the others average over all classes.

    Returns
    -------
    float
        Between 0 and 1 (0.0 when there are no positive examples).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(sk_metrics.recall_score(y_true, y_pred, average=average, zero_division=0))


def sensitivity(y_true, y_pred) -> float:
    """Sensitivity ``tp / (tp + fn)``: the medical name of recall for class 1.

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        True and predicted binary labels.

    Returns
    -------
    float
        Between 0 and 1.
    """
    counts = _binary_counts(y_true, y_pred)
    return _ratio(counts["tp"], counts["tp"] + counts["fn"])


def specificity(y_true, y_pred) -> float:
    """Specificity ``tn / (tn + fp)``: of the negative examples, the share predicted negative.

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        True and predicted binary labels.

    Returns
    -------
    float
        Between 0 and 1.
    """
    counts = _binary_counts(y_true, y_pred)
    return _ratio(counts["tn"], counts["tn"] + counts["fp"])


def f1(y_true, y_pred, average: str = "binary") -> float:
    """F1 score: the harmonic mean of precision and recall.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted labels.
    average : {"binary", "macro", "weighted", "micro"}, default="binary"
        ``"binary"`` scores class 1; the others average over all classes.

    Returns
    -------
    float
        Between 0 and 1.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(sk_metrics.f1_score(y_true, y_pred, average=average, zero_division=0))


def _class_names(class_names, y_true, y_pred) -> list[str]:
    if class_names is not None:
        names = [str(name) for name in class_names]
        largest = int(max(y_true.max(), y_pred.max()))
        if largest >= len(names):
            raise ValueError(
                f"Label {largest} occurs but class_names has only {len(names)} names: {names}."
            )
        return names
    return [str(label) for label in range(int(max(y_true.max(), y_pred.max())) + 1)]


def confusion_matrix(y_true, y_pred, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of (true class, predicted class) pairs as a labelled table.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted labels.
    class_names : sequence of str or None
        Name of class ``i`` at position ``i``; None uses the label numbers.

    Returns
    -------
    pandas.DataFrame
        Rows are the true classes (index named ``"true"``), columns the predicted classes
        (named ``"predicted"``); cell ``[a, b]`` counts examples of class ``a`` predicted as
        ``b``. The diagonal holds the correct predictions.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    names = _class_names(class_names, y_true, y_pred)
    counts = sk_metrics.confusion_matrix(y_true, y_pred, labels=list(range(len(names))))
    return pd.DataFrame(
        counts,
        index=pd.Index(names, name="true"),
        columns=pd.Index(names, name="predicted"),
    )


def classification_report(y_true, y_pred, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, with their averages.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        True and predicted labels.
    class_names : sequence of str or None
        Name of class ``i`` at position ``i``.

    Returns
    -------
    pandas.DataFrame
        One row per class, then ``macro avg`` (plain mean over classes) and ``weighted avg``
        (weighted by support); columns ``precision``, ``recall``, ``f1``, ``support``.
        ``frame.attrs["accuracy"]`` holds the overall accuracy.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    names = _class_names(class_names, y_true, y_pred)
    report = sk_metrics.classification_report(
        y_true,
        y_pred,
        labels=list(range(len(names))),
        target_names=names,
        output_dict=True,
        zero_division=0,
    )
    rows = {name: report[name] for name in [*names, "macro avg", "weighted avg"]}
    frame = pd.DataFrame(rows).T.rename(columns={"f1-score": "f1"})
    frame["support"] = frame["support"].astype(int)
    frame.index.name = "class"
    frame.attrs["accuracy"] = accuracy(y_true, y_pred)
    return frame[["precision", "recall", "f1", "support"]]


# --------------------------------------------------------------------------- scores


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve: the chance that a random positive outranks a random negative.

    Parameters
    ----------
    y_true : array-like of 0/1
        True binary labels.
    y_score : array-like of float
        Score of the positive class (e.g. the sigmoid output) per example.

    Returns
    -------
    float
        Between 0 and 1; 0.5 means the scores do not separate the classes.

    Raises
    ------
    ValueError
        If ``y_true`` holds only one class (the AUC is undefined).
    """
    y_true, y_score = _scores(y_true, y_score)
    _require_both_classes(y_true, "ROC AUC")
    return float(sk_metrics.roc_auc_score(y_true, y_score))


def roc_curve(y_true, y_score) -> pd.DataFrame:
    """The points of the ROC curve: one row per distinct decision threshold.

    Parameters
    ----------
    y_true : array-like of 0/1
        True binary labels.
    y_score : array-like of float
        Score of the positive class per example.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold`` (decreasing; the first is ``inf``: nothing positive),
        ``fpr`` (false-positive rate = 1 - specificity), ``tpr`` (true-positive rate =
        sensitivity) and ``specificity``. An example counts as positive when
        ``score >= threshold``.

    Raises
    ------
    ValueError
        If ``y_true`` holds only one class.
    """
    y_true, y_score = _scores(y_true, y_score)
    _require_both_classes(y_true, "An ROC curve")
    fpr, tpr, thresholds = sk_metrics.roc_curve(y_true, y_score, drop_intermediate=False)
    return pd.DataFrame({"threshold": thresholds, "fpr": fpr, "tpr": tpr, "specificity": 1.0 - fpr})


def binary_report(y_true, y_score, threshold: float = 0.5) -> dict[str, float | int]:
    """Every binary metric at one decision threshold, in one dict.

    Parameters
    ----------
    y_true : array-like of 0/1
        True binary labels.
    y_score : array-like of float
        Score of the positive class per example.
    threshold : float, default=0.5
        An example is predicted positive when ``score >= threshold``.

    Returns
    -------
    dict
        ``threshold``, ``accuracy``, ``precision``, ``recall``, ``sensitivity`` (the same
        as recall), ``specificity``, ``f1``, ``roc_auc`` (NaN when only one class is
        present), the counts ``tn``, ``fp``, ``fn``, ``tp`` and ``n``; plain Python numbers.
    """
    y_true, y_score = _scores(y_true, y_score)
    y_pred = (y_score >= threshold).astype(np.int64)
    counts = _binary_counts(y_true, y_pred)
    tn, fp, fn, tp = counts["tn"], counts["fp"], counts["fn"], counts["tp"]
    recall_value = _ratio(tp, tp + fn)
    precision_value = _ratio(tp, tp + fp)
    both = len(np.unique(y_true)) == 2
    return {
        "threshold": float(threshold),
        "accuracy": _ratio(tp + tn, len(y_true)),
        "precision": precision_value,
        "recall": recall_value,
        "sensitivity": recall_value,
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * precision_value * recall_value, precision_value + recall_value),
        "roc_auc": float(sk_metrics.roc_auc_score(y_true, y_score)) if both else float("nan"),
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "n": len(y_true),
    }


def choose_threshold(
    y_true, y_score, target_sensitivity: float | None = None, method: str = "youden"
) -> float:
    """Choose a decision threshold on validation data.

    Parameters
    ----------
    y_true : array-like of 0/1
        True labels of the VALIDATION set (never the test set).
    y_score : array-like of float
        The model's positive-class scores on the same examples.
    target_sensitivity : float or None, default=None
        If given, the highest threshold whose sensitivity reaches this value: find at least
        this share of the positives, with as few false alarms as that allows.
    method : {"youden"}, default="youden"
        Without a target: the threshold that maximises Youden's J = sensitivity +
        specificity - 1 (the ROC point farthest above the diagonal); ties go to the highest
        threshold.

    Returns
    -------
    float
        A threshold for ``score >= threshold``; it is one of the given scores.

    Raises
    ------
    ValueError
        If only one class is present, ``target_sensitivity`` is not in (0, 1], or the
        method is unknown.
    """
    if method != "youden":
        raise ValueError(f"method must be 'youden', got {method!r}")
    curve = roc_curve(y_true, y_score).iloc[1:]  # the first row (inf) predicts nothing
    if target_sensitivity is not None:
        if not 0.0 < target_sensitivity <= 1.0:
            raise ValueError(
                f"target_sensitivity must be in (0, 1], got {target_sensitivity!r} "
                "(e.g. 0.95 to find 95 % of the positives)."
            )
        reaching = curve[curve["tpr"] >= target_sensitivity - 1e-12]
        return float(reaching["threshold"].iloc[0])  # thresholds decrease: the first is highest
    youden = curve["tpr"] - curve["fpr"]
    return float(curve["threshold"].iloc[int(np.argmax(youden.to_numpy()))])


# --------------------------------------------------------------------------- predictions


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    return np.asarray(value)


def _squeeze_labels(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        return labels[:, 0]
    if labels.ndim == 2:
        return labels.argmax(axis=1)  # one-hot (label_mode="categorical")
    return labels


def _squeeze_scores(scores: np.ndarray) -> np.ndarray:
    return scores[:, 0] if scores.ndim == 2 and scores.shape[1] == 1 else scores


def predict_dataset(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Labels and model scores collected together, in ONE pass over the data.

    A training or validation dataset from :func:`labcore.data.load_image_folder` reshuffles
    every time it is iterated. Taking the labels from one pass and
    ``model.predict(dataset)`` from another pairs each prediction with some other image's
    label, and the metrics come out as chance. This function takes each batch once, keeps
    its labels and predicts on its images.

    Parameters
    ----------
    model : keras.Model
        A trained model.
    dataset : dataset or (x, y) tuple of arrays
        A ``tf.data.Dataset`` or a Grain dataset of ``(images, labels)`` batches (further
        elements, such as sample weights, are ignored), or a tuple ``(x, y)`` of arrays.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``y_true`` (1-D integer labels; one-hot labels are turned into indices) and
        ``y_score``: 1-D for a single sigmoid output, ``(N, n_classes)`` for softmax.
    """
    if isinstance(dataset, tuple) and len(dataset) == 2 and hasattr(dataset[0], "__array__"):
        x, y = dataset
        scores = _to_numpy(model.predict(x, verbose=0))
        labels = _squeeze_labels(np.asarray(y))
        if len(labels) != len(scores):
            raise ValueError(f"x has {len(scores)} examples but y has {len(labels)} labels.")
        return labels.astype(np.int64), _squeeze_scores(scores)
    if isinstance(dataset, tuple | list | np.ndarray):
        raise ValueError(
            "dataset must be a tf.data / Grain dataset of (images, labels) batches or a tuple "
            f"(x, y) of arrays, got a {type(dataset).__name__} of length {len(dataset)}."
        )
    all_labels, all_scores = [], []
    for batch in dataset:
        if not isinstance(batch, tuple | list) or len(batch) < 2:
            raise ValueError(
                "Each batch of the dataset must be (images, labels); this one is a "
                f"{type(batch).__name__}. Use a labelled dataset (label_mode='int' or 'binary')."
            )
        images, labels = batch[0], batch[1]
        all_scores.append(_to_numpy(model.predict_on_batch(images)))
        all_labels.append(_squeeze_labels(_to_numpy(labels)))
    if not all_scores:
        raise ValueError("The dataset yielded no batches.")
    y_true = np.concatenate(all_labels).astype(np.int64)
    y_score = _squeeze_scores(np.concatenate(all_scores))
    return y_true, y_score
