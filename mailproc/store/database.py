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
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailproc.errors import StoreError
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
        cur.close()

    return on_connect


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
        raise StoreError(f"database.url: cannot parse {url!r}; write sqlite:///PATH or "
                         f"postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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
        except OperationalError as exc:
            raise StoreError(f"database.url: cannot open {parsed.render_as_string()}: "
                             f"{' '.join(str(exc.orig).split())}") from None
    return db
