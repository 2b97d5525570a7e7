"""Late submissions: nbgrader's late-submission plugin, configured from the course file.

``grading/nbgrader_config.py`` sets the traits of :class:`CourseLatePlugin` from ``[late]``
of ``cnnlab.toml`` (:mod:`grading.base.settings`); a course's own ``nbgrader_config.py`` may name
another plugin as ``AssignLatePenalties.plugin_class`` (any subclass of nbgrader's
``LateSubmissionPlugin``), and that one is used instead.

:func:`late_penalty` applies it to one submission: how late it is comes from the due date
in the course file and the submission time kept in the gradebook; without a due date in the
course file, the penalty nbgrader itself recorded (from a due date in its gradebook) stands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

from grading.base.settings import LATE_METHODS, CourseSettings, LatePolicy

__all__ = [
    "CourseLatePlugin",
    "Lateness",
    "add_late_note",
    "describe_delay",
    "late_penalty",
    "late_plugin",
    "late_rows",
]


class CourseLatePlugin(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with the course file's methods.

    ``method`` ``none`` and ``zero`` are nbgrader's own; ``per_hour`` and ``per_day`` take
    ``points`` off per started hour or day late, never below 0.
    """

    method = Enum(LATE_METHODS, default_value="none", help="How late work loses points.").tag(
        config=True
    )
    points = Float(0.0, help="Points off per started hour or day late.").tag(config=True)
    grace_minutes = Float(0.0, help="Late by less than this is on time.").tag(config=True)

    @property
    def policy(self) -> LatePolicy:
        """The plugin's settings as a :class:`grading.base.settings.LatePolicy`."""
        return LatePolicy(self.method, self.points, self.grace_minutes)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        """The penalty for one late notebook or submission (nbgrader's plugin interface).

        Parameters
        ----------
        student_id : str
            The student (unused: the policy is the same for everyone).
        score : float
            The score before the penalty.
        total_seconds_late : float
            Seconds after the due date.

        Returns
        -------
        float or None
            Points off (``None`` for method ``none``, as nbgrader's plugin does).
        """
        if self.method == "none":
            return None
        return self.policy.penalty(score, total_seconds_late)


def late_plugin(config=None) -> LateSubmissionPlugin:
    """The late-submission plugin a course's nbgrader configuration names.

    Parameters
    ----------
    config : traitlets.config.Config, optional
        From :func:`grading.base.nbgrader_driver.load_nbgrader_config`.

    Returns
    -------
    nbgrader.plugins.LateSubmissionPlugin
        An instance of ``AssignLatePenalties.plugin_class`` (default :class:`CourseLatePlugin`).
    """
    from nbgrader.preprocessors import AssignLatePenalties

    preprocessor = AssignLatePenalties(config=config)
    if preprocessor.plugin_class is LateSubmissionPlugin and not _names_plugin(config):
        return CourseLatePlugin(config=config)
    return preprocessor.plugin_class(config=config)


def _names_plugin(config) -> bool:
    return bool(config is not None and "plugin_class" in config.get("AssignLatePenalties", {}))


@dataclass(frozen=True)
class Lateness:
    """How late one submission is and what it costs.

    Attributes
    ----------
    due : datetime.datetime or None
        The due date (UTC), if any.
    submitted : datetime.datetime or None
        The submission time (UTC), if known.
    seconds_late : float
        0 when on time.
    penalty : float
        Points off.
    """

    due: dt.datetime | None
    submitted: dt.datetime | None
    seconds_late: float
    penalty: float

    def describe(self) -> str:
        """Lateness in words (empty when on time).

        Returns
        -------
        str
            E.g. ``"late by 2 h 5 min: -2 points"``.
        """
        if self.seconds_late <= 0:
            return ""
        return f"late by {describe_delay(self.seconds_late)}: -{self.penalty:g} point(s)"


def describe_delay(seconds: float) -> str:
    """A delay in days, hours and minutes.

    Parameters
    ----------
    seconds : float
        The delay.

    Returns
    -------
    str
        E.g. ``"1 d 2 h 5 min"``.
    """
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts)


def late_rows(scores, settings: CourseSettings) -> list[dict]:
    """The late submissions, for reports.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`grading.export.submission_scores` (with ``seconds_late``).
    settings : grading.base.settings.CourseSettings
        The course (its due dates).

    Returns
    -------
    list of dict
        ``assignment``, ``student``, ``due``, ``submitted``, ``late_by``, ``penalty`` (text),
        one per late submission, by assignment and student.
    """
    if scores.empty or "seconds_late" not in scores:
        return []
    rows = []
    for row in scores[scores["seconds_late"] > 0].itertuples():
        due = settings.due.get(row.assignment)
        rows.append(
            {
                "assignment": row.assignment,
                "student": row.student,
                "due": due.strftime("%Y-%m-%d %H:%M UTC") if due else "",
                "submitted": str(row.timestamp)[:19] + " UTC",
                "late_by": describe_delay(row.seconds_late),
                "penalty": f"{row.late_penalty:g}",
            }
        )
    return rows


def late_penalty(
    settings: CourseSettings,
    plugin: LateSubmissionPlugin,
    assignment: str,
    student: str,
    score: float,
    submitted: dt.datetime | None,
    recorded_penalty: float | None = None,
) -> Lateness:
    """The late penalty of one submission.

    Parameters
    ----------
    settings : grading.base.settings.CourseSettings
        The course (its due dates).
    plugin : nbgrader.plugins.LateSubmissionPlugin
        From :func:`late_plugin`.
    assignment, student : str
        Which submission.
    score : float
        Its score before the penalty.
    submitted : datetime.datetime or None
        Its time (naive means UTC), from the gradebook.
    recorded_penalty : float, optional
        What nbgrader recorded; used when the course file gives no due date.

    Returns
    -------
    Lateness
        The penalty is between 0 and ``score``.
    """
    if submitted is not None and submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=dt.UTC)
    due = settings.due.get(assignment)
    if due is None:
        penalty = float(recorded_penalty or 0.0)
        return Lateness(None, submitted, 0.0, min(max(penalty, 0.0), max(score, 0.0)))
    seconds = settings.seconds_late(assignment, submitted)
    penalty = plugin.late_submission_penalty(student, score, seconds) if seconds > 0 else None
    penalty = min(max(float(penalty or 0.0), 0.0), max(score, 0.0))
    return Lateness(due, submitted, seconds, penalty)


def add_late_note(paths, db_url: str, student: str, assignment: str) -> bool:
    """Say in a submission's feedback pages how late it was and what that cost.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course (its due dates and late policy; ``build/feedback/``).
    db_url : str
        The gradebook (the submission's time and score).
    student, assignment : str
        Which submission.

    Returns
    -------
    bool
        Whether a note was added (only to a late submission of an assignment with a due
        date in the course file).
    """
    import html

    from grading.base.gradebook import open_gradebook
    from grading.base.nbgrader_driver import load_nbgrader_config
    from grading.base.settings import course_settings

    settings = course_settings(paths)
    if assignment not in settings.due:
        return False
    with open_gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        score, submitted = float(submission.score), submission.timestamp
    plugin = late_plugin(load_nbgrader_config(paths, db_url))
    lateness = late_penalty(settings, plugin, assignment, student, score, submitted)
    if lateness.seconds_late <= 0:
        return False
    text = (
        f"Submitted {lateness.submitted:%Y-%m-%d %H:%M} UTC, due {lateness.due:%Y-%m-%d %H:%M} "
        f"UTC: late by {describe_delay(lateness.seconds_late)}. Late policy: "
        f"{settings.late.describe()}. Penalty: -{lateness.penalty:g} point(s), so "
        f"{max(score - lateness.penalty, 0):g} of the {score:g} points scored below count."
    )
    style = "border:1px solid #c60;padding:.5em"
    note = f'<p class="cnnlab-late" style="{style}">{html.escape(text)}</p>'
    for page in (paths.feedback / student / assignment).glob("*.html"):
        content = page.read_text(encoding="utf-8")
        if "cnnlab-late" not in content and "<body" in content:
            start = content.index(">", content.index("<body")) + 1
            page.write_text(content[:start] + note + content[start:], encoding="utf-8")
    return True
