"""``cnnlab autograde``: every submission graded in a sandbox, a class in parallel.

:mod:`grading.autograde.run` runs a class (locally or on Dask, :mod:`grading.autograde.cluster`);
:mod:`grading.autograde.integrity` restores the tests and finds tampering before nbgrader
sees a notebook; :mod:`grading.autograde.sandbox`, :mod:`grading.autograde.grading_server`
and :mod:`grading.autograde.grade_in_sandbox` grade one submission with its kernel in
bubblewrap; :mod:`grading.autograde.probe` and :mod:`grading.autograde.scoring` decide scores
outside the kernel. The trust model: docs/sandbox.md.

Importing this package imports nothing else: ``python -I -m grading.autograde.grading_server``
must start fast.
"""
