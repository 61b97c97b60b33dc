"""Schema migrations: bring the database to this code's newest revision, or say why not.

    several nodes start at once ─► each: take the migration lock ─► read the revision
        ─► unknown to this code (a newer Telex migrated it) ─► SchemaMismatch, one line
        ─► behind, and migrating is off (``--no-migrate``) ─► SchemaMismatch, one line
        ─► behind ─► upgrade to head ─► commit (releases the lock) ─► the next node finds head

The lock: on PostgreSQL a transaction-scoped advisory lock taken in the migration's own
transaction (DDL is transactional there, so a node that waited sees the finished schema); on
SQLite the writer's ``BEGIN IMMEDIATE`` already admits one writer per database file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["MIGRATE_LOCK_KEY", "SchemaMismatch", "migrate_schema"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key for migrations ("telexmig" in ASCII), distinct from the append lock.
MIGRATE_LOCK_KEY = 0x74656C65786D6967


class SchemaMismatch(Exception):
    """The database's schema is not the one this code runs on; the message says what to do."""


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def migrate_schema(conn: Connection, *, upgrade: bool) -> tuple[str | None, str]:
    """Check (and with ``upgrade``, apply) migrations on ``conn``; the caller commits. Returns the
    revision found and the revision now in place; ``SchemaMismatch`` when they cannot agree."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK_KEY})
    cfg = _config(conn)
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    assert head is not None
    found = MigrationContext.configure(conn).get_current_heads()
    for revision in found:
        try:
            known = script.get_revision(revision) is not None
        except CommandError:
            known = False
        if not known:
            raise SchemaMismatch(
                f"the schema is at revision {revision}, newer than this Telex knows (its newest is "
                f"{head}): run the newer Telex, or restore the backup taken before the upgrade"
            )
    current = found[0] if found else None
    if current == head:
        return current, head
    if not upgrade:
        raise SchemaMismatch(
            f"the schema is at revision {current or 'none (an empty database)'} and this Telex needs "
            f"{head}: run `telex migrate` with the same --database, or start without --no-migrate"
        )
    command.upgrade(cfg, "head")
    return current, head
