"""Flows: every multi-step procedure written once as a generator of effects."""
