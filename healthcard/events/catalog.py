"""Deprecated: moved to :mod:`healthcard.domain.events.catalog` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.domain.events.catalog")
