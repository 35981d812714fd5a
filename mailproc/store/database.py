"""Engine and sessions.

SQLite runs in WAL mode with a busy timeout so that the daemon and the command line can work
on one database at once (readers never block the writer; writers wait instead of failing).
Write transactions are kept short by the callers: one message, one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from mailproc.config import redact
from mailproc.errors import StorageError, StoreError
from mailproc.store import storable


class Database:
    """One engine and its session factory."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        _configure_mappers()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def session(self) -> Session:
        """A plain session for read-only work; the caller closes it."""
        return self._sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    def forget_freed(self) -> bool:
        """After personal data was deleted or blanked: make SQLite drop every old copy of it.

        ``secure_delete`` (set on every connection) already zeroes freed cells and pages in
        the pages written; the older page images still sit in the -wal file until a
        checkpoint copies the new ones into the database file, and the WAL keeps them past
        that until it is truncated. ``wal_checkpoint(TRUNCATE)`` does both; it waits for
        readers (busy_timeout) and returns False when one kept it from finishing (the next
        purge or the daily job tries again). PostgreSQL: dead row versions stay in its
        files until VACUUM (autovacuum) reclaims them; nothing to do here."""
        if not self.is_sqlite:
            return True
        raw = self.engine.raw_connection()  # no BEGIN: a checkpoint runs outside transactions
        try:
            busy, _log, _moved = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        return not busy


def _configure_mappers() -> None:
    """Import every model module and resolve the relationships now, in the thread that
    opens the database, before the daemon starts its threads.

    SQLAlchemy configures mappers lazily, on the first query, and a failure is final for the
    process ("One or more mappers failed to initialize"). Left lazy, a query in one thread
    (the outreach pass) could configure while another thread was half-way through importing
    a model module (QuestionCase defined, QuestionMessage not yet): seen in the two-instance
    benchmark as an instance that failed every pass until it was restarted.
    """
    from sqlalchemy.orm import configure_mappers

    import mailproc.store.models_all  # noqa: F401  (every table's module)

    configure_mappers()


def _sqlite_pragmas(busy_timeout_ms: int):
    def on_connect(dbapi_conn, _record):
        # pysqlite's own transaction handling would defer BEGIN; we let SQLAlchemy emit it.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # personal data deleted or blanked (purge, withdrawal) is overwritten with zeros in
        # the page, not left in free space for a byte search to find (see forget_freed);
        # some SQLite builds (Debian's) have it on by default, others do not
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    return on_connect


def _private_sqlite_files(path: Path) -> None:
    """The database file exists as 0600 before SQLite opens it: SQLite gives its -wal and
    -shm the database file's permissions, so all three are private whatever the umask."""
    from mailproc.private import private_dir, private_file

    private_dir(path.parent, narrow=False)
    private_file(path)
    for extra in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + extra)
        if side.exists():
            private_file(side)


def _sqlite_begin(conn):
    # BEGIN IMMEDIATE takes the write lock at the start, so two writers queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_engine(url: str) -> Engine:
    """PostgreSQL through psycopg 3, tuned for mailproc's batched INSERTs.

    The intake writes a fetched batch's rows with one INSERT ... VALUES (...), (...) (SQLAlchemy's
    "insertmanyvalues"), about 850 parameters for 50 messages. psycopg converts a query's
    ``%(name)s`` placeholders with a regular expression and caches the result only for
    queries under 4,096 characters and 50 parameters (psycopg discussion #628: ORMs' long
    INSERTs vary too much to cache). Ours do not vary (one text per batch size), and
    converting them again each time cost about a fifth of an instance's CPU: measured with
    ``tests.bench.two_instances``, one instance went from 1,290-1,490 to 1,690 messages a
    second with the limits raised. The limits are module constants of ``psycopg._queries``;
    ``tests/unit/test_database_engine.py`` fails if a psycopg release renames them.
    INSERTs without RETURNING (the decision rows, a mailing's outbox rows) take the same
    multi-row form instead of one execute per row.

    Text is made storable on the way out (mailproc.store.storable): a NUL or a lone surrogate
    in a letter must not fail the statement, least of all the one filing it for review.
    """
    try:
        from psycopg import _queries
    except ImportError:  # the driver named in the URL is reported by create_engine
        _queries = None
    for name, value in (("MAX_CACHED_STATEMENT_LENGTH", 1 << 20),
                        ("MAX_CACHED_STATEMENT_PARAMS", 1 << 16)):
        if _queries is not None and hasattr(_queries, name):
            setattr(_queries, name, max(getattr(_queries, name), value))
    engine = create_engine(url, pool_pre_ping=True, json_serializer=storable.json_dumps)
    engine.dialect.use_insertmanyvalues_wo_returning = True
    storable.install(engine)  # NUL and lone surrogates: see mailproc.store.storable
    return engine


def open_database(url: str, busy_timeout: float = 30.0, migrate: bool = True) -> Database:
    """Open (and by default migrate) the database at ``url``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database.url: cannot parse {redact(url)!r}; write sqlite:///PATH or "
                         f"postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                _private_sqlite_files(Path(parsed.database))  # makes the folder too
            except OSError as exc:
                from mailproc.startup import storage_problem

                raise storage_problem(exc, "database.url", Path(parsed.database).parent) \
                    from None
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_pragmas(int(busy_timeout * 1000)))
        event.listen(engine, "begin", _sqlite_begin)
    else:
        try:
            engine = _postgres_engine(url)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise StoreError(f"database.url: no database driver for "
                             f"{parsed.drivername!r} ({exc}); write sqlite:///PATH or "
                             f"postgresql+psycopg://user@host/db") from None
    db = Database(engine)
    if migrate:
        from mailproc.store.migrate import upgrade

        try:
            upgrade(db)
        except DBAPIError as exc:
            raise open_problem(parsed, exc) from None
    return db


#: what the database says -> (a setting is wrong, the fix); anything else is the storage's
_SETTING_PROBLEMS = (
    ("password authentication failed", "set the password (MAILPROC_DATABASE_URL)"),
    ("role", "create that user in PostgreSQL or fix the user in the URL"),
    ("does not exist", "create the database (createdb) or fix its name in the URL"),
    ("no password supplied", "set the password (MAILPROC_DATABASE_URL)"),
)
_STORAGE_FIXES = (
    ("disk is full", "free space on the database's disk; the service starts again by itself"),
    ("no space left", "free space on the database's disk; the service starts again by itself"),
    ("readonly database", "make the database file and its folder writable by the service "
                          "user, or remount the disk read-write"),
    ("not a database", "the file is damaged or not mailproc's: restore it from a backup "
                       "(mailproc restore)"),
    ("unable to open", "check that the folder exists and the service user may write it"),
    ("connection refused", "start PostgreSQL, or fix the host and port in the URL"),
    ("could not connect", "start PostgreSQL, or fix the host and port in the URL"),
)


def open_problem(parsed, exc: DBAPIError) -> StoreError:
    """One line for a database that does not open: StoreError when a setting is at fault
    (exit 78 at start), StorageError when the storage is (exit 74; see mailproc.startup)."""
    text = " ".join(str(exc.orig).split())
    where = f"database.url: cannot open {parsed.render_as_string()}: {text}"
    low = text.lower()
    for needle, fix in _SETTING_PROBLEMS:
        if needle in low and "connection refused" not in low:
            return StoreError(f"{where}; {fix}")
    for needle, fix in _STORAGE_FIXES:
        if needle in low:
            return StorageError(f"{where}; {fix}")
    return StorageError(f"{where}; check the database server and its disk")
