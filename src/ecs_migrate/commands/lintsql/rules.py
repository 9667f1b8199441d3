"""lint-sql's rules as data: squawk's rules with the severity ecs-migrate gives them, and
lint-sql's own rules for what squawk cannot see (code it does not analyse, psql includes).
docs/safety.md mirrors both tables; a test checks it."""

from __future__ import annotations

from ecs_migrate.common.findings import Finding, Fix
from ecs_migrate.common.severity import Severity

# squawk rule -> (severity, why it matters here). Rules not listed are warnings. The errors:
# rewrites and scans under ACCESS EXCLUSIVE, index builds that block writes, constraints
# validated under lock, SET NOT NULL without a proven check, and dropping or renaming what the
# running version of the app still uses.
RULES: dict[str, tuple[Severity, str]] = {
    "adding-field-with-default": (
        Severity.ERROR,
        "a volatile default rewrites the table under ACCESS EXCLUSIVE",
    ),
    "adding-required-field": (
        Severity.ERROR,
        "a NOT NULL column without a default fails or rewrites",
    ),
    "adding-not-nullable-field": (
        Severity.ERROR,
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE unless a valid CHECK proves it",
    ),
    "adding-serial-primary-key-field": (
        Severity.ERROR,
        "a serial primary key rewrites the table and builds its index under lock",
    ),
    "adding-primary-key-constraint": (
        Severity.ERROR,
        "a primary key builds its index under ACCESS EXCLUSIVE",
    ),
    "changing-column-type": (Severity.ERROR, "a type change rewrites the table under lock"),
    "constraint-missing-not-valid": (
        Severity.ERROR,
        "the constraint is validated by a scan under lock",
    ),
    "adding-foreign-key-constraint": (
        Severity.ERROR,
        "the foreign key is validated by a scan that blocks writes to both tables",
    ),
    "disallowed-unique-constraint": (
        Severity.ERROR,
        "a unique constraint builds its index under ACCESS EXCLUSIVE",
    ),
    "require-concurrent-index-creation": (
        Severity.ERROR,
        "CREATE INDEX without CONCURRENTLY blocks writes while it builds",
    ),
    "require-concurrent-index-deletion": (
        Severity.ERROR,
        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE",
    ),
    "ban-drop-column": (Severity.ERROR, "the running version of the app may still read it"),
    "ban-drop-table": (Severity.ERROR, "the running version of the app may still read it"),
    "ban-drop-database": (Severity.ERROR, "drops everything"),
    "renaming-column": (Severity.ERROR, "the running version of the app still uses the old name"),
    "renaming-table": (Severity.ERROR, "the running version of the app still uses the old name"),
    "ban-truncate-cascade": (Severity.ERROR, "empties every table that references it"),
    # apply's lock-wait guard bounds the command's lock waits from the server (docs/apply.md):
    "require-lock-timeout": (
        Severity.WARNING,
        "ecs-migrate apply bounds lock waits (--ddl-lock-timeout) when the migration runs under it",
    ),
}
SYNTAX_RULES = frozenset({"syntax-error", "invalid-syntax", "parse-error"})

# lint-sql's own rules: what runs but cannot be read is said, never passed in silence.
OWN_RULES: dict[str, tuple[Severity, str]] = {
    "opaque-do-block": (
        Severity.WARNING,
        "a DO block runs procedural code (dynamic SQL, EXECUTE) that lint-sql does not analyse",
    ),
    "opaque-routine-call": (
        Severity.WARNING,
        "a call runs a function or procedure whose body lint-sql does not analyse "
        "(a procedural language, or defined outside the input)",
    ),
    "opaque-routine-body": (
        Severity.WARNING,
        "an SQL function body that squawk cannot parse is not analysed",
    ),
    "opaque-sql-text": (
        Severity.WARNING,
        "a function that runs SQL given as text (dblink_exec...): that SQL is not analysed",
    ),
    "opaque-event-trigger": (
        Severity.WARNING,
        "an event trigger runs code that lint-sql does not analyse on every later DDL statement",
    ),
    "psql-gexec": (
        Severity.WARNING,
        "psql runs each value the query returns as SQL: those statements are not analysed",
    ),
    "psql-shell": (
        Severity.WARNING,
        "\\! runs a shell command, which lint-sql does not analyse",
    ),
    "psql-variable": (
        Severity.WARNING,
        "the statement uses a psql variable whose value is not in the script: not analysed",
    ),
    "psql-meta-command": (
        Severity.WARNING,
        "a psql meta-command whose effect lint-sql does not know: not analysed",
    ),
    "psql-include-unreadable": (
        Severity.ERROR,
        "an \\i or \\ir file that cannot be read: its statements are not analysed",
    ),
    "psql-include-cycle": (
        Severity.ERROR,
        "an \\i or \\ir that includes a file being read already: psql would never end",
    ),
}


def all_rules() -> dict[str, tuple[Severity, str]]:
    """Every rule lint-sql reports with a description: squawk's (as mapped) and its own."""
    return {**RULES, **OWN_RULES}


SqlFinding = Finding  # lint-sql's findings are the shared shape (their source: a file)


def finding(
    rule: str, severity: Severity, message: str, fix: str, file: str, line: int | None
) -> Finding:
    """A finding of lint-sql (its fix is prose: squawk's help, or lint-sql's own advice)."""
    return Finding(rule, severity, message, Fix.prose(fix), file, line=line)


def own(rule: str, message: str, fix: str, file: str, line: int | None) -> Finding:
    """A finding of one of lint-sql's own rules, at its severity."""
    return finding(rule, OWN_RULES[rule][0], message, fix, file, line)
