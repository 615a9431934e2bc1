"""Deprecated: moved to :mod:`healthcard.readmodels.rebuild` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.readmodels.rebuild")
