"""Deprecated: moved to :mod:`healthcard.adapters.codec` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.adapters.codec")
