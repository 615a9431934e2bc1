"""Deprecated package path (per-person keys, sealing, masking): moved to
:mod:`healthcard.adapters.privacy`.

Its modules are importable here until 1.0 (each one warns and hands back the
module at its new path).
"""

from healthcard._moved import moved_package

moved_package(__name__, "healthcard.adapters.privacy", globals())
