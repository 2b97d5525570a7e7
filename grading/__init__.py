"""grading: what instructors and CI run.

Thin ``cnnlab`` commands (:mod:`grading.cli`) over a Python API, one module per concern:
running notebooks headless (:mod:`grading.execute`), notebook hygiene (:mod:`grading.hygiene`),
releasing, collecting, autograding, feedback, export and reports. nbgrader and papermill do
the work; this package configures and composes them (``grading/nbgrader_config.py``).
"""

__version__ = "0.1.0"
