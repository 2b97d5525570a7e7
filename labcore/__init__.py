"""labcore: the helpers the CNN Lab notebooks import.

Modules, by concern: :mod:`labcore.data` (datasets), :mod:`labcore.profile` (run sizes),
:mod:`labcore.runtime` (seeds, quiet logs, devices, recorded results), :mod:`labcore.models`,
:mod:`labcore.training`, :mod:`labcore.metrics`, :mod:`labcore.plots`, :mod:`labcore.theory`,
:mod:`labcore.tuning` and :mod:`labcore.checks`.

Importing the package sets TensorFlow's logging variables; inside a notebook kernel it also
imports Keras with TensorFlow's start-up noise filtered out (see :mod:`labcore.runtime`).
"""

from labcore import runtime as _runtime

__version__ = "0.1.0"

_runtime._startup()
