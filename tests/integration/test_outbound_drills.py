"""Smaller versions of the outbound drills, run in ``make test``: an SMTP outage (421 for a
few seconds) in the middle of sending and SIGKILLs of the sender while it sends."""

from __future__ import annotations

import pytest

from tests.drills.sender_kill_drill import run_drill
from tests.drills.smtp_outage_drill import run_outage

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_421_outage_in_the_middle_every_message_arrives_once(tmp_path, pipelining):
    result = run_outage(messages=500, outage=4.0, workdir=str(tmp_path), backoff=0.5,
                        pipelining=pipelining)
    assert result["refused_answers"] > 0  # the outage really happened mid-way
    assert result["arrived"] == 500
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["strangers"] == 0
    assert result["states"] == {"sent": 500}


def test_sigkill_of_the_sender_loses_nothing(tmp_path):
    result = run_drill(messages=200, kills=3, workdir=str(tmp_path), seed=7)
    print(result)
    assert result["kills"] >= 1
    assert result["lost"] == 0 and result["strangers"] == 0
    # each repeat the last message of a connection the kill cut right after its "." (RFC
    # 1047): at most one per connection per kill, usually fewer than the kills
    assert result["duplicates"] == result["in_window"]
    assert result["states"] == {"sent": 200}
