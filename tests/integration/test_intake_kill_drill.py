"""The small kill drill: 100 messages, 5 SIGKILLs of ``mailproc run`` at random moments while
it works; every message must end up processed once, in exactly one folder, none lost.
The full drill (1,000 messages, 20 kills) is ``python -m tests.drills.kill_drill``."""

from __future__ import annotations

import shutil

import pytest

from tests.drills.kill_drill import run_drill

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("dovecot") is None, reason="Dovecot is not installed")
@pytest.mark.parametrize("seed", [7])
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path, seed):
    result = run_drill(messages=100, kills=5, seed=seed, workdir=tmp_path / "drill")
    assert result.kills == 5
    assert result.lost == [] and result.recorded_twice == [] and result.in_two_folders == []
    assert result.left_in_inbox == 0 and result.not_done == 0
    assert result.rows == 100
    assert result.clean_exit
