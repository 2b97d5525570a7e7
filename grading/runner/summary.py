"""The summary of a ``cnnlab run``: ``summary.json`` and ``summary.md`` in the output folder.

A run of some notebooks adds to the summary already there: :func:`earlier_results` reads
it back, and :class:`RunSummary` keeps the latest result of every notebook.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grading.runner.results import CellError, NotebookResult

__all__ = ["RunSummary", "earlier_results"]


@dataclass
class RunSummary:
    """The results of one ``cnnlab run``.

    Attributes
    ----------
    profile : str
        The profile every notebook ran in.
    results : list of NotebookResult
        One per notebook, in the order they were given.
    seconds : float
        Wall-clock time of the whole run.
    jobs : int
        How many notebooks ran at a time.
    output_dir : pathlib.Path
        Where the executed notebooks and the summary files are.
    earlier : list of NotebookResult
        The latest results of notebooks this run did not run, from the summary already in
        ``output_dir`` (:func:`earlier_results`): a run of some notebooks adds to the summary
        instead of replacing it.
    """

    profile: str
    results: list[NotebookResult]
    seconds: float
    jobs: int
    output_dir: Path
    earlier: list[NotebookResult] = field(default_factory=list)

    @property
    def notebooks(self) -> list[NotebookResult]:
        """Every notebook of the summary, in name order: this run's, and the others' latest."""
        ran_now = {result.name for result in self.results}
        kept = [result for result in self.earlier if result.name not in ran_now]
        return sorted([*self.results, *kept], key=lambda result: result.name)

    @property
    def ok(self) -> bool:
        """Whether every notebook succeeded."""
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> list[NotebookResult]:
        """The notebooks that failed or timed out."""
        return [result for result in self.results if not result.ok]

    @property
    def json_path(self) -> Path:
        """``summary.json`` in the output folder."""
        return self.output_dir / "summary.json"

    @property
    def markdown_path(self) -> Path:
        """``summary.md`` in the output folder."""
        return self.output_dir / "summary.md"

    def to_dict(self) -> dict[str, object]:
        """The summary as plain JSON values.

        Returns
        -------
        dict
            ``profile``, ``seconds`` and ``jobs`` of this run, ``ran`` (the notebooks it
            ran), ``notebooks`` (one dict per notebook of :attr:`notebooks` with the fields
            of :class:`NotebookResult`; ``finished`` says when it ran) and ``ok`` (whether
            every one of them succeeded).
        """
        notebooks = self.notebooks
        return {
            "profile": self.profile,
            "ok": all(result.ok for result in notebooks),
            "seconds": round(self.seconds, 1),
            "jobs": self.jobs,
            "ran": [result.name for result in self.results],
            "notebooks": [asdict(result) for result in notebooks],
        }

    def to_markdown(self) -> str:
        """The summary as a Markdown table, followed by the problems, if any.

        Returns
        -------
        str
            Markdown text.
        """
        lines = [
            f"# cnnlab run: profile `{self.profile}`",
            "",
            "| notebook | status | seconds | profile | backend | device | metrics | ran (UTC) |",
            "|---|---|---:|---|---|---|---|---|",
        ]
        notebooks = self.notebooks
        for result in notebooks:
            metrics = ", ".join(f"{name} = {value}" for name, value in result.metrics.items())
            cells = [
                f"`{result.name}`",
                result.status,
                f"{result.seconds:.1f}",
                result.profile,
                result.backend or "-",
                result.device_label(),
                metrics or "-",
                result.finished[:16].replace("T", " ") or "-",
            ]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        passed = sum(result.ok for result in notebooks)
        outcome = f"{passed} of {len(notebooks)} ok"
        if len(notebooks) > len(self.results):
            outcome += (
                f"; this run: {len(self.results)} notebook(s) in {self.seconds:.1f} s, the "
                "others as they last ran."
            )
        else:
            outcome += f" in {self.seconds:.1f} s."
        lines += ["", outcome]
        failures = [result for result in notebooks if not result.ok]
        if failures:
            lines += ["", "## Problems", ""]
            lines += [f"- `{r.name}` ({r.status}): {r.problem()}" for r in failures]
        return "\n".join(lines) + "\n"

    def write(self) -> tuple[Path, Path]:
        """Write ``summary.json`` and ``summary.md`` into the output folder.

        Returns
        -------
        tuple of pathlib.Path
            The JSON and the Markdown file.
        """
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.json_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        self.markdown_path.write_text(self.to_markdown(), encoding="utf-8")
        return self.json_path, self.markdown_path


def earlier_results(json_path: Path) -> list[NotebookResult]:
    """The notebooks of a ``summary.json`` written by an earlier run.

    Parameters
    ----------
    json_path : pathlib.Path
        The summary file.

    Returns
    -------
    list of NotebookResult
        Its notebooks; empty when the file does not exist or cannot be read (an unreadable
        summary is replaced, not merged).
    """
    try:
        entries = json.loads(json_path.read_text(encoding="utf-8"))["notebooks"]
        results = []
        for entry in entries:
            error = entry.pop("error", None)
            results.append(NotebookResult(**entry, error=CellError(**error) if error else None))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return results
