"""Log lines as journald and an administrator's ``jq`` read them (mailproc.logs): priority
prefixes on every line, ids as fields of their own, the ids of the work around a line."""

from __future__ import annotations

import io
import json
import logging
import os
from types import SimpleNamespace

import pytest

from mailproc.logs import about, journal_stream, log_ids, setup_logging


@pytest.fixture
def logged():
    """setup_logging on a buffer; the root logger's handlers and level restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()

    def setup(fmt="json", journal="yes"):
        setup_logging(SimpleNamespace(level="debug", format=fmt, journal=journal), out)
        return out

    yield setup
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_priority_and_ids(logged):
    out = logged()
    log = logging.getLogger("mailproc.test")
    with log_ids(uid="17"):
        log.info("order %s created", "2026-00004", extra=about(order="2026-00004", message_pk=3))
        log.warning("facts not gathered: OperationalError")
    log.debug("outside")
    log.error("broken")
    lines = out.getvalue().splitlines()
    assert [line[:3] for line in lines] == ["<6>", "<4>", "<7>", "<3>"]
    data = [json.loads(line[3:]) for line in lines]
    assert data[0]["order"] == "2026-00004" and data[0]["message_pk"] == 3
    assert data[0]["uid"] == "17" and data[1]["uid"] == "17"
    assert "uid" not in data[2]


def test_every_line_of_a_text_traceback_is_prefixed(logged):
    """journald makes each line an entry: a traceback's lines keep the error priority."""
    out = logged(fmt="text")
    try:
        raise ValueError("x")
    except ValueError:
        logging.getLogger("mailproc.test").exception("pass failed")
    lines = out.getvalue().splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines), lines


def test_text_lines_name_the_work_around_them(logged):
    out = logged(fmt="text", journal="no")
    log = logging.getLogger("mailproc.test")
    with log_ids(uid="17"):
        log.warning("facts not gathered: OperationalError")
        log.warning("message uid=17 to review: MessageError")
    first, second = out.getvalue().splitlines()
    assert not first.startswith("<")
    assert first.endswith("facts not gathered: OperationalError [uid=17]")
    assert second.endswith("message uid=17 to review: MessageError")  # named already


def test_unknown_id_field_is_a_bug():
    with pytest.raises(ValueError):
        about(reader="someone@example.org")


def test_journal_stream_must_name_the_stream(monkeypatch, tmp_path):
    with open(tmp_path / "f", "w") as f:
        st = os.fstat(f.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert journal_stream(f)
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
        assert not journal_stream(f)
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not journal_stream(f)
        assert not journal_stream(io.StringIO())
