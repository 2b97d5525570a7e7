"""bench/: the shared helpers, and each benchmark's code path on a tiny run (no timings checked).

The benchmarks themselves take minutes and measure time; here they run with tiny settings
in fresh processes, as a user would start them, to prove that they work offline and end
with their JSON line. No assertion is about how fast anything is.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def benchlib():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("benchlib")
    finally:
        sys.path.remove(str(BENCH))


def run_script(*args: str, timeout: float = 600) -> tuple[dict, str]:
    """Run a benchmark script as a user would; return its last-line JSON and its output."""
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    last = completed.stdout.strip().splitlines()[-1]
    return json.loads(last), completed.stdout


# --------------------------------------------------------------------------- benchlib


def test_spread_summarises_runs_and_counts_missing(benchlib):
    assert benchlib.spread([3.0, 1.0, None, 2.0]) == {
        "min": 1.0,
        "median": 2.0,
        "max": 3.0,
        "runs": 4,
        "missing": 1,
    }
    assert benchlib.spread([0.12345, 0.5], digits=2)["min"] == 0.12
    assert benchlib.spread([None, float("nan")]) == {
        "min": None,
        "median": None,
        "max": None,
        "runs": 2,
        "missing": 2,
    }


def test_emit_prints_one_json_line_that_last_json_line_reads(benchlib, capsys):
    import numpy as np

    benchlib.emit({"a": np.float32(0.5), "b": float("nan"), "c": [1, np.int64(2)]})
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1
    assert benchlib.last_json_line("progress\n" + printed) == {"a": 0.5, "b": None, "c": [1, 2]}


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "printed nothing"), ("done\n", "not JSON"), ("[1, 2]\n", "not an object")],
)
def test_last_json_line_rejects_output_without_a_result(benchlib, text, message):
    with pytest.raises(benchlib.BenchmarkError, match=message):
        benchlib.last_json_line(text)


def test_run_fresh_returns_the_childs_json_and_fails_loudly(benchlib, capsys):
    code = "import json, os; print('working'); print(json.dumps({'x': os.environ['BENCH_X']}))"
    result = benchlib.run_fresh([sys.executable, "-c", code], env={"BENCH_X": "7"}, prefix="> ")
    assert result["x"] == "7" and result["process_wall_s"] > 0
    assert "> working" in capsys.readouterr().out
    with pytest.raises(benchlib.BenchmarkError, match="status 3"):
        benchlib.run_fresh([sys.executable, "-c", "raise SystemExit(3)"])


def test_seconds_since_process_start_counts_from_the_process_start(benchlib):
    code = (
        "import time; time.sleep(0.5); import sys; sys.path.insert(0, 'bench'); "
        "import benchlib; print(benchlib.seconds_since_process_start())"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert float(completed.stdout) >= 0.5  # the sleep before the import is counted


def test_machine_info_and_load(benchlib):
    info = benchlib.machine_info()
    assert info["cores"] == os.cpu_count() and info["ram_gb"] > 0
    assert info["versions"]["keras"].startswith("3.")
    snapshot = benchlib.wait_until_quiet(max_load=1e9, max_wait_s=0, busy_words=("no-such",))
    assert snapshot["quiet"] is True and snapshot["busy"] == [] and snapshot["waited_s"] >= 0
    assert set(snapshot) >= {"load_1m", "load_5m", "load_15m"}
    busy = benchlib.wait_until_quiet(max_load=-1.0, max_wait_s=0)
    assert busy["quiet"] is False


def test_script_command_points_at_a_benchmark(benchlib):
    command = benchlib.script_command("mnist_speed.py", "--runs", "1")
    assert command[0] == sys.executable
    assert Path(command[1]) == BENCH / "mnist_speed.py" and command[2:] == ["--runs", "1"]


# --------------------------------------------------------------------------- the scripts


@pytest.mark.slow
def test_mnist_speed_runs_fresh_workers_and_summarises(mirror):
    figures, output = run_script(
        "bench/mnist_speed.py",
        "--runs", "1", "--fast-epochs", "1", "--long-epochs", "0", "--skip-seed",
        "--train-size", "2000",
    )  # fmt: skip
    assert figures["benchmark"] == "mnist_speed" and figures["backend"] == "tensorflow"
    fast = figures["fast"]
    (run,) = fast["runs"]
    assert run["model"] == "fast_cnn" and run["epochs"] == 1 and run["train_images"] == 2000
    (checkpoint,) = run["checkpoints"]
    assert 0.3 < checkpoint["test_accuracy"] <= 1.0  # on all 10,000 test images; chance 0.1
    assert 0 < run["startup_s"] < checkpoint["wall_s"]
    assert checkpoint["wall_s"] > checkpoint["train_s"] > 0  # from process start > training
    # 2,000 images for one epoch cannot reach 99 %: "not reached" is None, not a time
    assert run["wall_s_to"]["0.990"] is None and fast["wall_s_to_0.990"]["missing"] == 1
    assert figures["fast_long"] is None and "seed" not in figures
    assert "epoch 1/1: test accuracy" in output


@pytest.mark.slow
def test_mnist_speed_seed_worker_trains_as_published(mirror):
    figures, output = run_script(
        "bench/mnist_speed.py", "--worker", "seed", "--epochs", "1", "--train-size", "2000"
    )
    assert figures["model"] == "seed_cnn" and figures["parameters"] == 27_562
    assert figures["epochs_run"] == 1 and figures["train_images"] == 1600  # 20 % validation
    assert 0.3 < figures["test_accuracy"] <= 1.0
    assert figures["wall_s"] > figures["train_s"]
    assert "val_accuracy" in output  # training.fit's line per epoch


@pytest.mark.slow
def test_pneumonia_quality_worker_chooses_the_threshold_on_validation(mirror):
    figures, output = run_script(
        "bench/pneumonia_quality.py", "--worker", "--seed", "1", "--epochs", "1"
    )
    assert figures["parameters"] == 35_409 and figures["epochs"] == 1
    assert "UNOFFICIAL" in figures["source"] or "official" in figures["source"]
    test = figures["test"]
    assert test["n"] == 624 and test["tp"] + test["fn"] == 390  # the whole test split
    assert test["threshold"] == figures["threshold"]
    assert 0.5 < figures["validation_roc_auc"] <= 1.0
    assert figures["total_s"] > figures["train_s"] > 0
    assert "threshold" in output and "(validation)" in output


@pytest.mark.slow
def test_course_run_pipeline_worker_reads_the_xray_sample(mirror):
    figures, _ = run_script("bench/course_run.py", "--pipeline-worker", "smoke")
    assert figures["image_size"] == 64 and figures["batch_size"] == 16
    assert figures["images"] > 0 and figures["format"] in ("tf", "grain")
    assert figures["first_epoch_images_per_s"] > 0 and figures["cached_epoch_images_per_s"] > 0
