"""The store: SQLAlchemy 2 (async, Core-style) over SQLite (default) or PostgreSQL."""

from telex.store.database import Database

__all__ = ["Database"]
