"""Fetch the next batch while the current one is processed (sources with ``clone()``: IMAP).

Why: a pass over a full folder alternates between waiting for the server (Dovecot parsing MIME
for BODYSTRUCTURE, reading parts and bodies) and Python work (decoding, deciding, one
transaction per message). One after the other, the waits add up (measured: about a fifth of
``run --once``). Here one helper thread fetches batch n+1 while batch n is processed.
imapclient is not thread-safe, so that thread owns a connection of its own (``clone()``) and
the caller's connection stays the only one that files (MOVE, STORE).

Fetching records nothing: the database and the folders are touched by the caller only, so
exactly-once is unchanged; a crash loses fetched bytes and nothing else. At most two batches
are in memory (the one processed, the one fetched ahead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from mailproc.errors import SourceUnavailable

log = logging.getLogger("mailproc.mailbox.prefetch")

C = TypeVar("C")
R = TypeVar("R")


def prefetched(source, chunks: Sequence[C], fetch: Callable[[object, C], R]
               ) -> Iterator[tuple[C, R]]:
    """``(chunk, fetch(some_source, chunk))`` in order, one chunk fetched ahead on a second
    connection. Inline on ``source`` when there is nothing to overlap (one chunk), when the
    source cannot clone itself, or when the second connection does not see the same
    UIDVALIDITY (the UIDs would not name the same messages, RFC 3501 2.3.1.1)."""
    helper = _helper(source) if len(chunks) > 1 else None
    if helper is None:
        for chunk in chunks:
            yield chunk, fetch(source, chunk)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-prefetch")
    ahead: Future | None = None
    try:
        ahead = pool.submit(fetch, helper, chunks[0])
        for i, chunk in enumerate(chunks):
            current = ahead
            ahead = pool.submit(fetch, helper, chunks[i + 1]) if i + 1 < len(chunks) else None
            yield chunk, current.result()
    finally:
        if ahead is not None and not ahead.cancel() and not ahead.done():
            # stopped early (SIGTERM, an error): the batch in flight is not waited for, which
            # on a hung server could take the whole socket timeout
            abort = getattr(helper, "abort", None)
            if abort is not None:
                abort()
        pool.shutdown(wait=True)
        helper.close()


def _helper(source):
    clone = getattr(source, "clone", None)
    if clone is None:
        return None
    helper = clone()
    try:
        helper.open()
    except SourceUnavailable as exc:  # the caller's own connection decides what happens next
        log.info("no second connection for fetching ahead (%s); fetching inline",
                 type(exc).__name__)
        return None
    if helper.uidvalidity != source.uidvalidity:
        helper.close()
        return None
    return helper
