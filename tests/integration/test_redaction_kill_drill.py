"""Kill drill of the redaction with a real ``mailproc run --once`` and a real Dovecot: the
process is SIGKILLed between the APPEND of the stub and the UID EXPUNGE of the original (and
right after the EXPUNGE, before the database hears of it), also a second time while it
recovers; the next clean run leaves exactly one stub, no original, the documents in the vault.

The process is stopped at the point by the test-only hook ``MAILPROC_DRILL_REDACTION_PAUSE``
(mailproc.registrations.redaction): it writes a file there and waits to be killed.
"""

from __future__ import annotations

import email
import email.policy
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mailproc.registrations.redaction import DRILL_PAUSE_ENV
from tests.integration.test_registration_redaction import (  # noqa: F401 - the fixture
    assert_nothing_personal,
    registration_letter,
    setup,
)
from tests.servers.mailproc import wait_for
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def killed_at(mp, point: str, workdir: Path, name: str) -> None:
    """``mailproc run --once`` until it reaches ``point``, then SIGKILL."""
    paused = workdir / f"{name}.paused"
    log = open(mp.root / f"{name}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "mailproc", "run", "--once"],
                            env={**mp.env, DRILL_PAUSE_ENV: f"{point}:{paused}"},
                            cwd=mp.root, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: paused.exists() or proc.poll() is not None, timeout=180)
        assert proc.poll() is None, (mp.root / f"{name}.log").read_text()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        log.close()


def stubs_and_originals(mp) -> tuple[list[bytes], list[bytes]]:
    raws = [raw for _uid, _flags, raw in mp.server.messages("Регистрация")]
    marked = [r for r in raws if email.message_from_bytes(
        r, policy=email.policy.compat32)["X-Mailproc-Redacted"]]
    return marked, [r for r in raws if r not in marked]


@pytest.mark.parametrize("point", ["after-append", "after-expunge"])
def test_sigkill_around_the_expunge_leaves_one_stub_and_no_original(setup, point,  # noqa: F811
                                                                    tmp_path):
    mp, app = setup
    raw, form, consent = registration_letter()
    mp.server.deliver(raw)

    killed_at(mp, point, tmp_path, "first")
    stubs, originals = stubs_and_originals(mp)
    assert len(stubs) == 1
    assert len(originals) == (1 if point == "after-append" else 0)
    vaulted = [p for p in (mp.data / "vault").rglob("*.bin")]
    assert len(vaulted) == 2, "the vault has the documents from the commit on"

    if point == "after-append":  # killed again at the same point while recovering
        killed_at(mp, point, tmp_path, "second")
        stubs, originals = stubs_and_originals(mp)
        assert (len(stubs), len(originals)) == (1, 1), "recovery appended no second stub"

    out = mp.command("run", "--once")
    assert out.returncode == 0, out.stderr
    stubs, originals = stubs_and_originals(mp)
    assert (len(stubs), len(originals)) == (1, 0)
    assert mp.server.count("INBOX") == 0
    assert_nothing_personal(mp.server, form, consent)
    rows = mp.sql("SELECT kind, state FROM mailbox_redactions")
    assert rows == [("redact", "done")]
    assert len(list((mp.data / "vault").rglob("*.bin"))) == 2
