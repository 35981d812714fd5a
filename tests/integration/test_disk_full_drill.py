"""The short disk-full drill: 90 messages, the data folder (a tmpfs) full for 8 s in the
middle of their intake. Every message is processed exactly once, by the same process, which
reports the stall while the disk is full and resumes by itself once it has space. The full
drill (300 messages, 20 s) is ``python -m tests.drills.disk_full_drill``."""

from __future__ import annotations

import pytest

from tests.drills.disk_full_drill import Skip, run_drill

pytestmark = pytest.mark.integration


def test_disk_full_during_intake_loses_nothing_and_resumes_by_itself(tmp_path):
    try:
        result = run_drill(messages=90, full_for=8, workdir=tmp_path / "drill")
    except Skip as exc:
        pytest.skip(str(exc))
    assert result.lost == [] and result.recorded_twice == [] and result.in_two_folders == []
    assert result.in_review == 0 and result.left_in_inbox == 0 and result.not_done == 0
    assert result.rows == 90
    assert result.stall_seen, "status --json did not report the intake stalled while full"
    assert result.resumed_after is not None and result.resumed_after <= 60, result.log_tail
    assert result.same_process and result.clean_exit, result.log_tail
    # the disk is named as the cause, never the mailbox
    assert "intake default failing (storage: disk full)" in result.log \
        or "intake default failing (database: OperationalError (disk full))" in result.log
    assert "mailbox unreachable" not in result.log
