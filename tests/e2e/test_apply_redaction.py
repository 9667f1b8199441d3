"""Redaction in `ecs-migrate apply`, against a real PostgreSQL (issue 12): the database
password in every URL encoding, and credentials written in the command's own arguments,
never reach the output (the `running:` line included) nor the history table. Each form gets
its own canary, which the command also prints.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.apply_support import cli

PASSWORD = "canary pw+7e/1@c"  # a space, a plus, a slash and an at sign: many encodings


@dataclass
class Db:
    url: str
    canaries: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_", "PG"))}
        return {**base, "DATABASE_URL": self.url}

    def run(self, *command: str) -> str:
        """apply COMMAND; its whole output, after checking no canary is in it or recorded."""
        self.secrets = [PASSWORD, *self.canaries]
        done = cli(self, "apply", "--", *command)  # cli() checks the secrets
        assert done.returncode == 0, done.output
        assert "running: " in done.stderr
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT command FROM ecs_migrate_history").fetchall()
        recorded = " ".join(str(r[0]) for r in rows)
        for secret in self.secrets:
            assert secret not in recorded, recorded
        assert "***" in recorded or not self.canaries
        return done.output


@pytest.fixture
def db(postgres: Any) -> Iterator[Db]:
    import psycopg

    name = "r_" + uuid.uuid4().hex[:10]
    role = "r_" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"CREATE DATABASE {name} OWNER {role}")
    url = f"postgresql://{role}:{quote(PASSWORD, safe='')}@127.0.0.1:{postgres.port}/{name}"
    yield Db(url)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.parametrize(
    "encoded",
    [
        PASSWORD,
        quote(PASSWORD, safe=""),
        quote_plus(PASSWORD, safe=""),
        quote(PASSWORD, safe="").lower(),
        quote(PASSWORD, safe="/@"),
        quote(PASSWORD),
    ],
    ids=["raw", "quote", "quote_plus", "lower-case-hex", "partly-encoded", "quote-default"],
)
def test_the_password_is_redacted_in_every_url_encoding(db: Db, encoded: str) -> None:
    db.canaries = [encoded]
    output = db.run("sh", "-c", f"echo 'pw={encoded}'", "--", f"x={encoded}")
    assert "pw=***" in output


ARGV_FORMS = {
    "url-in-an-argument": ["alembic-like", "-x", "url=postgresql://app:{c}@db.internal/app"],
    "url-in-a-script": ["sh -c 'psql postgresql://app:{c}@db/app'"],
    "option-equals": ["--password={c}"],
    "option-equals-other-names": ["--db-passwd={c}", "--api-token={c}2", "--client-secret={c}3"],
    "option-then-value": ["--password", "{c}"],
    "assignment-in-a-script": ["PGPASSWORD={c} psql -c 'select 1'; MYSQL_PWD='{c}' mysql"],
    "env-assignment-argument": ["env", "API_KEY={c}", "true"],
    "mysql-dash-p": ["mysql", "-u", "app", "-p{c}", "app"],
    "mysql-dash-p-in-a-script": ["mysqldump -u root -p{c} app > /dev/null"],
    "quoted-value-in-a-script": ["deploy --password '{c} with spaces' --yes"],
}


@pytest.mark.parametrize("form", ARGV_FORMS.values(), ids=ARGV_FORMS.keys())
def test_credentials_in_the_command_line_are_redacted(db: Db, form: list[str]) -> None:
    canary = "canary-" + uuid.uuid4().hex[:10]
    args = [a.format(c=canary) for a in form]
    db.canaries = [canary]
    # The command prints its own arguments: they are redacted in its output too.
    output = db.run("sh", "-c", 'printf "%s\\n" "$@"', "sh", *args)
    assert canary not in output


def test_ordinary_arguments_are_shown_as_they_are(db: Db) -> None:
    db.canaries = []
    output = db.run("sh", "-c", "true", "sh", "--table=users", "--no-password", "-p5432")
    assert "running: sh -c true sh --table=users --no-password -p5432" in output
