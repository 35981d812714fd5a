"""Pure helpers of the IMAP source: COPYUID parsing (RFC 4315), backoff, part stand-ins."""

from __future__ import annotations

import base64

from mailproc.mailbox.imap import Backoff, copyuid_map
from mailproc.mailbox.partial import _stand_in


def test_copyuid_map_reads_uid_sets():
    assert copyuid_map(b"[COPYUID 1795 3,5:7 10:13] Moved UIDs.") == {3: 10, 5: 11, 6: 12, 7: 13}
    assert copyuid_map([b"nothing here", b"COPYUID 9 1 2"]) == {1: 2}
    assert copyuid_map(b"OK Move completed.") == {}


def test_backoff_grows_with_jitter_and_logs_once_per_outage(caplog):
    b = Backoff(first=1.0, cap=8.0)
    delays = [b.failed(OSError()) for _ in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert sum("unreachable" in r.message for r in caplog.records) == 1
    b.succeeded()
    assert not b.in_outage
    b.failed(OSError())
    assert sum("unreachable" in r.message for r in caplog.records) == 2


def test_stand_in_decodes_to_the_real_first_bytes():
    data = bytes(range(200))
    encoded = base64.encodebytes(data)
    out = _stand_in(encoded[:160], "base64")
    assert data.startswith(base64.b64decode(b"".join(out.split())))
    assert len(base64.b64decode(b"".join(out.split()))) >= 100
