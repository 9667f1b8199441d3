"""What an attempt left committed (committed.judge) and what apply's role lacks for the guard
(watch.missing_privileges): the pure parts. The catalog queries run against real PostgreSQL
in tests/e2e/test_apply_never_worse.py."""

from __future__ import annotations

from ecs_migrate.commands.apply.committed import judge
from ecs_migrate.commands.apply.watch import missing_privileges

BEFORE = {10: "accounts", 11: "accounts_pkey", 30: "schema_migrations"}

# (kind, name, relation, owner, invalid, back): back = how far back from the next xid.
ALTERED = [
    ("relation", "accounts", 10, 10, False, 2),
    ("column", "accounts.note", 10, 10, False, 2),
]
CREATED = [
    ("relation", "notes", 40, 40, False, 4),
    ("column", "notes.id", 40, 40, False, 4),
    ("relation", "notes_pkey", 41, 40, False, 4),
    ("constraint", "notes_pkey on notes", 0, 40, False, 4),
]


def test_nothing_new_is_clean() -> None:
    left = judge([], set(), None, BEFORE, BEFORE)
    assert left.clean and not left.invalid_indexes and left.describe() == ""


def test_a_change_with_no_record_is_named() -> None:
    left = judge(ALTERED + CREATED, set(), None, BEFORE, {**BEFORE, 40: "notes", 41: "x"})
    assert not left.clean
    # A table it created is one change: its columns, index and constraint are part of it.
    assert left.changes == (
        "accounts altered",
        "column accounts.note added or changed",
        "notes created",
    )


def test_changes_as_old_as_the_last_record_or_older_belong_to_recorded_migrations() -> None:
    # notes (back 4) was committed before the newest record (back 3); accounts (back 2) after.
    left = judge(ALTERED + CREATED, set(), 3, BEFORE, {**BEFORE, 40: "notes"})
    assert left.changes == ("accounts altered", "column accounts.note added or changed")
    assert judge(CREATED, set(), 4, BEFORE, BEFORE).clean  # committed with the record


def test_the_tools_bookkeeping_is_nothing() -> None:
    rows = [("relation", "knex_migrations_lock", 50, 50, False, 1)]
    assert judge(rows, {50}, None, BEFORE, BEFORE).clean


def test_a_drop_is_always_named_it_has_no_transaction_to_place() -> None:
    after = {k: v for k, v in BEFORE.items() if k != 30}
    left = judge([], set(), 1, BEFORE, after)
    assert left.changes == ("schema_migrations dropped",)


def test_an_invalid_index_is_told_apart_to_be_dropped() -> None:
    rows = [("relation", "accounts_by_id", 60, 10, True, 1)]
    left = judge(rows, set(), None, BEFORE, {**BEFORE, 60: "accounts_by_id"})
    assert left.clean and left.invalid_indexes == ("accounts_by_id",)


def test_many_changes_are_cut_short_when_said() -> None:
    rows = [("relation", f"t{i}", 100 + i, 100 + i, False, 1) for i in range(9)]
    left = judge(rows, set(), None, BEFORE, BEFORE)
    assert left.describe(limit=3) == "t0 created, t1 created, t2 created, and 6 more"


def test_privileges_a_superuser_or_a_member_of_both_lacks_nothing() -> None:
    assert missing_privileges("admin", True, False, False) is None
    assert missing_privileges("app", False, True, True) is None


def test_privileges_each_missing_role_is_named_with_the_grant() -> None:
    said = missing_privileges("app", False, False, True)
    assert said is not None and "pg_read_all_stats" in said and "pg_signal_backend," not in said
    both = missing_privileges("app", False, False, False)
    assert both is not None and "nor of pg_signal_backend" in both
    assert "GRANT pg_read_all_stats, pg_signal_backend TO app" in both
