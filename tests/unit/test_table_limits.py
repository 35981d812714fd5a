"""Hostile tables are refused quickly, with the limit named, and in little memory: an XLSX
whose sharedStrings.xml inflates to 1 GB (honest or lying in its ZIP directory), a CSV of a
million columns; mailed, they go to review; imported, the command says why in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.cli import main
from mailproc.config import load_settings
from mailproc.mailbox.maildir import MaildirSource
from mailproc.outreach.limits import TableLimitError, TableLimits
from mailproc.outreach.tables import read_table
from mailproc.store.models import Message
from tests.fixtures.bombs import csv_wide, xlsx_bomb
from tests.unit.outreach_helpers import Install
from tests.unit.test_sorting_runtime import write_config

ROOT = Path(__file__).resolve().parents[2]

#: read a table in a fresh interpreter limited to 1 GiB of address space (a bomb read without
#: limits dies there instead of taking the machine); print the refusal and the peak RSS
CHILD = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
sys.path.insert(0, sys.argv[2])
from mailproc.outreach.tables import read_table
path = sys.argv[1]
t0 = time.monotonic()
try:
    rows = sum(1 for _ in read_table(path).rows)
    error = ""
except BaseException as exc:
    rows, error = -1, f"{type(exc).__name__}: {exc}"
# VmHWM, not ru_maxrss: ru_maxrss keeps the high-water mark of the forked parent (a pytest
# process that has run the whole suite) across exec; VmHWM belongs to this program alone
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(json.dumps({"error": error, "rows": rows, "seconds": time.monotonic() - t0,
                  "maxrss_mb": hwm / 1024}))
"""


def read_in_child(path: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, str(path), str(ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    files = {"bomb": ("сотрудники.xlsx", xlsx_bomb(1000)),
             "liar": ("список.xlsx", xlsx_bomb(1000, declared=4096)),
             "wide": ("сотрудники.csv", csv_wide(1_000_000))}
    out = {}
    for key, (name, data) in files.items():
        (folder / key).mkdir()
        out[key] = folder / key / name
        out[key].write_bytes(data)
    return out


@pytest.mark.parametrize("key,setting", [
    ("bomb", "outreach.max_inflated_size"),
    ("liar", "outreach.max_inflated_size"),
    ("wide", "outreach.max_table_cells"),
])
def test_hostile_table_refused_with_the_limit_named_in_little_memory(bombs, key, setting):
    got = read_in_child(bombs[key])
    assert got["error"].startswith("TableLimitError: «"), got
    assert "превышает предел" in got["error"] or "больше предела" in got["error"]
    assert setting in got["error"]
    assert got["maxrss_mb"] < 300, got


def test_the_bomb_is_a_real_workbook_read_when_small():
    """The same construction under the limit is read: the refusals above are the limits'."""
    table = read_table("малый.xlsx", xlsx_bomb(2))
    assert list(table.rows)[:2] == [["ФИО", "E-mail"],
                                    ["Попова Айталина", "aitalina@school5.example"]]


def _xlsx(rows: list[list]) -> bytes:
    import io

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
@pytest.mark.parametrize("limits,rows,setting", [
    (TableLimits(rows=3), [["ФИО", "E-mail"]] + [["a", "b"]] * 5, "max_table_rows"),
    (TableLimits(columns=4), [["ФИО", "E-mail"], ["a"] * 7], "max_table_columns"),
    (TableLimits(cells=9), [["ФИО", "E-mail", "x"]] * 4, "max_table_cells"),
])
def test_each_limit_names_its_setting(suffix, limits, rows, setting):
    data = _xlsx(rows) if suffix == "xlsx" else \
        "\n".join(";".join(r) for r in rows).encode()
    with pytest.raises(TableLimitError, match=f"^«t.{suffix}»: .*outreach.{setting}"):
        list(read_table(f"t.{suffix}", data, limits).rows)
    # within the limits the same table is read whole
    assert len(list(read_table(f"t.{suffix}", data).rows)) == len(rows)


def test_time_limit_is_counted_from_the_start_of_reading():
    data = "\n".join(["ФИО;E-mail"] + ["a;b"] * 1000).encode()
    table = read_table("t.csv", data, TableLimits(seconds=0.0))
    with pytest.raises(TableLimitError, match="предел времени 0 с .*outreach.max_table_time"):
        list(table.rows)


def test_contacts_import_refuses_the_bomb_in_one_russian_line(tmp_path, capsys, bombs):
    inst = Install(tmp_path)
    capsys.readouterr()
    code = main(["--config", str(inst.config), "contacts", "import", str(bombs["bomb"])])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("mailproc: «сотрудники.xlsx»: ")
    assert "outreach.max_inflated_size" in err
    assert inst.json(capsys, "contacts", "list") == []


def test_mailed_bomb_goes_to_review_with_the_limit_named(tmp_path, monkeypatch, bombs):
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    app = App(load_settings(str(write_config(tmp_path))))
    source = MaildirSource(str(tmp_path / "data" / "Maildir"))
    source.open()
    m = EmailMessage()
    m["From"], m["To"] = "metodist@school5.example", "personbibl@nlrs.ru"
    m["Subject"], m["Message-ID"] = "Список сотрудников для рассылки", "<bomb@school5.example>"
    m.set_content("Добрый день! Направляем список учителей.")
    m.add_attachment(bombs["bomb"].read_bytes(), maintype="application",
                     subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     filename="сотрудники.xlsx")
    source.append("INBOX", bytes(m))
    stats = app.intake(source).run_once()
    assert stats.review == 1 and stats.processed == 0
    review = source.folder_path(app.settings.mailbox.review_folder)
    assert len(list((review / "cur").iterdir()) + list((review / "new").iterdir())) == 1
    with app.db.session() as s:
        row = s.scalar(select(Message))
        assert row.state == "review" and row.category == "review"
        assert "список контактов не прочитан: «сотрудники.xlsx»" in row.reason
        assert "outreach.max_inflated_size" in row.reason


def test_worksheet_cells_are_counted_before_openpyxl_builds_a_row():
    """A sheet's <row>/<c> tags are counted while it inflates, with or without a namespace
    prefix, across chunk boundaries: one row of 600 cells is refused by the columns limit."""
    import io
    import zipfile

    from mailproc.outreach.limits import _SheetCounter

    for prefix in ("", "x:"):
        cells = "".join(f'<{prefix}c r="A{i}"><{prefix}v>1</{prefix}v></{prefix}c>'
                        for i in range(600)).encode()
        sheet = f"<{prefix}sheetData><{prefix}row r=\"1\">".encode() + cells
        counter = _SheetCounter(TableLimits(columns=10_000))
        for i in range(0, len(sheet), 7):  # cut everywhere
            counter.feed(sheet[i:i + 7])
        counter.feed(b" " * 64)
        assert (counter.rows, counter.cells) == (1, 600), prefix
    wide = _xlsx([["ФИО", "E-mail"], ["x"] * 600])
    with zipfile.ZipFile(io.BytesIO(wide)) as z:
        assert b"<c " in z.read("xl/worksheets/sheet1.xml")
    with pytest.raises(TableLimitError, match="в строке 2 превышает предел 500"):
        read_table("t.xlsx", wide)
