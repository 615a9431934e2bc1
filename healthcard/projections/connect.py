"""Deprecated: moved to :mod:`healthcard.readmodels.connect` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.readmodels.connect")
