"""The benchmark table's own machinery: the seeded mailbox and a failing row (no timings here;
figures belong to ``make bench``)."""

from __future__ import annotations

from collections import Counter

from mailproc.letter import decode_letter
from tests.bench import table
from tests.bench.mailbox_gen import MailboxGenerator, mailbox
from tests.bench.rows import Plan


def test_mailbox_is_deterministic_and_has_the_traffic_mix():
    assert list(mailbox(20, seed=3)) == list(mailbox(20, seed=3))
    assert list(mailbox(5, seed=3)) != list(mailbox(5, seed=4))
    gen = MailboxGenerator(1)
    kinds, sizes, charsets = Counter(), [], set()
    for i in range(1000):
        kind, raw = gen.message(i)
        kinds[kind] += 1
        sizes.append(len(raw))
        if i >= 150:  # decoding is the slow part: the first 150 show every kind
            continue
        letter = decode_letter(raw)
        assert not letter.defects, (kind, letter.defects)
        charsets.add(letter.charset)
        if kind == "registration":
            assert 1 <= len(letter.attachments) <= 2
            assert all(a.type in ("image/jpeg", "application/pdf") for a in letter.attachments)
            assert all(100_000 <= a.size <= 2.1 * 1024 * 1024 for a in letter.attachments)
        if kind == "automatic":
            assert letter.automatic
    assert set(kinds) == {"question", "registration", "department", "automatic"}
    assert {"utf_8", "cp1251", "koi8_r"} <= charsets
    assert 600_000 < sum(sizes) / len(sizes) < 760_000  # ~650 KB like the real mailbox


def test_a_failing_measurement_fills_its_rows_with_the_error_and_the_run_goes_on(monkeypatch):
    def broken(plan, rows):
        raise RuntimeError("no Dovecot here")

    def fine(plan, rows):
        rows["4"].set(figure="decide 1 s", baseline="decode 20 s", ratio=0.05)

    monkeypatch.setattr(table, "MEASUREMENTS", [("broken", broken, ("1a", "1b")),
                                                ("fine", fine, ("4",))])
    import io

    result = table.run(Plan.quick(), log=io.StringIO())
    rows = {r["key"]: r for r in result["rows"]}
    assert rows["1a"]["verdict"] == rows["1b"]["verdict"] == "ERROR"
    assert "no Dovecot here" in rows["1a"]["error"]
    assert rows["4"]["verdict"] == "ok"
    text = table.text_table(result)
    assert "ERROR: RuntimeError: no Dovecot here" in text
    assert "| 4 | decide vs decode, 1,000 Letters | decide 1 s | decode 20 s | 0.050 |" \
        in table.markdown_table(result)
