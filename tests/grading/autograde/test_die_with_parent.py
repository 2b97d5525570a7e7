"""A child of the grader's processes dies with its parent, even one that died first.

The warm server, each grading program and each sandbox are tied to the process that started
them with ``PR_SET_PDEATHSIG``. A parent that dies before its child asks for the signal
sends none: that child lives on as an orphan (a sandbox nobody stops, as happened when the
grader was killed while a kernel started). :func:`die_with_parent` with the parent's pid
closes that gap. Where the child is not ours to change (bubblewrap's process inside the
sandbox), the warm server adopts the orphan and kills it (:func:`adopt_orphans`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

# The middle process forks a child and exits; the child asks for the signal only after
# ``DELAY`` seconds, then writes the marker file ``LATER`` seconds later if it still lives.
FAMILY = """
import os, sys, time
from grading.autograde.processes import die_with_parent
marker, check = sys.argv[1], sys.argv[2] == "check"
delay, later, parent_lives = map(float, sys.argv[3:])
parent = os.getpid()
if os.fork() == 0:
    time.sleep(delay)
    die_with_parent(parent if check else None)
    time.sleep(later)
    open(marker, "w").write("the child lived on")
    os._exit(0)
time.sleep(parent_lives)
os._exit(0)
"""


def _family(tmp_path: Path, *, check: bool, delay: float, parent_lives: float) -> bool:
    """Run the family; whether the child outlived its parent (wrote its marker)."""
    marker = tmp_path / f"marker-{check}-{delay}-{parent_lives}"
    later = 0.5
    subprocess.run(
        [
            sys.executable,
            "-c",
            FAMILY,
            str(marker),
            "check" if check else "no-check",
            *(str(value) for value in (delay, later, parent_lives)),
        ],
        cwd=REPO_ROOT,
        check=True,
        timeout=30,
    )
    time.sleep(delay + later + 1.0)
    return marker.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_whose_parent_died_first_does_not_live_on(tmp_path):
    # the parent exits at once; the child asks for the signal 0.5 s later
    assert _family(tmp_path, check=False, delay=0.5, parent_lives=0.0)  # the gap
    assert not _family(tmp_path, check=True, delay=0.5, parent_lives=0.0)  # closed


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_when_its_parent_dies_later(tmp_path):
    assert not _family(tmp_path, check=True, delay=0.0, parent_lives=0.3)


def test_a_child_whose_parent_lives_runs_on():
    from grading.autograde.processes import tied_to_this_process

    done = subprocess.run(
        [sys.executable, "-c", "print('ran')"],
        preexec_fn=tied_to_this_process(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.strip() == "ran"


# The process adopts orphans (or not), then starts a child that starts a grandchild in a
# session of its own and exits at once. It prints the grandchild's parent, kills what it
# adopted, and prints whether the grandchild is gone.
ADOPTER = """
import os, subprocess, sys, time
from grading.autograde.processes import adopt_orphans, kill_adopted
adopt = sys.argv[1] == "adopt"
if adopt:
    assert adopt_orphans()
spawner = subprocess.Popen(
    [sys.executable, "-c",
     "import subprocess; print(subprocess.Popen(['sleep', '60'], start_new_session=True,"
     " stdout=subprocess.DEVNULL).pid)"],
    stdout=subprocess.PIPE, text=True,
)
grandchild = int(spawner.stdout.readline())
spawner.wait()
time.sleep(0.2)
parent = int(open(f"/proc/{grandchild}/stat").read().rsplit(")", 1)[1].split()[1])
print("adopted" if parent == os.getpid() else "not adopted")
if adopt:
    print("killed", kill_adopted(keep=set()))
    os.waitpid(grandchild, 0)
    print("gone" if not os.path.exists(f"/proc/{grandchild}") else "alive")
else:
    os.kill(grandchild, 9)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_CHILD_SUBREAPER is Linux's")
@pytest.mark.parametrize("adopt", [True, False])
def test_an_adopted_orphan_is_found_and_killed(adopt):
    done = subprocess.run(
        [sys.executable, "-c", ADOPTER, "adopt" if adopt else "no"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    lines = done.stdout.split()
    if adopt:
        assert done.stdout.split("\n")[:3] == ["adopted", "killed 1", "gone"]
    else:
        assert lines[:2] == ["not", "adopted"]  # it went to init: nobody would kill it
