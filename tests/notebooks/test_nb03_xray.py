"""Notebook 03 (chest X-rays) under the real grader: release, reference, blank, wrong answers.

One autograde run (grade profile, two submissions at a time) grades the whole class of this
module: the reference solution, the unanswered student version and one student per
plausible wrong answer. A wrong-answer student answers every other exercise correctly, so
losing the points of its own exercise and no others proves the exercises are isolated.
A last test runs the notebook, unchanged, on another two-class image folder.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from notebook_grading import (
    AssignmentGradingTests,
    edited_answer,
    solution_stubs,
    source_path,
)
from PIL import Image

from grading.runner.run import run_notebooks

pytestmark = pytest.mark.slow

ASSIGNMENT = "03_xray"

#: The autograded test cells of notebook 03 and their points.
EXPECTED_POINTS = {
    "test_xray_class_weights": 1.0,
    "test_xray_class_weights_values": 1.0,
    "test_xray_augmentation": 1.0,
    "test_xray_augmentation_factors": 1.0,
    "test_xray_augmentation_fill": 1.0,
    "test_xray_binary_output": 2.0,
    "test_xray_binary_loss": 1.0,
    "test_xray_train": 1.0,
    "test_xray_train_schedule": 1.0,
    "test_xray_train_reduce_lr": 1.0,
    "test_xray_train_checkpoint": 1.0,
    "test_xray_train_early_stopping": 1.0,
    "test_xray_curves": 1.0,
    "test_xray_sens_spec": 1.0,
    "test_xray_sens_spec_specificity": 1.0,
    "test_xray_threshold": 3.0,
    "test_xray_evaluate": 1.0,
    "test_xray_evaluate_confusion": 1.0,
    "test_xray_transfer_frozen": 1.0,
    "test_xray_transfer_unfrozen": 1.0,
    "test_xray_transfer_recompiled": 1.0,
}
SENS_SPEC_CELLS = ("test_xray_sens_spec", "test_xray_sens_spec_specificity")
CLASS_WEIGHT_CELLS = ("test_xray_class_weights", "test_xray_class_weights_values")

#: Calls labcore's version: no work of its own.
CLASS_WEIGHTS_VIA_LABCORE = """
def class_weights_from_counts(counts):
    return training.class_weights(counts)
"""

#: Correct, with a comment that names labcore's function and a helper of its own.
CLASS_WEIGHTS_OTHER_STYLE = """
def share_of(count, counts):
    return count / sum(counts)


def class_weights_from_counts(counts):
    # the same rule as labcore's training.class_weights
    return {c: 1.0 / (len(counts) * share_of(n, counts)) for c, n in enumerate(counts)}
"""

#: Correct: a (lower, upper) zoom factor with width_factor left at None.
ZOOM_TUPLE_FACTOR = """
def build_augmentation(seed=42):
    return keras.Sequential(
        [
            keras.layers.RandomZoom(
                height_factor=(-0.2, 0.2), width_factor=None, fill_mode="constant", seed=seed
            ),
            keras.layers.RandomRotation((-0.05, 0.05), fill_mode="constant", seed=seed + 1),
            keras.layers.RandomContrast(0.2, seed=seed + 2),
        ]
    )
"""

#: Correct, reading a DataFrame by position and an array by unpacking.
SENS_SPEC_OTHER_STYLE = """
def sensitivity_specificity(confusion):
    if isinstance(confusion, pd.DataFrame):
        confusion = confusion.to_numpy()
    matrix = np.array(confusion, dtype=float)
    sensitivity = matrix[1, 1] / matrix[1].sum()
    specificity = matrix[0, 0] / matrix[0].sum()
    return float(sensitivity), float(specificity)
"""
#: Correct: the callbacks in another order, a lambda schedule, Adam by name, metric objects.
TRAIN_OTHER_STYLE = """
def train_xray_cnn(model, train, validation, epochs, class_weight, checkpoint_path):
    model.compile(
        optimizer="adam",
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    watched = "val_loss"
    return model.fit(
        x=train,
        epochs=epochs,
        validation_data=validation,
        class_weight=class_weight,
        verbose=0,
        callbacks=[
            keras.callbacks.LearningRateScheduler(lambda e, lr: lr * (0.8 if e >= 2 else 1.0)),
            keras.callbacks.ModelCheckpoint(
                filepath=checkpoint_path, monitor=watched, save_best_only=True
            ),
            keras.callbacks.EarlyStopping(watched, patience=3, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(watched, factor=0.5, patience=2),
        ],
    )
"""

#: Correct: keyword arguments throughout.
EVALUATE_OTHER_STYLE = """
test_results = best_model.evaluate(x=xray.test, return_dict=True, verbose=0)
test_confusion_figure = plots.confusion_matrix(
    y_true=test_true, y_pred=test_pred, class_names=class_names
)
"""

#: Correct: a Sequential model, Adam's rate as a positional argument, a loss object.
TRANSFER_SEQUENTIAL = """
def compile_binary(model, learning_rate):
    model.compile(
        keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )


def frozen_transfer_model(base, input_shape):
    base.trainable = False
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            base,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    compile_binary(model, 1e-3)
    return model


def start_fine_tuning(model, base, learning_rate):
    base.trainable = True
    compile_binary(model, learning_rate)
"""

#: Builds the frozen model with labcore's helper: no work of its own (fine-tuning is right).
TRANSFER_VIA_LABCORE = """
def frozen_transfer_model(base, input_shape):
    base.trainable = False
    return transfer.with_head(base, input_shape)


def start_fine_tuning(model, base, learning_rate):
    base.trainable = True
    model.compile(
        keras.optimizers.Adam(learning_rate),
        "binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
"""

#: The written answer, graded by hand.
EXPECTED_WRITTEN = {"xray_screening_answer": 2.0}


def wrong_answers() -> dict[str, tuple]:
    """Student id -> (answer cell, a plausible wrong answer[, the test cells it loses])."""
    return {
        # count / mean count instead of mean count / count: the common class weighs most
        "class-weights-inverted": (
            *edited_answer(
                ASSIGNMENT,
                "xray_class_weights",
                "total / (len(counts) * count)",
                "len(counts) * count / total",
            ),
            ("test_xray_class_weights_values",),
        ),
        # classes numbered from 1: the right weights under the wrong keys
        "class-weights-from-one": edited_answer(
            ASSIGNMENT, "xray_class_weights", "enumerate(counts)", "enumerate(counts, start=1)"
        ),
        "class-weights-via-labcore": (
            "xray_class_weights",
            CLASS_WEIGHTS_VIA_LABCORE,
            CLASS_WEIGHT_CELLS,
        ),
        # "more data" by flipping X-rays upside down
        "vertical-flip": edited_answer(
            ASSIGNMENT,
            "xray_augmentation",
            "keras.layers.RandomZoom(0.1,",
            'keras.layers.RandomFlip("vertical", seed=seed),\n'
            "            keras.layers.RandomZoom(0.1,",
        ),
        "zoom-too-strong": (
            *edited_answer(ASSIGNMENT, "xray_augmentation", "RandomZoom(0.1,", "RandomZoom(0.5,"),
            ("test_xray_augmentation_factors",),
        ),
        # Keras' default fill mirrors the edge into the corners
        "zoom-reflect-fill": (
            *edited_answer(
                ASSIGNMENT,
                "xray_augmentation",
                'RandomZoom(0.1, fill_mode="constant", seed=seed)',
                "RandomZoom(0.1, seed=seed)",
            ),
            ("test_xray_augmentation_fill",),
        ),
        "loss-categorical": (
            *edited_answer(
                ASSIGNMENT,
                "xray_binary_output",
                "keras.losses.BinaryCrossentropy()",
                "keras.losses.CategoricalCrossentropy()",
            ),
            ("test_xray_binary_loss",),
        ),
        # softmax over a single unit: always 1.0
        "softmax-on-binary-output": edited_answer(
            ASSIGNMENT, "xray_binary_output", 'activation="sigmoid"', 'activation="softmax"'
        ),
        # rows and columns mixed up: precision instead of sensitivity
        "confusion-transposed": (
            *edited_answer(
                ASSIGNMENT,
                "xray_sens_spec",
                "(tn, fp), (fn, tp) = np.asarray(confusion)",
                "(tn, fn), (fp, tp) = np.asarray(confusion)",
            ),
            SENS_SPEC_CELLS,
        ),
        "sensitivity-is-precision": edited_answer(
            ASSIGNMENT, "xray_sens_spec", "float(tp / (tp + fn))", "float(tp / (tp + fp))"
        ),
        "specificity-is-false-positive-rate": (
            *edited_answer(
                ASSIGNMENT, "xray_sens_spec", "float(tn / (tn + fp))", "float(fp / (tn + fp))"
            ),
            ("test_xray_sens_spec_specificity",),
        ),
        # the ROC AUC metric forgotten: no val_auc in the history
        "train-without-auc": (
            *edited_answer(
                ASSIGNMENT,
                "xray_train",
                'metrics=["accuracy", auc]',
                'metrics=["accuracy"]',
            ),
            ("test_xray_train",),
        ),
        # the schedule decays from the first epoch on
        "schedule-from-first-epoch": (
            *edited_answer(
                ASSIGNMENT,
                "xray_train",
                "learning_rate if epoch < 2 else learning_rate * 0.8",
                "learning_rate * 0.8",
            ),
            ("test_xray_train_schedule",),
        ),
        "no-reduce-lr-on-plateau": (
            *edited_answer(
                ASSIGNMENT,
                "xray_train",
                'keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),',
                "",
            ),
            ("test_xray_train_reduce_lr",),
        ),
        # a checkpoint after every epoch: the file holds the last model, not the best
        "checkpoint-every-epoch": (
            *edited_answer(ASSIGNMENT, "xray_train", "save_best_only=True", "save_best_only=False"),
            ("test_xray_train_checkpoint",),
        ),
        # early stopping without restore_best_weights keeps the last epoch's weights
        "early-stopping-keeps-last-weights": (
            *edited_answer(
                ASSIGNMENT, "xray_train", "patience=3, restore_best_weights=True", "patience=3"
            ),
            ("test_xray_train_early_stopping",),
        ),
        "curves-without-loss": edited_answer(
            ASSIGNMENT,
            "xray_curves",
            'metric_names=("loss", "accuracy", "auc")',
            'metric_names=("accuracy", "auc")',
        ),
        "evaluate-on-validation": (
            *edited_answer(
                ASSIGNMENT, "xray_evaluate", "evaluate(xray.test,", "evaluate(xray.validation,"
            ),
            ("test_xray_evaluate",),
        ),
        # predictions where the true labels belong: the matrix is transposed
        "confusion-swapped": (
            *edited_answer(
                ASSIGNMENT,
                "xray_evaluate",
                "test_true, test_pred, class_names",
                "test_pred, test_true, class_names",
            ),
            ("test_xray_evaluate_confusion",),
        ),
        "transfer-base-not-frozen": (
            *edited_answer(
                ASSIGNMENT,
                "xray_transfer",
                "    base.trainable = False  # phase 1: only the new head learns\n",
                "",
            ),
            ("test_xray_transfer_frozen",),
        ),
        "transfer-via-labcore": (
            "xray_transfer",
            TRANSFER_VIA_LABCORE,
            ("test_xray_transfer_frozen",),
        ),
        "fine-tuning-base-still-frozen": (
            *edited_answer(
                ASSIGNMENT,
                "xray_transfer",
                "    base.trainable = True  # phase 2: the base learns again\n",
                "",
            ),
            ("test_xray_transfer_unfrozen",),
        ),
        # compiled again, but with the head's learning rate
        "fine-tuning-same-rate": (
            *edited_answer(
                ASSIGNMENT,
                "xray_transfer",
                "keras.optimizers.Adam(learning_rate)",
                "keras.optimizers.Adam(1e-3)",
            ),
            ("test_xray_transfer_recompiled",),
        ),
        # the threshold tuned where it looks best: on the test split
        "threshold-on-test": edited_answer(
            ASSIGNMENT, "xray_threshold", 'scores_by_split["validation"]', 'scores_by_split["test"]'
        ),
    }


def right_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (answer cell, a correct answer written differently)."""
    return {
        "class-weights-other-style": ("xray_class_weights", CLASS_WEIGHTS_OTHER_STYLE),
        "zoom-tuple-factor": ("xray_augmentation", ZOOM_TUPLE_FACTOR),
        "sens-spec-other-style": ("xray_sens_spec", SENS_SPEC_OTHER_STYLE),
        "train-other-style": ("xray_train", TRAIN_OTHER_STYLE),
        "evaluate-other-style": ("xray_evaluate", EVALUATE_OTHER_STYLE),
        "transfer-sequential": ("xray_transfer", TRANSFER_SEQUENTIAL),
    }


class TestGrading(AssignmentGradingTests):
    assignment = ASSIGNMENT
    expected_points = EXPECTED_POINTS
    expected_written = EXPECTED_WRITTEN
    wrong_answers = staticmethod(wrong_answers)
    right_answers = staticmethod(right_answers)

    def check_released_stubs(self, released):
        stubs = "\n".join(solution_stubs(released).values())
        # binary_output and transfer hold two functions each
        assert stubs.count("raise NotImplementedError()") == 11
        for signature in (
            "def class_weights_from_counts(counts):",
            "def build_augmentation(seed=42):",
            "def binary_output_layer():",
            "def binary_loss():",
            "def sensitivity_specificity(confusion):",
            "def threshold_for_screening(scores_by_split, min_sensitivity=0.95):",
            "def train_xray_cnn(model, train, validation, epochs, class_weight, checkpoint_path):",
            "def frozen_transfer_model(base, input_shape):",
            "def start_fine_tuning(model, base, learning_rate):",
        ):
            assert signature in stubs
        (answer,) = (c for c in released.cells if "xray_screening_answer" in str(c.metadata))
        assert "false negative" not in answer.source.lower()


def _write_image_folder(root, class_names, sizes, seed=0):
    """A train/val/test folder of small RGB PNGs of different sizes; class 1 is brighter."""
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", 24), ("val", 8), ("test", 8)):
        for label, name in enumerate(class_names):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                height, width = sizes[index % len(sizes)]
                pixels = rng.integers(0, 120, size=(height, width, 3)) + 100 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{index}.png")


def test_notebook_runs_unchanged_on_another_two_class_folder(tmp_path):
    folder = tmp_path / "cats_and_dogs"
    _write_image_folder(folder, ["cat", "dog"], sizes=[(40, 52), (61, 47), (36, 36)])
    summary = run_notebooks(
        [source_path(ASSIGNMENT)],
        profile="smoke",
        parameters={"DATA_DIR": str(folder), "IMAGE_SIZE": 32, "TRAIN_SIZE": 400},
        timeout=300,
        output_dir=tmp_path / "executed",
        env={"CNNLAB_BUILD_DIR": str(tmp_path / "build")},
        progress=False,
    )
    (result,) = summary.results
    assert result.status == "ok", f"{result.message}\n{result.error}"
    for name in ("xray_test_sensitivity", "xray_test_specificity", "xray_test_auc"):
        assert 0.0 <= result.metrics[name] <= 1.0
    executed = nbformat.read(result.executed, as_version=4)
    outputs = "\n".join(
        output.get("text", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "classes (label 0, label 1): ['cat', 'dog']" in outputs
    assert "image size: (32, 32)" in outputs
    assert (tmp_path / "build" / "checkpoints" / "xray_cnn.keras").is_file()
    assert not (source_path(ASSIGNMENT).parent / "build").exists()


#: How far the worst seed's validation ROC AUC must stay above the grade profile's bar.
PNEUMONIA_AUC_MARGIN = 0.05
#: The locked cells of part 2 that load, prepare, build and train the PneumoniaMNIST model.
PNEUMONIA_CELLS = ("pm_load", "pm_prepare_arrays", "pm_model", "pm_train")


def test_pneumonia_model_clears_the_grade_bar_with_margin_over_three_seeds(monkeypatch, tmp_path):
    """Part 2's model, trained as the graded run trains it, three seeds.

    Notebook 03's one performance bar is the grade profile's ``pneumonia_min_auc``: the
    locked cell ``pm_validation`` asserts it, and every later test cell (transfer learning)
    needs that cell to pass. No answer cell feeds it, so the test runs the notebook's own
    set-up, loading, model and training cells for each seed. The spread is printed
    (``pytest -s`` shows it); the worst seed must clear the bar by ``PNEUMONIA_AUC_MARGIN``.
    """
    from notebook_grading import solution_code, source_notebook

    from labcore import metrics
    from labcore.profile import get_profile

    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(tmp_path / "build"))  # the checkpoints
    notebook = source_notebook(ASSIGNMENT)
    grade_ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    # parameters, imports and set-up: the code cells before part 1 loads its images
    preamble = [
        cell.source
        for cell in notebook.cells[: grade_ids.index("xray_load")]
        if cell.cell_type == "code"
    ]
    part2 = [solution_code(notebook, grade_id) for grade_id in PNEUMONIA_CELLS]
    grade = get_profile("grade")
    aucs = []
    for seed in (42, 1, 2):
        namespace = {}
        for source in preamble:
            exec(source, namespace)
            if "PROFILE" in namespace:  # the parameters cell, then papermill's values
                namespace.update(PROFILE="grade", SEED=seed)
        for source in part2:
            exec(source, namespace)
        assert namespace["profile"] == grade
        # as the pm_validation cell measures it
        val_true, val_score = metrics.predict_dataset(
            namespace["pm_model"], (namespace["x_val_pixels"], namespace["y_val"])
        )
        aucs.append(float(metrics.roc_auc(val_true, val_score)))
    print(
        f"PneumoniaMNIST model, grade profile, seeds 42/1/2: validation ROC AUC "
        f"{[f'{auc:.3f}' for auc in aucs]}, bar {grade.pneumonia_min_auc:.2f}, "
        f"margin {PNEUMONIA_AUC_MARGIN:.2f}"
    )
    assert min(aucs) >= grade.pneumonia_min_auc + PNEUMONIA_AUC_MARGIN
