# The course's one nbgrader configuration, used by every cnnlab command, by plain `nbgrader`
# commands and by the nbgrader JupyterLab extension (see README.md, "Instructors").
#
# Folders: sources are the committed notebooks/ (nbgrader's "source" step); everything
# nbgrader generates goes under build/ (release, submitted, autograded, feedback, gradebook).
# The paths come from grading.paths, so they hold wherever the checkout lives.

from grading.paths import course_paths

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
# Execute only through class inheritance; tests/test_autograde.py checks both).
c.Execute.timeout = 900
c.Execute.kernel_name = "python3"
# After a cell is interrupted at its timeout, how long to wait for the kernel to settle
# (nbclient's 4 s default can expire on a busy grading machine and stop a healthy kernel).
c.Execute.iopub_timeout = 10

# The sandbox `cnnlab autograde` grades each submission in (grading/sandbox.py): a
# wall-clock limit for the whole submission, a memory cap for the kernel and everything it
# starts, no network, and the kernel as this unprivileged user when grading runs as root.
# The grade profile applies: nbgrader sets NBGRADER_EXECUTION, and the grader does not pass
# a LABCORE_PROFILE of its own environment on to the kernel.
c.GradingSandbox.notebook_timeout = 3600
c.GradingSandbox.memory_limit_mb = 4096
c.GradingSandbox.isolate_network = True
c.GradingSandbox.kernel_user = "nobody"

# Log lines TensorFlow, absl and XLA write to stderr are not errors: drop them from the
# outputs so they neither cost points nor clutter feedback. (nbgrader drops a whole stderr
# output that matches, and only when the preprocessor is enabled.)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)^(WARNING: All log messages before absl::InitializeLog\(\).*"
    r"|[IWE]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\].*"
    r"|.*oneDNN custom operations are on.*"
    r"|.*(cuda_dnn|cuda_fft|cuda_blas|computation_placer)\.cc.*)\n?"
)
