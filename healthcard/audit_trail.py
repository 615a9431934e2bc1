"""Deprecated: moved to :mod:`healthcard.analytics.audit_trail` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.analytics.audit_trail")
