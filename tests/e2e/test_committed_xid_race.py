"""apply's reading of what an attempt committed (commands/apply/committed.py) against a real
PostgreSQL while other transactions start between its queries.

Each catalog row and each migration record is placed by how far back its transaction is from
the next xid. Counted from a next xid read anew for each query, a transaction that started
elsewhere in between (any writer on the server: the app, another test, apply's own history)
made a change and the record committed WITH it look apart, and the change looked unrecorded:
the retry was refused ("the attempt left committed widgets created, after its last recorded
migration"), seen under load in a full run. Here a transaction is started between every two
queries, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ecs_migrate.commands.apply import committed
from tests.apply_support import PgDatabase, pg_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as database:
        yield database


def test_a_change_committed_with_its_record_is_recorded_whoever_writes_meanwhile(
    db: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    with (
        psycopg.connect(db.url, autocommit=True) as conn,
        psycopg.connect(db.url, autocommit=True) as elsewhere,
    ):
        conn.execute("CREATE TABLE schema_migrations (version text)")
        base = committed.take(conn)
        with conn.transaction():  # a migration and its record, one transaction (Rails, dbmate)
            conn.execute("CREATE TABLE widgets (id int)")
            conn.execute("INSERT INTO schema_migrations VALUES ('1')")
        real = committed.query

        def query_then_a_writer_elsewhere(*args: Any) -> list[tuple[Any, ...]]:
            rows = real(*args)
            elsewhere.execute("SELECT txid_current()")  # takes an xid, as any writer does
            return rows

        monkeypatch.setattr(committed, "query", query_then_a_writer_elsewhere)
        assert committed.since(conn, base).clean

        with conn.transaction():  # a change after the last record: not recorded, whatever
            conn.execute("CREATE TABLE gadgets (id int)")
        left = committed.since(conn, base)
        assert left.changes == ("gadgets created",), left
