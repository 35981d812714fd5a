"""Reading tables people send: CSV (any delimiter, UTF-8 or windows-1251), XLSX, and tables
written into a letter's body (tab, ";" or "|" separated text, or an HTML <table>)."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from mailproc.errors import MailprocError
from mailproc.outreach.limits import (TableLimitError, TableLimits, bounded_rows,
                                      check_archive, check_text_cells)


@dataclass
class Table:
    """Rows as lists of cell values; ``numbers[i]`` is row i's number as a person sees it."""

    rows: Iterator[list]
    total: int | None  # rows in the file when known cheaply (for a progress bar)


def read_table(name: str, data: bytes | None = None,
               limits: TableLimits | None = None) -> Table:
    """A table from a file path (``data`` None) or from bytes named ``name``, read within
    ``limits`` (mailproc.outreach.limits): past one, ``TableLimitError`` names it, raised here
    or while ``rows`` is iterated."""
    limits = limits or TableLimits()
    deadline = limits.deadline()
    suffix = Path(name).suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv", ".txt", ".tsv", ""):
        raise MailprocError(f"{name}: неизвестный формат таблицы; сохраните её как .xlsx "
                            f"или .csv")
    with _named(name):
        if suffix in (".xlsx", ".xlsm"):
            table = _read_xlsx(name, data, limits, deadline)
        else:
            raw = Path(name).read_bytes() if data is None else data
            table = _read_csv(decode_text(raw), limits, deadline)
    return Table(_named_rows(table.rows, name), table.total)


@contextlib.contextmanager
def _named(name: str):
    """A limit's refusal says which file it is about."""
    try:
        yield
    except TableLimitError as exc:
        raise TableLimitError(f"«{Path(name).name}»: {exc}") from None


def _named_rows(rows: Iterator[list], name: str) -> Iterator[list]:
    with _named(name):
        yield from rows


def decode_text(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else windows-1251, the usual alternatives in Russian files."""
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _read_csv(text: str, limits: TableLimits, deadline: float) -> Table:
    # the header line decides: csv.Sniffer guesses wrong on short Russian files with quoted
    # cells, and Excel writes ";" in Russian locales, "," elsewhere
    head = []
    for line in _lines(text):
        if line.strip():
            head.append(line[:64 * 1024])
            if len(head) == 10:
                break
    delimiter = max(";,\t|", key=lambda d: sum(line.count(d) for line in head))
    check_text_cells(text, delimiter, limits)
    total = text.count("\n") + (not text.endswith("\n"))
    return Table(bounded_rows(csv.reader(io.StringIO(text), delimiter=delimiter), limits,
                              deadline), total)


def _lines(text: str) -> Iterator[str]:
    """The first lines of ``text`` without splitting all of it (a file may be one long line)."""
    start = 0
    for _ in range(20):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def _read_xlsx(name: str, data: bytes | None, limits: TableLimits, deadline: float) -> Table:
    import openpyxl  # imported here: only imports need it

    source = io.BytesIO(data) if data is not None else name
    try:
        check_archive(source, limits, deadline)  # before openpyxl inflates anything
        if data is not None:
            source.seek(0)
        # read_only streams the sheet instead of building every cell object: ~3x faster and
        # a fraction of the memory on registries of thousands of rows
        wb = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except TableLimitError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise MailprocError(f"{Path(name).name}: не удаётся прочитать XLSX ({exc}); "
                            f"откройте файл в Excel и сохраните заново") from None
    ws = wb.worksheets[0]
    total = ws.max_row if isinstance(ws.max_row, int) else None
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # rows as written, not padded to the size the file declares

    def rows() -> Iterator[list]:
        try:
            yield from bounded_rows(ws.iter_rows(values_only=True), limits, deadline)
        finally:
            wb.close()

    return Table(rows(), total)


def text_table(text: str) -> list[list[str]]:
    """A table typed into a letter: the longest run of lines split the same way."""
    best: list[list[str]] = []
    for sep in ("\t", ";", "|"):
        run: list[list[str]] = []
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split(sep)]
            if len(cells) >= 2 and sep in line:
                run.append(cells)
            elif run:
                best = max(best, run, key=len)
                run = []
        best = max(best, run, key=len)
    return best if len(best) >= 2 else []


class _HTMLTable(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_table(html: str) -> list[list[str]]:
    """The largest <table> of an HTML body."""
    parser = _HTMLTable()
    parser.feed(html)
    return max(parser.tables, key=len, default=[])
