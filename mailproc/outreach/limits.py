"""Bounded reading of a table someone sent: nothing a file says about itself is trusted.

A hostile XLSX is a ZIP archive (APPNOTE.TXT 4.3) whose parts inflate to far more than the
file: a 5 MB letter can carry a sharedStrings.xml of 1 GB, which openpyxl reads whole into a
list. So, before openpyxl opens the file:

1. every part's size in the archive's central directory is checked against
   ``outreach.max_inflated_size`` (nothing is inflated yet);
2. every part is then inflated once, in chunks that are counted and dropped, and refused as
   soon as it passes the limit: the directory can lie, and ``zipfile`` would trust it (it stops
   at the declared size, so the part is read with the declared size raised to the limit);
   a part whose real size differs from the declared one is refused as damaged;
3. while a worksheet part inflates, its ``<row>`` and ``<c>`` tags are counted, so a sheet of
   too many rows, columns or cells is refused before openpyxl builds a single row of it.

Rows then pass through ``bounded_rows`` (CSV and XLSX alike): rows, columns of a row (trailing
empty cells do not count), cells in all, and the time since reading began. Every refusal is a
``TableLimitError`` (a ``MailprocError``) whose text, in Russian, names the limit and its
setting: a mailed table goes to review with it, ``mailproc contacts import`` prints it.
"""

from __future__ import annotations

import copy
import re
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from mailproc.errors import MailprocError

CHUNK = 1024 * 1024


class TableLimitError(MailprocError):
    """A table passed one of the limits; the text names it (Russian, for librarians)."""


@dataclass(frozen=True)
class TableLimits:
    rows: int = 50_000
    columns: int = 500
    cells: int = 1_000_000
    inflated: int = 20 * 1024 * 1024
    seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings) -> "TableLimits":
        """From the ``[outreach]`` settings (a whole Settings object is accepted too)."""
        o = getattr(settings, "outreach", settings)
        return cls(o.max_table_rows, o.max_table_columns, o.max_table_cells,
                   o.max_inflated_size, o.max_table_time)

    def deadline(self) -> float:
        return time.monotonic() + self.seconds


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} МБ".replace(",", " ") if size >= 1024 * 1024 \
        else f"{size} байт"


def too_many(what: str, limit: int, key: str, where: str = "в таблице") -> TableLimitError:
    return TableLimitError(f"число {what} {where} превышает предел {_n(limit)} "
                           f"(настройка outreach.{key})")


def too_slow(limits: TableLimits) -> TableLimitError:
    return TableLimitError(f"чтение таблицы не уложилось в предел времени "
                           f"{limits.seconds:g} с (настройка outreach.max_table_time)")


def check_time(limits: TableLimits, deadline: float) -> None:
    if time.monotonic() > deadline:
        raise too_slow(limits)


# -- rows --------------------------------------------------------------------------------------


def bounded_rows(rows: Iterable, limits: TableLimits, deadline: float) -> Iterator[list]:
    """``rows`` as lists, refused on the first row past a limit (counted as they come)."""
    cells = 0
    for number, row in enumerate(rows, start=1):
        if number > limits.rows:
            raise too_many("строк", limits.rows, "max_table_rows")
        row = list(row)
        width = len(row)
        while width and row[width - 1] in (None, ""):
            width -= 1
        if width > limits.columns:
            raise too_many("столбцов", limits.columns, "max_table_columns",
                           where=f"в строке {_n(number)}")
        cells += width
        if cells > limits.cells:
            raise too_many("ячеек", limits.cells, "max_table_cells")
        check_time(limits, deadline)
        yield row[:width]


def check_text_cells(text: str, delimiter: str, limits: TableLimits) -> None:
    """Before a CSV is split: every delimiter and line break may start a cell, so more of them
    than the cell limit is refused without building a single row (a line of a million
    delimiters would otherwise become one list of a million cells)."""
    if text.count(delimiter) + text.count("\n") + 1 > limits.cells:
        raise too_many("ячеек", limits.cells, "max_table_cells")


# -- the ZIP archive of an XLSX ------------------------------------------------------------------

#: a row or a cell element opening (``<row ...>``, ``<c r="A1" ...>``, ``<c/>``), SpreadsheetML,
#: with or without a namespace prefix (``<x:row>``, as the Open XML SDK writes)
_TAGS = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?(row|c)[\s/>]")
_LONGEST_TAG = 40  # "<" + a prefix of up to 32 characters + ":row "


class _SheetCounter:
    """Rows, cells and cells per row of a worksheet part, counted in its inflated chunks."""

    def __init__(self, limits: TableLimits):
        self.limits = limits
        self.rows = self.cells = self.in_row = 0
        self.carry = b""

    def feed(self, chunk: bytes) -> None:
        buf = self.carry + chunk
        cut = max(0, len(buf) - _LONGEST_TAG)  # a tag cut at the end is found next time
        limits = self.limits
        for m in _TAGS.finditer(buf, 0, len(buf)):
            if m.start() >= cut:
                break
            if m.group(1) == b"row":
                self.rows += 1
                self.in_row = 0
                if self.rows > limits.rows:
                    raise too_many("строк", limits.rows, "max_table_rows")
            else:
                self.in_row += 1
                self.cells += 1
                if self.in_row > limits.columns:
                    raise too_many("столбцов", limits.columns, "max_table_columns",
                                   where=f"в строке {_n(self.rows)}")
                if self.cells > limits.cells:
                    raise too_many("ячеек", limits.cells, "max_table_cells")
        self.carry = buf[cut:]


def check_archive(source: str | IO[bytes], limits: TableLimits, deadline: float) -> None:
    """Refuse an XLSX whose parts inflate past the limits (see the module docstring);
    ``zipfile.BadZipFile`` for an archive that cannot be read at all."""
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        for info in infos:  # 1. the directory's word, before anything is inflated
            if info.file_size > limits.inflated:
                raise TableLimitError(
                    f"часть архива «{info.filename}» распаковывается в {_mb(info.file_size)}, "
                    f"это больше предела {_mb(limits.inflated)} (настройка "
                    f"outreach.max_inflated_size)")
        for info in infos:  # 2. counted while inflating
            _inflate_counted(archive, info, limits, deadline)


def _inflate_counted(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: TableLimits,
                     deadline: float) -> None:
    sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
    counter = _SheetCounter(limits) if sheet else None
    # zipfile stops (and checks the CRC) at the declared size: let it run past the limit
    probe = copy.copy(info)
    probe.file_size = limits.inflated + 2 * CHUNK + 1
    total = 0
    with archive.open(probe) as part:  # a damaged part raises BadZipFile (CRC) at its end
        while chunk := part.read(CHUNK):
            total += len(chunk)
            if total > limits.inflated:
                raise TableLimitError(
                    f"часть архива «{info.filename}» при распаковке превышает предел "
                    f"{_mb(limits.inflated)} (настройка outreach.max_inflated_size)")
            if counter is not None:
                counter.feed(chunk)
            check_time(limits, deadline)
    if total != info.file_size:
        raise zipfile.BadZipFile(f"part {info.filename} does not match the archive's directory")
