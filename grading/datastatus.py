"""``cnnlab data``: where each dataset file resolves, checked, without downloading."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab data`` (none)."""


def main(args: argparse.Namespace) -> int:
    """Print one line per registry file or pinned folder; exit 1 if one is damaged.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (unused).

    Returns
    -------
    int
        0 when nothing is damaged (missing files are fine: they are fetched when needed).
    """
    from labcore import data

    print(f"data directory: {data.data_dir()}")
    print(f"mirror:         {data.mirror_dir() or '(LABCORE_DATA_MIRROR not set)'}")
    rows = data.describe()
    for row in rows:
        label = "" if row["official"] else "  [unofficial substitute]"
        print(f"{row['status'][:7]:8} {row['path']}{label}  {row['location'] or ''}")
    damaged = [row for row in rows if row["status"].startswith("error")]
    for row in damaged:
        print(f"\n{row['status']}")
    return 1 if damaged else 0
