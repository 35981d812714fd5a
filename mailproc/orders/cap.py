"""The 30% cap on digitising one book for one reader (instruction 2.8: "заказы на оцифровку
30% от книги").

Pages already delivered or promised to the reader from the same work, plus the pages now
asked for, may not exceed the share of the book's page count. Articles are not capped; a book
whose page count is unknown cannot be checked and passes (the department is asked to tell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CapCheck:
    allowed: bool
    book_pages: int
    limit: int  # pages allowed in total for this reader and work
    before: int  # pages already delivered or on order
    requested: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.before)


def check_cap(*, kind: str, book_pages: int, requested: int, before: int,
              share: float) -> CapCheck:
    if kind != "book" or book_pages <= 0:
        return CapCheck(True, book_pages, 0, before, requested)
    limit = math.floor(book_pages * share)
    return CapCheck(before + requested <= limit, book_pages, limit, before, requested)
