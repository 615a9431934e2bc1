"""Deprecated: moved to :mod:`healthcard.adapters.national_ids` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.adapters.national_ids")
