"""Deprecated: the national step codes are ``STEP_CODES`` of
:mod:`healthcard.testing.strategies.values` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.testing.strategies.values")
