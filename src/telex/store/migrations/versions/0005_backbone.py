"""The event backbone: topic memberships in one table, domain-event columns on the log.

Visibility used to live in each capability's own table (``chat_memberships`` and
``call_participants`` each had ``joined_pos``/``left_pos``); it now lives once, in
``topic_members``, for every topic. Existing intervals are copied over: a chat thread's topic is
its id; a call participant is a member of ``call:<call>`` and of ``call:<call>/<participant>``.

Also an index on ``users.revoked_at``: open realtime sockets learn of revocations and deletions
from one read of the users revoked since the last round, however many sockets are open.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_POS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "topic_members",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(160), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("joined_pos", _POS, nullable=False),
        sa.Column("left_pos", _POS, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_topic_members_topic", "topic_members", ["topic"])
    op.create_index("ix_topic_members_user_topic", "topic_members", ["user_id", "topic"])
    op.execute(
        "INSERT INTO topic_members (topic, user_id, joined_pos, left_pos) "
        "SELECT thread_id, user_id, joined_pos, left_pos FROM chat_memberships"
    )
    op.execute(
        "INSERT INTO topic_members (topic, user_id, joined_pos, left_pos) "
        "SELECT 'call:' || call_id, user_id, joined_pos, left_pos FROM call_participants"
    )
    op.execute(
        "INSERT INTO topic_members (topic, user_id, joined_pos, left_pos) "
        "SELECT 'call:' || call_id || '/' || id, user_id, joined_pos, left_pos FROM call_participants"
    )
    with op.batch_alter_table("chat_memberships") as batch:
        batch.drop_column("joined_pos")
        batch.drop_column("left_pos")
    with op.batch_alter_table("call_participants") as batch:
        batch.drop_column("joined_pos")
        batch.drop_column("left_pos")
    op.drop_index("ix_events_stream_position", "events")
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "stream", new_column_name="topic", existing_type=sa.String(128), type_=sa.String(160)
        )
        batch.add_column(sa.Column("version", sa.SmallInteger, nullable=False, server_default="1"))
        batch.add_column(sa.Column("id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(512), nullable=True))
        batch.add_column(sa.Column("audience", sa.Text, nullable=True))
    op.create_index("ix_events_topic_position", "events", ["topic", "position"])
    # Open sockets re-check revocations and deletions with one read of those since an instant.
    op.create_index("ix_users_revoked_at", "users", ["revoked_at"])


def downgrade() -> None:
    raise NotImplementedError("0005 is not reversible: restore a backup taken before upgrading")
