"""``cnnlab run``, ``check`` and ``data``: the notebooks run headless, kept clean, fed data.

:mod:`grading.runner.run` executes notebooks with papermill and writes the summary;
:mod:`grading.runner.check` checks committed notebooks are clean nbgrader sources;
:mod:`grading.runner.data` shows where each dataset resolves. See docs/running.md.
"""
