"""labcore.metrics against small examples worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from labcore import metrics
from labcore.runtime import quiet_import_keras

keras = quiet_import_keras()

# 10 X-rays: 4 normal (0), 6 pneumonia (1).
#   true      0 0 0 0 1 1 1 1 1 1
#   predicted 0 0 0 1 1 1 1 1 0 0
# tn = 3, fp = 1, fn = 2, tp = 4
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
Y_PRED = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 0])

# Four scores for the ROC examples: the positive 0.35 ranks below the negative 0.4.
ROC_TRUE = np.array([0, 0, 1, 1])
ROC_SCORE = np.array([0.1, 0.4, 0.35, 0.8])


def test_decision_metrics_by_hand():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(7 / 10)
    assert metrics.precision(Y_TRUE, Y_PRED) == pytest.approx(4 / 5)
    assert metrics.recall(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert metrics.sensitivity(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert metrics.specificity(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert metrics.f1(Y_TRUE, Y_PRED) == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))  # 8 / 11
    for value in (metrics.accuracy(Y_TRUE, Y_PRED), metrics.f1(Y_TRUE, Y_PRED)):
        assert type(value) is float


def test_macro_average_over_three_classes_by_hand():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # precision per class: 0 -> 1/2, 1 -> 2/3, 2 -> 1/1; recall: 1/2, 2/2, 1/2
    assert metrics.precision(y_true, y_pred, average="macro") == pytest.approx(
        (1 / 2 + 2 / 3 + 1) / 3
    )
    assert metrics.recall(y_true, y_pred, average="macro") == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    with pytest.raises(ValueError, match="binary labels 0 and 1"):
        metrics.specificity(y_true, y_pred)


def test_confusion_matrix_2x2_by_hand():
    table = metrics.confusion_matrix(Y_TRUE, Y_PRED, class_names=["normal", "pneumonia"])
    assert table.to_numpy().tolist() == [[3, 1], [2, 4]]
    assert list(table.index) == ["normal", "pneumonia"] and table.index.name == "true"
    assert list(table.columns) == ["normal", "pneumonia"] and table.columns.name == "predicted"
    assert table.loc["pneumonia", "normal"] == 2  # fn: sick, called normal


def test_confusion_matrix_keeps_classes_that_never_occur():
    table = metrics.confusion_matrix([0, 2], [0, 2], class_names=["a", "b", "c"])
    assert table.to_numpy().tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="only 2 names"):
        metrics.confusion_matrix([0, 2], [0, 2], class_names=["a", "b"])


def test_classification_report_by_hand():
    report = metrics.classification_report(Y_TRUE, Y_PRED, class_names=["normal", "pneumonia"])
    assert list(report.index) == ["normal", "pneumonia", "macro avg", "weighted avg"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    # normal: precision 3/5, recall 3/4; pneumonia: precision 4/5, recall 4/6
    assert report.loc["normal", "precision"] == pytest.approx(3 / 5)
    assert report.loc["normal", "recall"] == pytest.approx(3 / 4)
    assert report.loc["pneumonia", "f1"] == pytest.approx(8 / 11)
    assert report["support"].tolist() == [4, 6, 10, 10]
    assert report.loc["macro avg", "recall"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert report.attrs["accuracy"] == pytest.approx(0.7)


def test_roc_auc_by_hand():
    # pairs (positive, negative) ranked right: (0.35, 0.1), (0.8, 0.1), (0.8, 0.4) -> 3 of 4
    assert metrics.roc_auc(ROC_TRUE, ROC_SCORE) == pytest.approx(0.75)
    # a (N, 1) sigmoid output and an (N, 2) softmax output mean the same
    assert metrics.roc_auc(ROC_TRUE, ROC_SCORE[:, None]) == pytest.approx(0.75)
    softmax = np.stack([1 - ROC_SCORE, ROC_SCORE], axis=1)
    assert metrics.roc_auc(ROC_TRUE, softmax) == pytest.approx(0.75)


def test_roc_auc_with_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match=r"needs examples of both classes.*only holds class 1"):
        metrics.roc_auc([1, 1, 1], [0.2, 0.6, 0.9])
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([0, 1], [0.2, float("nan")])


def test_roc_curve_points_by_hand():
    curve = metrics.roc_curve(ROC_TRUE, ROC_SCORE)
    assert list(curve.columns) == ["threshold", "fpr", "tpr", "specificity"]
    assert curve["threshold"].tolist()[1:] == [0.8, 0.4, 0.35, 0.1]
    assert curve["threshold"].iloc[0] == np.inf
    assert curve["tpr"].tolist() == [0, 0.5, 0.5, 1, 1]
    assert curve["fpr"].tolist() == [0, 0, 0.5, 0.5, 1]
    assert curve["specificity"].tolist() == [1, 1, 0.5, 0.5, 0]


def test_binary_report_by_hand():
    report = metrics.binary_report(ROC_TRUE, ROC_SCORE, threshold=0.5)
    # predicted: 0 0 0 1 -> tn 2, fp 0, fn 1, tp 1
    assert (report["tn"], report["fp"], report["fn"], report["tp"], report["n"]) == (2, 0, 1, 1, 4)
    assert report["sensitivity"] == report["recall"] == pytest.approx(0.5)
    assert report["specificity"] == pytest.approx(1.0)
    assert report["precision"] == pytest.approx(1.0)
    assert report["f1"] == pytest.approx(2 / 3)
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["roc_auc"] == pytest.approx(0.75)
    assert all(type(value) in (int, float) for value in report.values())
    # the threshold is inclusive: a score equal to it counts as positive
    assert metrics.binary_report(ROC_TRUE, ROC_SCORE, threshold=0.35)["tp"] == 2
    one_class = metrics.binary_report([1, 1], [0.7, 0.2])
    assert np.isnan(one_class["roc_auc"]) and one_class["sensitivity"] == 0.5


def test_choose_threshold_by_hand():
    # reaching sensitivity 1.0 needs the threshold down to 0.35 (the lower positive)
    assert metrics.choose_threshold(ROC_TRUE, ROC_SCORE, target_sensitivity=1.0) == 0.35
    assert metrics.choose_threshold(ROC_TRUE, ROC_SCORE, target_sensitivity=0.5) == 0.8
    # Youden's J: 0.5 at 0.8 and at 0.35 (tie -> the higher threshold), 0 elsewhere
    assert metrics.choose_threshold(ROC_TRUE, ROC_SCORE) == 0.8
    with pytest.raises(ValueError, match="target_sensitivity must be in"):
        metrics.choose_threshold(ROC_TRUE, ROC_SCORE, target_sensitivity=95)
    with pytest.raises(ValueError, match="method must be 'youden'"):
        metrics.choose_threshold(ROC_TRUE, ROC_SCORE, method="f1")


def test_chosen_threshold_meets_the_target_and_is_the_highest_that_does():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, size=400)
    y_score = np.clip(0.3 * y_true + rng.normal(0.35, 0.2, size=400), 0, 1)
    for target in (0.8, 0.9, 0.95, 0.99):
        threshold = metrics.choose_threshold(y_true, y_score, target_sensitivity=target)
        assert metrics.binary_report(y_true, y_score, threshold)["sensitivity"] >= target
        next_higher = y_score[y_score > threshold].min()
        assert metrics.binary_report(y_true, y_score, next_higher)["sensitivity"] < target


def test_labels_must_be_integers():
    with pytest.raises(ValueError, match="integer class labels"):
        metrics.accuracy([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        metrics.accuracy([0, 1, 1], [0, 1])


def _identity_model():
    """A model whose score is its input: score(x) = x."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.ones((1, 1), dtype="float32")])
    return model


def _values_and_labels(n: int = 200):
    x = (np.arange(n, dtype="float32") / n)[:, None]
    y = (x[:, 0] >= 0.5).astype("int64")  # the label follows from the value
    return x, y


def test_predict_dataset_pairs_labels_and_scores_from_one_pass_of_a_reshuffled_dataset():
    import tensorflow as tf

    x, y = _values_and_labels()
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=1, reshuffle_each_iteration=True)
        .batch(16)
    )
    model = _identity_model()
    y_true, y_score = metrics.predict_dataset(model, dataset)
    assert y_true.shape == (200,) and y_score.shape == (200,)
    np.testing.assert_array_equal(y_true, (y_score >= 0.5).astype(int))  # every pair matches
    assert metrics.roc_auc(y_true, y_score) == 1.0
    # the pitfall it avoids: labels from one pass and predictions from another do not match
    labels_pass = np.concatenate([batch_y.numpy() for _, batch_y in dataset])
    scores_pass = model.predict(dataset, verbose=0)[:, 0]
    assert not np.array_equal(labels_pass, (scores_pass >= 0.5).astype(int))


def test_predict_dataset_with_grain_and_with_arrays():
    import grain

    x, y = _values_and_labels(96)
    dataset = grain.MapDataset.source(list(zip(x, y, strict=True))).shuffle(seed=2).batch(10)
    y_true, y_score = metrics.predict_dataset(_identity_model(), dataset)
    assert len(y_true) == 96
    np.testing.assert_array_equal(y_true, (y_score >= 0.5).astype(int))
    y_true, y_score = metrics.predict_dataset(_identity_model(), (x, y[:, None]))
    np.testing.assert_array_equal(y_true, y)
    np.testing.assert_allclose(y_score, x[:, 0], atol=1e-6)


def test_predict_dataset_softmax_and_one_hot_labels():
    import tensorflow as tf

    x, y = _values_and_labels(40)
    one_hot = np.eye(2, dtype="float32")[y]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, activation="softmax")])
    dataset = tf.data.Dataset.from_tensor_slices((x, one_hot)).batch(8)
    y_true, y_score = metrics.predict_dataset(model, dataset)
    np.testing.assert_array_equal(y_true, y)
    assert y_score.shape == (40, 2)
    np.testing.assert_allclose(y_score.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match=r"must be a tf\.data / Grain dataset"):
        metrics.predict_dataset(model, [x])
