"""Deprecated: moved to :mod:`healthcard.readmodels.runner` (this path goes in 1.0).

``python -m healthcard.projections.runner`` keeps starting the projection worker.
"""

from healthcard._moved import moved

if __name__ == "__main__":
    from healthcard.readmodels.runner import main

    raise SystemExit(main())
moved(__name__, "healthcard.readmodels.runner")
