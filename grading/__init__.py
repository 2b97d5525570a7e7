"""grading: what instructors and CI run.

Thin ``cnnlab`` commands (:mod:`grading.cli`) over a Python API, in wings of one job each:

``grading.runner``
    ``cnnlab run``, ``check`` and ``data``: notebooks executed headless with papermill, their
    hygiene, and where each dataset resolves.
``grading.autograde``
    ``cnnlab autograde``: one submission graded in the sandbox, a class in parallel or on a
    cluster, tests restored and tampering found before nbgrader sees a notebook.
``grading.base``
    What the commands stand on: the nbgrader driver and template, the gradebook and its
    backups, the course file, the roster and who a submission belongs to.

The instructor's commands sit at the top beside the wings (``release``, ``kit``,
``collect``, ``feedback``, ``export``, ``report``, ``course``, ``lab``, ``init``), with
``cli``, ``options``, ``errors`` and ``paths``. API modules never import :mod:`grading.cli`.
nbgrader and papermill do the work; this package configures and composes them
(``grading/nbgrader_config.py``).
"""

__version__ = "0.1.0"
