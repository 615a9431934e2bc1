"""Deprecated: moved to :mod:`healthcard.domain.events.card` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.domain.events.card")
