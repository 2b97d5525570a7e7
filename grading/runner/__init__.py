"""``cnnlab run``, ``check`` and ``data``: the notebooks run headless, kept clean, fed data.

:mod:`grading.runner.run` executes notebooks, each in a papermill worker process
(:mod:`grading.runner.worker`), reads the results (:mod:`grading.runner.results`) and
writes the summary (:mod:`grading.runner.summary`);
:mod:`grading.runner.check` checks committed notebooks are clean nbgrader sources;
:mod:`grading.runner.data` shows where each dataset resolves. See docs/running.md.
"""
