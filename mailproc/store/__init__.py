"""Persistence: SQLAlchemy models, engine and sessions, migrations."""

from mailproc.store.base import Base, utcnow
from mailproc.store.database import Database, open_database

__all__ = ["Base", "Database", "open_database", "utcnow"]
