"""Imports every module that defines tables, so ``metadata`` is complete for Alembic.

A module that adds tables adds its import here.
"""

from mailproc.store import models  # noqa: F401
from mailproc.store.base import Base

metadata = Base.metadata
