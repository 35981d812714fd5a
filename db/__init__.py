"""Alembic migrations (installed as ``mailproc.migrations``)."""
