"""The grading program's memory watchdog: how often it looks, and that it stops a kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grading.autograde.processes import MemoryWatchdog

MIB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_watchdog_looks_often_near_the_cap_and_seldom_far_below_it():
    watchdog = MemoryWatchdog(4096, interval=0.2, max_interval=1.0, growth_mb_per_s=4096)
    assert watchdog.next_wait(0) == 1.0  # a kernel growing 4 GB/s needs 1 s to reach it
    assert watchdog.next_wait(2048 * MIB) == pytest.approx(0.5)
    assert watchdog.next_wait(4000 * MIB) == 0.2
    assert watchdog.next_wait(5000 * MIB) == 0.2  # over the cap: as often as it can


def test_the_watchdog_stops_a_child_that_grows_past_the_cap():
    # in a process of its own: the watchdog kills every descendant of the process it runs in
    script = (
        "import subprocess, sys\n"
        "from grading.autograde.processes import MemoryWatchdog\n"
        "watchdog = MemoryWatchdog(300)\n"
        "watchdog.start()\n"
        "grow = 'import time\\nhog = []\\nwhile True:\\n"
        "    hog.append(bytearray(20_000_000))\\n    time.sleep(0.02)'\n"
        "code = subprocess.Popen([sys.executable, '-c', grow]).wait(timeout=60)\n"
        "print(watchdog.exceeded.is_set(), code, round(watchdog.peak_bytes / 2**20))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    exceeded, code, peak_mb = result.stdout.split()
    assert exceeded == "True" and int(code) == -9, result.stdout
    assert 300 < int(peak_mb) < 1500  # stopped soon after it passed the cap
