"""The cores this process may use: how many submissions or notebooks run at once by default.

Kept apart from :mod:`grading.autograde.run` and :mod:`grading.autograde.cluster` so that
both (and the cluster's workers) count cores the same way without importing each other.
"""

from __future__ import annotations

import os

__all__ = ["available_cores"]


def available_cores() -> int:
    """The number of cores this process may use (its CPU affinity on Linux).

    Returns
    -------
    int
        At least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
