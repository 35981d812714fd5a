"""Fixtures for every test."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _root_log_handlers_restored():
    """A command run in-process (``cli.main(["run", ...])``) points the root logger at the
    stderr pytest captured for that test; once that stream is closed, a server thread of a
    later test logging through it prints "--- Logging error ---". Put the handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
