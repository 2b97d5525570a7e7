"""What every ``cnnlab`` command stands on.

nbgrader itself (:mod:`grading.base.nbgrader_driver`, :mod:`grading.base.template`,
:mod:`grading.base.regions`, :mod:`grading.base.late`), the gradebook and its backups
(:mod:`grading.base.gradebook`, :mod:`grading.base.backups`), the course file
(:mod:`grading.base.settings`, :mod:`grading.base.kit_settings`), and who a submission
belongs to (:mod:`grading.base.roster`, :mod:`grading.base.identities`,
:mod:`grading.base.identify`, :mod:`grading.base.sources`).
"""
