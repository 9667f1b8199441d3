"""audit, then accounts.note: a schema change first, then an ALTER that may wait for a lock.

audit.probe is what PGOPTIONS gave the session (-c matrix.probe=...), if the driver passed
PGOPTIONS on; NULL if it did not.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("CREATE TABLE audit AS SELECT current_setting('matrix.probe', true) AS probe")
    op.add_column("accounts", sa.Column("note", sa.Text()))


def downgrade() -> None:
    op.drop_column("accounts", "note")
    op.execute("DROP TABLE audit")
