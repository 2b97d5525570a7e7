"""Time to 99 % MNIST test accuracy with ``labcore.models.fast_cnn``, from process start.

What is measured
----------------
Every run is a fresh Python process (this script started again with ``--worker``), and its
clock starts when the operating system created the process: the interpreter's start, the
imports of Keras and its backend, loading and scaling MNIST, building and compiling the
model, training, and every evaluation count.

``fast``
    :func:`labcore.models.fast_cnn` trained on all 60,000 training images with
    :data:`labcore.models.FAST_CNN_RECIPE` (Adam, one-cycle learning rate, batch 128) for
    ``--epochs`` epochs. At the end of every epoch the model is evaluated on the full
    10,000 test images (Keras' validation pass, timed with the rest); the run records the
    first checkpoint at or above each target accuracy (99.0 % and 99.4 %) and stops once the
    highest target is reached. The one-cycle schedule is laid out for the whole run, so a
    run of 2 epochs (the recipe) is the fast way to 99.0 % and a longer run the way to
    99.4 %: both are measured.
``seed``
    The course's seed model (:func:`labcore.models.seed_cnn`) trained as notebook 02
    publishes it: Adam, batch 128, 10 epochs on 80 % of the training images (20 % held out
    for validation, early stopping with patience 3), then evaluated on the 10,000 test
    images. Its wall time divided by the fast model's time to 99 % is the speed-up.

Checking test accuracy at checkpoints and stopping at a target is how time-to-accuracy
benchmarks are defined (DAWNBench; tuomaso/train_mnist_fast): the test set picks *when to
stop*, never a hyperparameter.

Usage
-----
``python bench/mnist_speed.py`` (3 runs of each, TensorFlow on the CPU);
``--runs 5``; ``--backend jax`` (runs every worker with ``KERAS_BACKEND=jax``, on a GPU if
JAX sees one); ``--wait-quiet 3600`` waits up to an hour for an idle machine first. Data come
from :mod:`labcore.data` (set ``LABCORE_DATA_MIRROR`` offline). The last line printed is one
JSON object with the figures.
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

#: Test accuracies whose first crossing each fast run records.
TARGETS = (0.990, 0.994)
BACKENDS = ("tensorflow", "jax")


# --------------------------------------------------------------------------- workers


def _load_mnist(train_size: int | None, seed: int):
    from labcore import data

    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_train, y_train = data.stratified_subset(x_train, y_train, train_size, seed=seed)
    return data.prepare_images(x_train), y_train, data.prepare_images(x_test), y_test


def _device() -> dict:
    from labcore import runtime

    return runtime.device_info()


def fast_worker(epochs: int, seed: int, train_size: int | None) -> dict:
    """Train the fast CNN in this process; record when each target test accuracy is reached.

    Parameters
    ----------
    epochs : int or None
        Length of the run (the one-cycle schedule is laid out for it); None: the recipe's.
    seed : int
        Seed of the weights and the shuffling.
    train_size : int or None
        Training images (None: all 60,000); smaller only to check the script quickly.

    Returns
    -------
    dict
        ``checkpoints`` (per epoch: ``epoch``, ``wall_s`` since process start, ``train_s``
        since training started, ``test_accuracy``), ``wall_s_to`` and ``train_s_to``
        (per target, the first checkpoint's times, or None), ``startup_s`` (process
        start to the first training step), ``final_test_accuracy``, ``parameters`` and
        the device.
    """
    from labcore import runtime

    keras = runtime.quiet_import_keras()  # before labcore.models, which imports Keras
    from labcore import models

    x_train, y_train, x_test, y_test = _load_mnist(train_size, seed)
    recipe = models.FAST_CNN_RECIPE
    epochs = epochs or recipe.epochs
    runtime.set_seed(seed)
    model = models.compile_fast_cnn(models.fast_cnn(), recipe.steps_per_epoch(len(x_train)), epochs)
    checkpoints: list[dict] = []
    clock: dict[str, float] = {}

    class Checkpoints(keras.callbacks.Callback):
        """After each epoch's test evaluation: record the time and stop at the last target."""

        def on_train_begin(self, logs=None):
            clock["train_start"] = time.perf_counter()
            clock["startup_s"] = seconds_since_process_start()

        def on_epoch_end(self, epoch, logs=None):
            accuracy = float(logs["val_accuracy"])
            point = {
                "epoch": epoch + 1,
                "wall_s": round(seconds_since_process_start(), 3),
                "train_s": round(time.perf_counter() - clock["train_start"], 3),
                "test_accuracy": round(accuracy, 5),
            }
            checkpoints.append(point)
            print(
                f"epoch {point['epoch']}/{epochs}: test accuracy {accuracy:.2%} at "
                f"{point['wall_s']:.1f} s from process start ({point['train_s']:.1f} s training)",
                flush=True,
            )
            if accuracy >= max(TARGETS):
                self.model.stop_training = True

    model.fit(
        x_train,
        y_train,
        batch_size=recipe.batch_size,
        epochs=epochs,
        validation_data=(x_test, y_test),  # the checkpoint: all 10,000 test images
        callbacks=[Checkpoints()],
        verbose=0,
    )

    def first(key: str, target: float):
        reached = [p[key] for p in checkpoints if p["test_accuracy"] >= target]
        return reached[0] if reached else None

    return {
        "model": "fast_cnn",
        "epochs": epochs,
        "seed": seed,
        "train_images": len(x_train),
        "parameters": model.count_params(),
        "startup_s": round(clock["startup_s"], 3),
        "checkpoints": checkpoints,
        "wall_s_to": {f"{t:.3f}": first("wall_s", t) for t in TARGETS},
        "train_s_to": {f"{t:.3f}": first("train_s", t) for t in TARGETS},
        "final_test_accuracy": checkpoints[-1]["test_accuracy"],
        **_device(),
    }


def seed_worker(epochs: int, seed: int, train_size: int | None) -> dict:
    """Train the course's seed CNN as notebook 02 does, then evaluate it on the test set.

    Parameters
    ----------
    epochs : int
        Epochs (published: 10).
    seed : int
        Seed of the weights, the split and the shuffling (notebook 02 uses 42).
    train_size : int or None
        Training images before the 20 % validation split (None: all 60,000).

    Returns
    -------
    dict
        ``wall_s`` (process start to the end of the test evaluation), ``train_s``,
        ``epochs_run``, ``test_accuracy``, ``parameters`` and the device.
    """
    from labcore import runtime

    runtime.quiet_import_keras()  # before labcore.models, which imports Keras
    from labcore import models, training

    x_train, y_train, x_test, y_test = _load_mnist(train_size, seed)
    runtime.set_seed(seed)
    model = models.seed_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_start = time.perf_counter()
    history = training.fit(
        model,
        x_train,
        y_train,
        validation_split=0.2,
        epochs=epochs,
        batch_size=128,
        seed=seed,
        verbose=2,
    )
    train_s = time.perf_counter() - train_start
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    wall_s = seconds_since_process_start()
    print(f"seed CNN: test accuracy {test_accuracy:.2%} at {wall_s:.1f} s from process start")
    return {
        "model": "seed_cnn",
        "epochs": epochs,
        "epochs_run": len(history),
        "seed": seed,
        "train_images": round(len(x_train) * 0.8),
        "parameters": model.count_params(),
        "wall_s": round(wall_s, 3),
        "train_s": round(train_s, 3),
        "test_accuracy": round(float(test_accuracy), 5),
        **_device(),
    }


# --------------------------------------------------------------------------- parent


def _worker_runs(kind: str, args, epochs: int, repetition: int) -> dict:
    command = script_command(
        "mnist_speed.py", "--worker", kind, "--seed", str(args.seed + repetition)
    )
    if epochs:
        command += ["--epochs", str(epochs)]
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    length = f"{epochs} epochs" if epochs else "the recipe's epochs"
    print(f"run {repetition + 1}/{args.runs}: {kind} CNN, {length} ({args.backend})", flush=True)
    return run_fresh(command, env={"KERAS_BACKEND": args.backend})


def _summarise_fast(runs: list[dict]) -> dict:
    summary = {"epochs": runs[0]["epochs"], "runs": runs}
    for target in TARGETS:
        key = f"{target:.3f}"
        summary[f"wall_s_to_{key}"] = spread([r["wall_s_to"][key] for r in runs])
        summary[f"train_s_to_{key}"] = spread([r["train_s_to"][key] for r in runs])
    summary["final_test_accuracy"] = spread([r["final_test_accuracy"] for r in runs], 5)
    summary["startup_s"] = spread([r["startup_s"] for r in runs])
    return summary


def benchmark(args) -> dict:
    """Run every measurement in fresh processes and summarise them (the parent's work).

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
    fast_runs, long_runs, seed_runs = [], [], []
    for repetition in range(args.runs):  # interleaved, so slow spells hit every kind alike
        fast_runs.append(_worker_runs("fast", args, args.fast_epochs, repetition))
        if args.long_epochs:
            long_runs.append(_worker_runs("fast", args, args.long_epochs, repetition))
        if not args.skip_seed:
            seed_runs.append(_worker_runs("seed", args, args.seed_epochs, repetition))
    load_after = wait_until_quiet(max_wait_s=0)
    fast = _summarise_fast(fast_runs)
    figures = {
        "benchmark": "mnist_speed",
        "backend": args.backend,
        "device": fast_runs[0]["device"],
        "device_name": fast_runs[0]["device_name"],
        "machine": machine_info(),
        "load_before": load,
        "load_after": {k: load_after[k] for k in ("load_1m", "load_5m", "quiet")},
        "target_wall_s_to_0.990": 45.0,
        "fast": fast,
        "fast_long": _summarise_fast(long_runs) if long_runs else None,
    }
    if seed_runs:
        seed_wall = spread([r["wall_s"] for r in seed_runs])
        figures["seed"] = {
            "epochs": args.seed_epochs,
            "wall_s": seed_wall,
            "train_s": spread([r["train_s"] for r in seed_runs]),
            "test_accuracy": spread([r["test_accuracy"] for r in seed_runs], 5),
            "runs": seed_runs,
        }
        fast_median = fast["wall_s_to_0.990"]["median"]
        figures["speedup_seed_wall_over_fast_to_0.990"] = (
            round(seed_wall["median"] / fast_median, 2) if fast_median else None
        )
    return figures


def _print_summary(figures: dict) -> None:
    def line(label, value):
        print(f"{label:<44} {value}")

    print("\nMNIST speed (" + figures["backend"] + ", " + figures["device_name"] + ")")
    for name in ("fast", "fast_long"):
        block = figures.get(name)
        if not block:
            continue
        for target in TARGETS:
            key = f"{target:.3f}"
            wall, train = block[f"wall_s_to_{key}"], block[f"train_s_to_{key}"]
            reached = f"{wall['runs'] - wall['missing']}/{wall['runs']} runs"
            line(
                f"fast_cnn ({block['epochs']} ep) to {target:.1%}: wall s",
                f"min {wall['min']} / median {wall['median']} / max {wall['max']} "
                f"(training {train['median']} s; reached in {reached})",
            )
        accuracy = block["final_test_accuracy"]
        line(f"fast_cnn ({block['epochs']} ep) final test accuracy", accuracy)
    if "seed" in figures:
        seed = figures["seed"]
        line("seed CNN (as published): wall s", seed["wall_s"])
        line("seed CNN test accuracy", seed["test_accuracy"])
        line(
            "speed-up (seed wall / fast to 99.0 %)", figures["speedup_seed_wall_over_fast_to_0.990"]
        )


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark (and of its workers).

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per kind (3)")
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow")
    parser.add_argument(
        "--fast-epochs", type=int, default=None, help="default: FAST_CNN_RECIPE.epochs"
    )
    parser.add_argument(
        "--long-epochs", type=int, default=8, help="a longer fast run for 99.4 %% (0: none)"
    )
    parser.add_argument("--seed-epochs", type=int, default=10, help="published: 10")
    parser.add_argument("--skip-seed", action="store_true", help="no seed-model runs")
    parser.add_argument("--seed", type=int, default=42, help="run i uses seed + i")
    parser.add_argument(
        "--train-size", type=int, default=None, help="fewer training images (quick checks)"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait up to S seconds for an idle machine"
    )
    parser.add_argument("--worker", choices=("fast", "seed"), help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def _worker(args) -> dict | None:
    if args.worker == "fast":
        return fast_worker(args.epochs, args.seed, args.train_size)
    if args.worker == "seed":
        return seed_worker(args.epochs or 10, args.seed, args.train_size)
    return None


def _measure(args) -> dict:
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    print(f"MNIST speed benchmark: {args.runs} fresh runs per kind, KERAS_BACKEND={args.backend}")
    return benchmark(args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one measurement) and print the JSON line."""
    return script_main(build_parser(), _measure, _print_summary, argv, worker=_worker)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
