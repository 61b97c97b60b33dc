"""Migrations 0011 and 0013 create exactly the tables numbers/schema.py and sms/schema.py describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from telex.numbers import schema as numbers_schema
from telex.sms import schema as sms_schema
from telex.store.database import Database
from telex.store.schema import metadata

OURS = {getattr(module, name).name for module in (numbers_schema, sms_schema) for name in module.__all__}


async def test_migration_matches_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db = Database(url)
    await db.migrate()
    await db.close()
    assert len(OURS) == 11
    mine = MetaData()
    for name in OURS:
        metadata.tables[name].to_metadata(mine)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), mine)
    engine.dispose()
    relevant = [
        d
        for d in diff
        if not (d[0] == "remove_table" or (d[0] == "remove_index" and d[1].table.name not in OURS))
    ]
    assert relevant == []
