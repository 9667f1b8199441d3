"""The MySQL/MariaDB lock-wait watcher's pure parts: reading the processlist's HOST and STATE,
the schema's changes between two shapes, the privileges' sentence, a session's state."""

from __future__ import annotations

import pytest

from ecs_migrate.commands.apply import mysessions, mywatch
from ecs_migrate.commands.apply.myshape import Shape, changes


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.5:41234", ("10.0.0.5", 41234)),
        ("::1:41234", ("::1", 41234)),
        ("[fd00::7]:3306", ("fd00::7", 3306)),
        ("app-7f9c.internal:5000", ("app-7f9c.internal", 5000)),
        ("localhost", None),  # a unix socket's session: no port
        ("", None),
        (None, None),
        ("10.0.0.5:", None),
        (":5000", None),
    ],
)
def test_split_host(host: str | None, expected: tuple[str, int] | None) -> None:
    assert mysessions.split_host(host) == expected


@pytest.mark.parametrize(
    "state",
    [
        "Waiting for table metadata lock",
        "Waiting for schema metadata lock",
        "Waiting for stored function metadata lock",
        "Waiting for trigger metadata lock",
        "Waiting for table level lock",
    ],
)
def test_metadata_lock_waits_are_recognised(state: str) -> None:
    assert mywatch.is_lock_wait(state)


@pytest.mark.parametrize(
    "state",
    ["", None, "User lock", "Sending data", "Waiting for table flush", "updating", "Sleep"],
)
def test_other_states_are_not_lock_waits(state: str | None) -> None:
    assert not mywatch.is_lock_wait(state)


def test_a_host_name_counts_only_if_it_resolves_to_this_address() -> None:
    assert mysessions._same_host("127.0.0.1", "127.0.0.1")
    assert mysessions._same_host("::ffff:127.0.0.1", "127.0.0.1")
    assert mysessions._same_host("localhost", "127.0.0.1")
    assert not mysessions._same_host("10.0.0.9", "127.0.0.1")
    assert not mysessions._same_host("no-such-host.invalid", "127.0.0.1")


def shape(**kinds: dict[tuple[str, ...], tuple[str, ...]]) -> Shape:
    return {kind: dict(objects) for kind, objects in kinds.items()}


BASE = shape(
    table={("app", "acc"): ("BASE TABLE", "InnoDB", "t0")},
    column={
        ("app", "acc", "id"): ("int(11)", "NO", "", "", "1"),
        ("app", "acc", "name"): ("text", "YES", "NULL", "", "2"),
    },
    index={("app", "acc", "PRIMARY"): ("id  0",)},
    constraint={("app", "acc", "PRIMARY"): ("PRIMARY KEY",)},
    trigger={},
    routine={},
)


def test_an_unchanged_schema_has_no_changes() -> None:
    assert changes(BASE, shape(**BASE)) == []


def test_a_table_created_is_said_once_not_with_each_column() -> None:
    after = shape(**BASE)
    after["table"] = {**BASE["table"], ("app", "made"): ("BASE TABLE", "InnoDB", "t1")}
    after["column"] = {**BASE["column"], ("app", "made", "id"): ("int(11)", "YES", "", "", "1")}
    after["index"] = {**BASE["index"], ("app", "made", "PRIMARY"): ("id  0",)}
    assert changes(BASE, after) == ["table app.made created"]


def test_columns_and_indexes_added_dropped_or_changed() -> None:
    after = shape(**BASE)
    after["table"] = {("app", "acc"): ("BASE TABLE", "InnoDB", "t2")}  # rebuilt by the ALTER
    after["column"] = {
        ("app", "acc", "id"): ("bigint(20)", "NO", "", "", "1"),
        ("app", "acc", "note"): ("text", "YES", "NULL", "", "3"),
    }
    after["index"] = {**BASE["index"], ("app", "acc", "by_note"): ("note 10 1",)}
    assert changes(BASE, after) == [  # the table rebuilt: said by its parts
        "column app.acc.id changed",
        "column app.acc.name dropped",
        "column app.acc.note added",
        "index by_note on app.acc added",
    ]


def test_a_table_rebuilt_or_reordered_is_said_once() -> None:
    rebuilt = shape(**BASE)
    rebuilt["table"] = {("app", "acc"): ("BASE TABLE", "Aria", "t2")}
    assert changes(BASE, rebuilt) == ["table app.acc altered"]
    reordered = shape(**BASE)
    reordered["table"] = {("app", "acc"): ("BASE TABLE", "InnoDB", "t2")}
    reordered["column"] = {
        ("app", "acc", "id"): ("int(11)", "NO", "", "", "2"),
        ("app", "acc", "name"): ("text", "YES", "NULL", "", "1"),
    }
    assert changes(BASE, reordered) == ["columns of app.acc reordered"]


def test_a_table_dropped_is_said_once() -> None:
    assert changes(BASE, shape(table={}, column={}, index={}, constraint={})) == [
        "table app.acc dropped"
    ]


def test_the_tools_record_tables_and_apply_history_count_as_nothing() -> None:
    after = shape(**BASE)
    after["table"] = {
        **BASE["table"],
        ("app", "SequelizeMeta"): ("BASE TABLE", "InnoDB", "t1"),
        ("app", "schema_migrations"): ("BASE TABLE", "InnoDB", "t1"),
        ("app", "ecs_migrate_history"): ("BASE TABLE", "InnoDB", "t1"),
    }
    after["column"] = {**BASE["column"], ("app", "SequelizeMeta", "name"): ("varchar", "", "")}
    assert changes(BASE, after) == []


def test_routines_and_triggers() -> None:
    after = shape(**BASE)
    after["routine"] = {("app", "", "f"): ("FUNCTION", "t1")}
    after["trigger"] = {("app", "acc", "stamp"): ("BEFORE", "INSERT", "t1")}
    assert changes(BASE, after) == ["trigger stamp on app.acc added", "routine app.f created"]


def test_missing_privileges_are_said_in_one_sentence_with_the_grant() -> None:
    assert mysessions.missing_privileges({"USAGE"}, "app@%") == (
        "Lock-wait guard: apply's user app@% lacks PROCESS, so it sees only its own user's "
        "sessions: a command that connects as another user is not watched, and blockers of "
        "other users are not named; and CONNECTION ADMIN (or SUPER), so it can stop only its "
        "own user's statements (GRANT PROCESS, CONNECTION ADMIN ON *.* TO 'app'@'%'). A "
        "command connecting as the same user is watched and stopped all the same."
    )
    mysql = mysessions.missing_privileges({"PROCESS"}, "app@10.0.%", maria=False)
    assert mysql is not None
    assert "lacks CONNECTION_ADMIN (or SUPER), so it can stop only" in mysql
    assert "(GRANT CONNECTION_ADMIN ON *.* TO 'app'@'10.0.%')" in mysql
    assert "PROCESS" not in mysql
    assert mysessions.missing_privileges({"PROCESS", "CONNECTION_ADMIN"}, "app@%") is None
    assert mysessions.missing_privileges({"PROCESS", "CONNECTION ADMIN"}, "app@%") is None
    assert mysessions.missing_privileges({"PROCESS", "SUPER"}, "app@%") is None
    assert mysessions.missing_privileges({"ALL PRIVILEGES"}, "root@localhost") is None


def test_global_grants_are_read_from_show_grants() -> None:
    lines = [
        "GRANT PROCESS, CONNECTION ADMIN ON *.* TO `watch`",
        "GRANT `watch` TO `app`@`%`",
        "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`%`",
        "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*00'",
    ]
    assert mysessions.global_grants(lines) == {"PROCESS", "CONNECTION ADMIN", "USAGE"}
    assert mysessions.global_grants(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`"]) == {
        "ALL PRIVILEGES"
    }


@pytest.mark.parametrize(
    ("command", "state", "in_transaction", "expected"),
    [
        ("Sleep", "", True, "idle in transaction"),
        ("Sleep", "", False, "idle"),
        ("Query", "Sending data", True, "Sending data"),
        ("Query", "", False, "Query"),
        (None, None, False, "active"),
    ],
)
def test_session_state(
    command: str | None, state: str | None, in_transaction: bool, expected: str
) -> None:
    assert mywatch.session_state(command, state, in_transaction) == expected


def test_a_watcher_before_the_command_starts_does_nothing() -> None:
    where = mysessions.MyVantage(("127.0.0.1", 40000), ("127.0.0.1", 3306), "127.0.0.1")
    said: list[str] = []
    watcher = mywatch.MyWatcher(where, 0.5, said.append)

    class Unusable:
        def cursor(self) -> None:
            raise AssertionError("no query before begin()")

    watcher.poll(Unusable())
    assert (watcher.events, watcher.saw_sessions, watcher.broken, said) == ([], False, None, [])
    assert watcher.every == 0.1


def test_a_failing_look_stops_the_watch_and_is_said_once() -> None:
    where = mysessions.MyVantage(("127.0.0.1", 40000), ("127.0.0.1", 3306), "127.0.0.1")
    said: list[str] = []
    watcher = mywatch.MyWatcher(where, 0.5, said.append)
    watcher.begin(1)

    class Gone:
        def cursor(self) -> None:
            raise OSError("connection reset")

    watcher.poll(Gone())
    watcher.poll(Gone())
    assert watcher.broken == "connection reset"
    assert said == [
        "Lock-wait guard: stopped watching the command's sessions (connection reset): this "
        "attempt is not retried."
    ]
