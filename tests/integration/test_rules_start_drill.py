"""Broken rules at start (issue 18, part 5), the drill in full (14 letters, two restarts of a
real ``mailproc run`` on a real Dovecot; ``python -m tests.drills.rules_start_drill``):
with a stored good set every letter is decided by it; with none, all 14 wait in INBOX until
the file is fixed, then all are decided by the rules. Never by built-in sorting."""

from __future__ import annotations

import shutil

import pytest

from tests.drills.rules_start_drill import run_drill

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("dovecot") is None, reason="Dovecot is not installed")
def test_a_restart_with_broken_rules_never_sorts_by_the_built_in_decision(tmp_path):
    stored, none = run_drill(tmp_path / "drill")
    for run in (stored, none):
        assert run.rows == 14 and run.left_in_inbox == 0, run.summary()
        assert run.built_in == 0, run.summary()
        assert run.misfiled == [], run.summary()
        assert dict(run.processed_by) == {run.expected_version: 14}, run.summary()
        assert run.folders["Обработанные"] < 11, run.summary()  # built-in filed 11 there
    assert none.waited_in_inbox == 14 and none.rows_while_broken == 0, none.summary()
    assert none.status_while_broken == "waiting", none.summary()
    assert none.waiting_notices == 1 and none.waiting_logged == 1, none.summary()
