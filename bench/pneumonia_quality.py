"""PneumoniaMNIST test accuracy and ROC AUC within two minutes of CPU training.

What is measured
----------------
Every seed runs in a fresh Python process (this script started again with ``--worker``):

1. PneumoniaMNIST from :func:`labcore.data.load_pneumoniamnist` (train 4,708 / validation
   524 / test 624 images of 28×28 pixels; the course mirror holds an unofficial
   reconstruction with the official split sizes, and the script prints which file it used).
2. :func:`labcore.models.pneumonia_cnn` (a small batch-norm CNN) with
   :func:`labcore.models.xray_augmentation` (random zoom, small rotations, contrast; no
   flips), trained with :data:`labcore.models.PNEUMONIA_CNN_RECIPE` (Adam with a one-cycle
   learning rate, 20 epochs, batch 64), an exponential moving average of the weights
   (``--ema``), and balanced class weights (:func:`labcore.training.class_weights`)
   through :func:`labcore.training.fit`, with the validation split as validation data.
   *Training seconds* is the wall time of that ``fit`` (its per-epoch validation included).
3. The decision threshold is chosen on the **validation split only**
   (:func:`labcore.metrics.choose_threshold`, Youden's J); the test split is predicted once,
   at the end, and scored at that threshold: accuracy, ROC AUC, sensitivity, specificity
   (:func:`labcore.metrics.binary_report`).

Usage
-----
``python bench/pneumonia_quality.py`` (seeds 0, 1, 2); ``--seeds 0 1 2 3 4``;
``--wait-quiet 3600`` waits up to an hour for an idle machine first. Offline, set
``LABCORE_DATA_MIRROR``. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from benchlib import (
    machine_info,
    run_fresh,
    script_command,
    script_main,
    seconds_since_process_start,
    spread,
    wait_until_quiet,
)

#: The targets: test accuracy and ROC AUC, within this much training time.
TARGETS = {"accuracy": 0.90, "roc_auc": 0.97, "train_s": 120.0}
#: Published PneumoniaMNIST test results (accuracy, ROC AUC) to compare with.
ANCHORS = {
    "ResNet-18 (28 px), MedMNIST v2": (0.854, 0.944),
    "ResNet-50 (224 px), MedMNIST v2": (0.884, 0.962),
    "AutoKeras, MedMNIST v2": (0.878, 0.947),
    "best at 28 px, MedMNIST+": (0.851, 0.970),
}


def worker(seed: int, epochs: int | None, ema: float) -> dict:
    """Train and evaluate one model in this process.

    Parameters
    ----------
    seed : int
        Seed of the weights, the augmentation and the shuffling.
    epochs : int or None
        Epochs (None: the recipe's).
    ema : float
        Momentum of the exponential moving average of the weights (0: none).

    Returns
    -------
    dict
        ``seed``, ``epochs``, ``train_s``, ``total_s`` (process start to the test
        scores), ``threshold`` (chosen on validation), ``validation_roc_auc``,
        ``test`` (:func:`labcore.metrics.binary_report` at that threshold), the data
        ``source`` and the device.
    """
    from labcore import runtime

    keras = runtime.quiet_import_keras()
    from labcore import data, metrics, models, training

    splits = data.load_pneumoniamnist()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        (images[..., None].astype("float32"), labels) for images, labels in splits
    )
    recipe = models.PNEUMONIA_CNN_RECIPE
    epochs = epochs or recipe.epochs
    runtime.set_seed(seed)
    model = models.pneumonia_cnn(augmentation=models.xray_augmentation(seed=seed))
    schedule = recipe.learning_rate_schedule(recipe.steps_per_epoch(len(x_train)), epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=schedule, use_ema=ema > 0, ema_momentum=ema or 0.99
        ),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    start = time.perf_counter()
    training.fit(
        model,
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=recipe.batch_size,
        class_weight=training.class_weights(y_train),
        early_stopping_patience=None,  # the schedule decides the length; EMA the weights
        monitor="val_auc",
        seed=seed,
        verbose=2,
    )
    train_s = time.perf_counter() - start
    val_true, val_score = metrics.predict_dataset(model, (x_val, y_val))
    threshold = metrics.choose_threshold(val_true, val_score)
    test_true, test_score = metrics.predict_dataset(model, (x_test, y_test))
    test = metrics.binary_report(test_true, test_score, threshold)
    total_s = seconds_since_process_start()
    print(
        f"seed {seed}: training {train_s:.1f} s; threshold {threshold:.3f} (validation); test "
        f"accuracy {test['accuracy']:.3f}, ROC AUC {test['roc_auc']:.3f}, sensitivity "
        f"{test['sensitivity']:.3f}, specificity {test['specificity']:.3f}",
        flush=True,
    )
    return {
        "seed": seed,
        "epochs": epochs,
        "ema": ema,
        "parameters": model.count_params(),
        "train_s": round(train_s, 2),
        "total_s": round(total_s, 2),
        "threshold": round(threshold, 5),
        "validation_roc_auc": round(metrics.roc_auc(val_true, val_score), 5),
        "test": {k: round(v, 5) if isinstance(v, float) else v for k, v in test.items()},
        "source": splits.source,
        **runtime.device_info(),
    }


def benchmark(args) -> dict:
    """Run one fresh process per seed and summarise (the parent's work).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    dict
        The figures printed as the last line.
    """
    load = wait_until_quiet(max_wait_s=args.wait_quiet)
    runs = []
    for seed in args.seeds:
        command = script_command(
            "pneumonia_quality.py", "--worker", "--seed", str(seed), "--ema", str(args.ema)
        )
        if args.epochs:
            command += ["--epochs", str(args.epochs)]
        print(f"seed {seed}", flush=True)
        runs.append(run_fresh(command))
    after = wait_until_quiet(max_wait_s=0)
    test = {
        name: spread([r["test"][name] for r in runs], 4)
        for name in ("accuracy", "roc_auc", "sensitivity", "specificity")
    }
    train_s = spread([r["train_s"] for r in runs], 1)
    return {
        "benchmark": "pneumonia_quality",
        "source": runs[0]["source"],
        "model": "pneumonia_cnn",
        "parameters": runs[0]["parameters"],
        "epochs": runs[0]["epochs"],
        "ema": args.ema,
        "device_name": runs[0]["device_name"],
        "backend": runs[0]["backend"],
        "machine": machine_info(),
        "load_before": load,
        "load_after": {k: after[k] for k in ("load_1m", "load_5m", "quiet")},
        "targets": TARGETS,
        "anchors": {name: {"accuracy": a, "roc_auc": b} for name, (a, b) in ANCHORS.items()},
        "test": test,
        "threshold": spread([r["threshold"] for r in runs], 4),
        "validation_roc_auc": spread([r["validation_roc_auc"] for r in runs], 4),
        "train_s": train_s,
        "total_s": spread([r["total_s"] for r in runs], 1),
        "met": {
            "accuracy": test["accuracy"]["median"] >= TARGETS["accuracy"],
            "roc_auc": test["roc_auc"]["median"] >= TARGETS["roc_auc"],
            "train_s": train_s["median"] <= TARGETS["train_s"],
        },
        "runs": runs,
    }


def _print_summary(figures: dict) -> None:
    print(f"\nPneumoniaMNIST ({figures['source']})")
    print(f"pneumonia_cnn, {figures['parameters']:,} parameters, {figures['epochs']} epochs")
    for name, summary in figures["test"].items():
        target = TARGETS.get(name)
        print(f"  test {name:<12} {summary}" + (f"  target ≥ {target}" if target else ""))
    print(f"  training s      {figures['train_s']}  target ≤ {TARGETS['train_s']:.0f}")
    print(f"  total s         {figures['total_s']}")
    for name, (accuracy, auc) in ANCHORS.items():
        print(f"  anchor {name}: accuracy {accuracy}, ROC AUC {auc}")


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark (and of its workers).

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run each")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's (20)")
    parser.add_argument(
        "--ema", type=float, default=0.99, help="weight EMA momentum (0: plain weights)"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait up to S seconds for an idle machine"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def _worker(args) -> dict | None:
    return worker(args.seed, args.epochs, args.ema) if args.worker else None


def _measure(args) -> dict:
    if not 0 <= args.ema < 1:
        raise SystemExit(f"--ema must be in [0, 1), got {args.ema}")
    return benchmark(args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one seed) and print the JSON line."""
    return script_main(build_parser(), _measure, _print_summary, argv, worker=_worker)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
