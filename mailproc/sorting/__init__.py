"""Deciding what a letter is and what to do with it. Pure: no I/O while deciding."""

from mailproc.sorting.decision import ActionCall, Decision

__all__ = ["ActionCall", "Decision"]
