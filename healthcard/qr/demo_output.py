"""Deprecated: moved to :mod:`healthcard.simulation.qr_files` (this path goes in 1.0)."""

from healthcard._moved import moved

moved(__name__, "healthcard.simulation.qr_files")
