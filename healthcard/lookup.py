"""Deprecated: moved to :mod:`healthcard.application.keyed_ids` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.application.keyed_ids")
