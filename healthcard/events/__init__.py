"""Deprecated package path (the event models, the stored contract): moved to
:mod:`healthcard.domain.events`.

Its modules are importable here until 1.0 (each one warns and hands back the
module at its new path).
"""

from healthcard._moved import moved_package

moved_package(__name__, "healthcard.domain.events", globals())
