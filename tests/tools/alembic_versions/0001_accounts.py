"""accounts: the table the next revision ALTERs, already there when the tests begin.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute("CREATE TABLE accounts (id int PRIMARY KEY)")
    op.execute("INSERT INTO accounts SELECT generate_series(1, 100)")


def downgrade() -> None:
    op.execute("DROP TABLE accounts")
