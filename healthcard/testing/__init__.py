"""Test kit for embedders: Hypothesis strategies, state machine, given/when/then."""
