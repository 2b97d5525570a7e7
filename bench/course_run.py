"""Wall time of ``cnnlab run --profile smoke`` over every notebook; X-ray pipeline throughput.

What is measured
----------------
``course``
    The CI job: ``cnnlab run --profile smoke`` (every source notebook, each in its own
    papermill kernel, one at a time as by default) started as a fresh process; its wall
    time from start to exit, and each notebook's seconds from the run's ``summary.json``.
    The executed notebooks go to a temporary build folder (``CNNLAB_BUILD_DIR``), so the
    checkout's ``build/`` is left alone.
``pipeline``
    Notebook 03's image pipeline: :func:`labcore.data.load_image_folder` on the chest X-ray
    sample (:func:`labcore.data.xray_directory`) at the image size of each profile
    (``smoke`` 64, ``grade`` 80 and ``full`` 250 pixels; batch 16, grayscale). The training
    split is read several times: the first epoch decodes and resizes every JPEG (and fills
    the in-memory cache), the next five are served from that cache (their median time).
    Images per second for each, in a fresh process per image size, so no size profits from
    another's warm caches (the operating system's file cache excepted: the first size
    measured may read from disk).

Usage
-----
``python bench/course_run.py`` (3 course runs, 3 pipeline runs per size);
``--runs N``, ``--jobs 2`` (``cnnlab run --jobs``), ``--skip-course``, ``--skip-pipeline``,
``--wait-quiet S``. Offline, set ``LABCORE_DATA_MIRROR``. The last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    REPO_ROOT,
    BenchmarkError,
    machine_info,
    run_fresh,
    script_command,
    script_main,
    spread,
    wait_until_quiet,
)

#: Profiles whose X-ray image size the pipeline is measured at.
PIPELINE_PROFILES = ("smoke", "grade", "full")
#: Cached epochs read after the first; their median time is reported (one is too short to time).
CACHED_EPOCHS = 5
#: The CI target for ``cnnlab run --profile smoke``, seconds.
COURSE_TARGET_S = 180.0


def _cnnlab() -> str:
    """The ``cnnlab`` console script beside this Python (the README's environment)."""
    candidate = Path(sys.executable).with_name("cnnlab")
    if not candidate.is_file():
        raise BenchmarkError(
            f"{candidate} does not exist: install the course first "
            "(python3 -m venv .venv && .venv/bin/pip install -e .) and run this script with "
            ".venv/bin/python"
        )
    return str(candidate)


def course_run(jobs: int, profile: str = "smoke") -> dict:
    """Run ``cnnlab run --profile <profile>`` over every notebook in a fresh process.

    Parameters
    ----------
    jobs : int
        ``--jobs`` of ``cnnlab run`` (1 is its default).
    profile : str, default="smoke"
        The run profile.

    Returns
    -------
    dict
        ``wall_s`` (start to exit, measured here), ``ok``, ``summary_seconds`` (the
        runner's own total) and ``notebooks`` (name, status, seconds).

    Raises
    ------
    BenchmarkError
        If a notebook fails (the command exits non-zero).
    """
    import subprocess

    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-course-") as build:
        command = [_cnnlab(), "run", "--profile", profile, "--jobs", str(jobs)]
        print("$ " + " ".join(command[1:]), flush=True)
        start = time.perf_counter()
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "CNNLAB_BUILD_DIR": build},
            capture_output=True,
            text=True,
        )
        wall_s = time.perf_counter() - start
        print(completed.stdout.rstrip(), flush=True)
        if completed.returncode != 0:
            print(completed.stderr[-4000:], flush=True)
            raise BenchmarkError(f"cnnlab run --profile {profile} failed: see above")
        summary = json.loads((Path(build) / "executed" / "summary.json").read_text())
    notebooks = [
        {
            "notebook": Path(result["notebook"]).name,
            "status": result["status"],
            "seconds": result["seconds"],
        }
        for result in summary["notebooks"]
    ]
    print(f"cnnlab run --profile {profile}: {wall_s:.1f} s wall", flush=True)
    return {
        "wall_s": round(wall_s, 2),
        "ok": summary["ok"],
        "summary_seconds": summary["seconds"],
        "notebooks": notebooks,
    }


def pipeline_worker(profile_name: str) -> dict:
    """Read the X-ray training split at a profile's image size: first and cached epochs.

    Parameters
    ----------
    profile_name : str
        ``"smoke"``, ``"grade"`` or ``"full"``: the image size and batch size come from
        :func:`labcore.profile.get_profile`.

    Returns
    -------
    dict
        ``image_size``, ``batch_size``, ``images`` (training images per epoch),
        ``load_s`` (scanning and checking the folder), ``first_epoch_s`` /
        ``first_epoch_images_per_s`` (decode + resize + cache) and ``cached_epoch_s`` /
        ``cached_epoch_images_per_s`` (median of :data:`CACHED_EPOCHS` cached epochs),
        ``format`` and the folder used.
    """
    from labcore import data, runtime
    from labcore.profile import get_profile

    keras = runtime.quiet_import_keras()
    profile = get_profile(profile_name)
    folder = data.xray_directory()
    start = time.perf_counter()
    loaded = data.load_image_folder(
        folder,
        image_size=profile.xray_image_size,
        batch_size=profile.xray_batch_size,
        validation_split=0.2,
        seed=42,
    )
    load_s = time.perf_counter() - start

    def one_epoch() -> tuple[int, float]:
        began, images = time.perf_counter(), 0
        for batch_images, _labels in loaded.train:
            images += int(keras.ops.shape(batch_images)[0])
        return images, time.perf_counter() - began

    images, first_s = one_epoch()
    cached = [one_epoch() for _ in range(CACHED_EPOCHS)]
    if any(count != images for count, _ in cached):
        raise BenchmarkError(f"the epochs differ: {images} then {[c for c, _ in cached]} images")
    cached_s = statistics.median(seconds for _, seconds in cached)
    print(
        f"{profile_name} ({profile.xray_image_size} px): {images} images, first epoch "
        f"{images / first_s:.0f} images/s, cached epoch {images / cached_s:.0f} images/s",
        flush=True,
    )
    return {
        "profile": profile_name,
        "image_size": profile.xray_image_size,
        "batch_size": profile.xray_batch_size,
        "images": images,
        "load_s": round(load_s, 3),
        "first_epoch_s": round(first_s, 3),
        "first_epoch_images_per_s": round(images / first_s, 1),
        "cached_epoch_s": round(cached_s, 4),
        "cached_epoch_images_per_s": round(images / cached_s, 1),
        "format": loaded.format,
        "directory": str(folder),
        "backend": runtime.keras_backend(),
    }


def benchmark(args) -> dict:
    """Run the measurements (the parent's work).

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
    figures: dict = {"benchmark": "course_run", "machine": machine_info(), "load_before": load}
    if not args.skip_course:
        runs = []
        for repetition in range(args.runs):
            print(f"course run {repetition + 1}/{args.runs}", flush=True)
            runs.append(course_run(args.jobs))
        per_notebook = {
            name: spread(
                [n["seconds"] for r in runs for n in r["notebooks"] if n["notebook"] == name]
            )
            for name in [n["notebook"] for n in runs[0]["notebooks"]]
        }
        wall = spread([r["wall_s"] for r in runs])
        figures["course"] = {
            "command": f"cnnlab run --profile smoke --jobs {args.jobs}",
            "target_s": COURSE_TARGET_S,
            "wall_s": wall,
            "met": wall["median"] is not None and wall["median"] <= COURSE_TARGET_S,
            "notebook_seconds": per_notebook,
            "runs": runs,
        }
    if not args.skip_pipeline:
        pipeline = {}
        for profile_name in PIPELINE_PROFILES:
            runs = [
                run_fresh(script_command("course_run.py", "--pipeline-worker", profile_name))
                for _ in range(args.runs)
            ]
            pipeline[profile_name] = {
                "image_size": runs[0]["image_size"],
                "images": runs[0]["images"],
                "format": runs[0]["format"],
                "first_epoch_images_per_s": spread(
                    [r["first_epoch_images_per_s"] for r in runs], 1
                ),
                "cached_epoch_images_per_s": spread(
                    [r["cached_epoch_images_per_s"] for r in runs], 1
                ),
                "runs": runs,
            }
        figures["pipeline"] = pipeline
    after = wait_until_quiet(max_wait_s=0)
    figures["load_after"] = {k: after[k] for k in ("load_1m", "load_5m", "quiet")}
    return figures


def _print_summary(figures: dict) -> None:
    if "course" in figures:
        course = figures["course"]
        print(f"\n{course['command']}: wall s {course['wall_s']} (target ≤ {COURSE_TARGET_S:.0f})")
        for name, seconds in course["notebook_seconds"].items():
            print(f"  {name:<36} {seconds}")
    for name, block in figures.get("pipeline", {}).items():
        print(
            f"X-ray pipeline, {name} ({block['image_size']} px, {block['images']} images): "
            f"first epoch {block['first_epoch_images_per_s']} images/s, cached "
            f"{block['cached_epoch_images_per_s']} images/s"
        )


def build_parser() -> argparse.ArgumentParser:
    """The command line.

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--jobs", type=int, default=1, help="cnnlab run --jobs (default 1)")
    parser.add_argument("--skip-course", action="store_true", help="no cnnlab run")
    parser.add_argument("--skip-pipeline", action="store_true", help="no pipeline throughput")
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait up to S seconds for an idle machine"
    )
    parser.add_argument("--pipeline-worker", choices=PIPELINE_PROFILES, help=argparse.SUPPRESS)
    return parser


def _worker(args) -> dict | None:
    return pipeline_worker(args.pipeline_worker) if args.pipeline_worker else None


def _measure(args) -> dict:
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    return benchmark(args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--pipeline-worker``, one measurement); print the JSON line."""
    return script_main(build_parser(), _measure, _print_summary, argv, worker=_worker)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
