"""``cnnlab autograde``: every submission graded in a sandbox, a class in parallel.

:mod:`grading.autograde.run` runs a class (locally or on Dask, :mod:`grading.autograde.cluster`),
one submission at a time through :mod:`grading.autograde.grade`, with the task and result
types of :mod:`grading.autograde.task`;
:mod:`grading.autograde.restore` restores the tests and :mod:`grading.autograde.tamper`
finds tampering before nbgrader sees a notebook (both read cells through
:mod:`grading.autograde.cells`); :mod:`grading.autograde.sandbox`,
:mod:`grading.autograde.kernel_manager`, :mod:`grading.autograde.processes`,
:mod:`grading.autograde.grading_server` and :mod:`grading.autograde.grade_in_sandbox` grade
one submission with its kernel in bubblewrap; :mod:`grading.autograde.probe` and
:mod:`grading.autograde.scoring` decide scores outside the kernel. The trust model: docs/sandbox.md.

Importing this package imports nothing else: ``python -I -m grading.autograde.grading_server``
must start fast.
"""
