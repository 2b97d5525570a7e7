# The course's one nbgrader configuration, used by every cnnlab command, by plain `nbgrader`
# commands and by the nbgrader JupyterLab extension (see docs/instructors.md).
#
# Folders: sources are the committed notebooks/ (nbgrader's "source" step); everything
# nbgrader generates goes under build/ (release, submitted, autograded, feedback, gradebook).
# The paths come from grading.paths, so they hold wherever the checkout lives.

from pathlib import Path

from grading.base.settings import course_settings
from grading.paths import course_paths
from labcore.runtime import LOG_NOISE_PATTERN

c = get_config()  # noqa: F821  (traitlets provides get_config in config files)
paths = course_paths()

c.CourseDirectory.course_id = "cnnlab"
c.CourseDirectory.root = str(paths.build)
c.CourseDirectory.source_directory = str(paths.notebooks)
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = paths.gradebook_url

# Notebooks run in the standard Python 3 kernel of the course environment.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Executing a cell: nbgrader's default of 30 s per cell kills CNN training. The setting is
# Execute.timeout: it wins over any ExecutePreprocessor.timeout (which reaches nbgrader's
# Execute only through class inheritance; tests/grading/autograde/test_autograde.py checks both).
c.Execute.timeout = 900
c.Execute.kernel_name = "python3"
# After a cell is interrupted at its timeout, how long to wait for the kernel to settle
# (nbclient's 4 s default can expire on a busy grading machine and stop a healthy kernel).
c.Execute.iopub_timeout = 10

# The sandbox `cnnlab autograde` grades each submission in (grading/autograde/sandbox.py; what it
# guarantees is in docs/sandbox.md): bubblewrap namespaces, no network, an unprivileged user,
# and these limits. The grade profile applies: nbgrader sets NBGRADER_EXECUTION, and the
# grader does not pass a LABCORE_PROFILE of its own environment on to the kernel.
c.GradingSandbox.notebook_timeout = 3600  # seconds for the whole submission
c.GradingSandbox.memory_limit_mb = 4096  # the kernel and everything it starts
c.GradingSandbox.max_processes = 1024  # processes and threads (RLIMIT_NPROC)
c.GradingSandbox.max_file_size_mb = 512  # largest file written (RLIMIT_FSIZE)
c.GradingSandbox.workspace_size_mb = 1024  # the kernel's home folder (tmpfs)
c.GradingSandbox.tmp_size_mb = 1024  # its /tmp (tmpfs; /dev/shm gets a quarter)

# Log lines TensorFlow, absl and XLA write to stderr are not errors: drop them from the
# outputs so they neither cost points nor clutter feedback. (nbgrader drops a whole stderr
# output that matches, and only when the preprocessor is enabled.)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = LOG_NOISE_PATTERN  # defined once, in labcore.runtime

# The course's own settings (cnnlab.toml: course id, header, limits, late policy; see
# grading/base/settings.py), then the course's own nbgrader_config.py, which wins.
for section, traits in course_settings(paths.root).nbgrader_config().items():
    for trait, value in traits.items():
        setattr(c[section], trait, value)
own_config = paths.root / "nbgrader_config.py"
if own_config.is_file() and own_config.resolve() != Path(__file__).resolve():
    load_subconfig(str(own_config.resolve()))  # noqa: F821  (provided in config files)
