"""Deprecated: moved to :mod:`healthcard.cli.readmodels` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.cli.readmodels")
