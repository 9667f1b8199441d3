"""No secret in any output, end to end (issue 22, section 2).

`run` through the sandbox in GitHub Actions (GITHUB_ACTIONS, GITHUB_STEP_SUMMARY and
GITHUB_OUTPUT set to files), in text and JSON: the credentials written in its command line
reach neither stdout, stderr (the verdict line), the `::error::` annotation, the job summary
nor the outputs file. `run --apply` and `apply` against a real PostgreSQL: a secret over several
lines (a PEM key in the environment), secrets printed JSON- or repr-escaped, `MYSQL_PWD`, and
the command line's credentials reach no output and no history row. Each test plants its own
canaries, several variants per form.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.apply_support import cli as apply_cli
from tests.conftest import Env, assert_no_secrets


def canary(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def gha_env(tmp_path: Path) -> dict[str, str]:
    files = {"GITHUB_OUTPUT": tmp_path / "github_output", "GITHUB_STEP_SUMMARY": tmp_path / "sum"}
    for path in files.values():
        path.write_text("")
    return {"GITHUB_ACTIONS": "true", **{k: str(v) for k, v in files.items()}}


def every_output(done: Any, env: dict[str, str]) -> str:
    files = (Path(env[k]).read_text() for k in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"))
    return done.stdout + done.stderr + "".join(files)


# -- run: the command line -----------------------------------------------------------------------
# Commands that fail (exit 3: an annotation is written) with canaries {a} {b} {c} in their
# command line. The first keeps a canary within the verdict's first 60 characters.
RUN_FORMS = {
    "issue-example": [
        "sh",
        "-c",
        'PGPASSWORD={a} true "postgresql://u:{b}@h/db" --password={c}; exit 3',
    ],
    "mysql-pwd": ["sh", "-c", "MYSQL_PWD={a} true; : mysql -u root -p'{b}' app; exit 3"],
    "env-invocation": ["env", "PGPASSWORD={a}", "DB_PASS={b} two words", "sh", "-c", "exit 3"],
    "export-and-option": ["sh", "-c", "export API_TOKEN='{a}'; : --db-password {b}; exit 3"],
    "arguments-printed": [
        "sh",
        "-c",
        'printf "%s\\n" "$@"; exit 3',
        "sh",
        "--password",
        "{a}",
        "postgresql://app:{b}@db/app",
        "MYSQL_PWD={c}",
    ],
    "authorization-header": ["sh", "-c", ": curl -H 'Authorization: Bearer {a}' x; exit 3"],
}


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize("form", RUN_FORMS.values(), ids=RUN_FORMS.keys())
def test_run_shows_no_credential_of_its_command_line(
    sandbox: Env, tmp_path: Path, form: list[str], output: str
) -> None:
    planted = {"a": canary("a"), "b": canary("b"), "c": canary("c")}
    argv = [arg.format(**planted) for arg in form]
    secrets = [s for s in planted.values() if any(s in arg for arg in argv)]
    env = gha_env(tmp_path)
    done = sandbox.run(*argv, flags=("--output", output), env=env)
    assert done.returncode == 1, done.output  # the command failed (exit code 3)
    shown = every_output(done, env)
    assert_no_secrets(shown, secrets)
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "| Command |" in summary and "***" in summary, summary
    annotation = [line for line in shown.splitlines() if line.startswith("::error")]
    assert annotation and "exit code 3" in annotation[0], shown
    verdict = [line for line in done.stderr.splitlines() if "failed: exit code 3" in line]
    assert verdict, done.stderr
    if argv[2].startswith("PGPASSWORD="):  # the example: the secret is on both lines
        assert "PGPASSWORD=***" in verdict[0] and "PGPASSWORD=***" in annotation[0]
    if output == "json":
        assert json.loads(done.stdout)["exitCode"] == 3


# -- run --apply and apply: a real PostgreSQL ----------------------------------------------------
def fake_pem(size: int) -> str:
    body = base64.b64encode(os.urandom(size)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and "-----" not in line]


PRINTS = (  # a Python program printing the variable TLS_KEY, then the URL, in many forms
    "import json, os\n"
    "key, url = os.environ['TLS_KEY'], os.environ['DATABASE_URL']\n"
    "print(key.strip())\n"
    "print(json.dumps({'key': key}))\n"
    "print(repr(key))\n"
    "print(json.dumps(json.dumps(key)))\n"
    "print(json.dumps(url).replace('/', '\\\\/'))\n"
    "print(json.dumps({'pw': os.environ['MYSQL_PWD']}, ensure_ascii=True))\n"
)


@pytest.mark.postgres
@pytest.mark.parametrize("size", [1191, 1217])  # last lines of 4 and 40 characters
def test_run_apply_hides_a_multiline_key_and_the_command_line(
    sandbox: Env, postgres: Any, tmp_path: Path, size: int
) -> None:
    import psycopg

    name = "r_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres.url.rsplit("/", 1)[0] + "/" + name
    sandbox.set_secret(url)
    sandbox.secrets.append(postgres.password)
    pem, pwd = fake_pem(size), canary("my-pwd") + ' "q" é'
    container = sandbox.taskdef()["containerDefinitions"][0]
    environment = [
        *container.get("environment", []),
        {"name": "TLS_KEY", "value": pem},
        {"name": "MYSQL_PWD", "value": pwd},
    ]
    arn = sandbox.register(environment=environment)
    a, b = canary("a"), canary("b")
    env = gha_env(tmp_path)
    forms = [json.dumps(pwd, ensure_ascii=True)[1:-1], json.dumps(url)[1:-1].replace("/", "\\/")]
    sandbox.secrets += [*pem_lines(pem), pwd, *forms, a, b]
    done = sandbox.run(
        "sh",
        "-c",
        'python3 -c "$0"; echo "$@"',
        PRINTS,
        "--api-key",
        a,
        f"postgresql://app:{b}@db/app",
        flags=("--apply", "--task-definition", arn),
        env=env,
    )
    assert done.returncode == 0, done.output
    assert_no_secrets(every_output(done, env), sandbox.secrets)
    assert "Holding the migration lock" in done.output  # apply ran in the task
    assert done.stdout.count("***") >= 8, done.stdout
    shown = sandbox.run("ecs-migrate", "history", "--output", "json")
    (run,) = json.loads(shown.stdout)
    assert "--api-key '***'" in run["command"] and "app:***@db" in run["command"], run
    with psycopg.connect(url, autocommit=True) as conn:
        stored = str(conn.execute("SELECT command FROM ecs_migrate_history").fetchall())
    assert_no_secrets(stored, sandbox.secrets)


PASSWORD = "canary pw\"\\/é'" + uuid.uuid4().hex[:6]  # quotes, a backslash, a slash, é


@dataclass
class Db:
    url: str
    extra: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_", "PG"))}
        return {**base, **self.extra, "DATABASE_URL": self.url}


@pytest.fixture
def db(postgres: Any) -> Iterator[Db]:
    import psycopg
    from psycopg import sql

    name, role = "r_" + uuid.uuid4().hex[:10], "r_" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD)
            )
        )
        conn.execute(f"CREATE DATABASE {name} OWNER {role}")
    url = f"postgresql://{role}:{quote(PASSWORD, safe='')}@127.0.0.1:{postgres.port}/{name}"
    yield Db(url)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def escaped_forms(secret: str) -> list[str]:
    plain = json.dumps(secret, ensure_ascii=False)[1:-1]
    ascii_only = json.dumps(secret)[1:-1]
    return [
        secret,
        plain,
        ascii_only,
        ascii_only.replace("/", "\\/"),
        json.dumps(ascii_only)[1:-1],
        repr(secret)[1:-1],
        secret.replace("'", "'\\''"),
    ]


ESCAPING = (  # prints each secret variable in every escaped form
    "import json, os, sys\n"
    "for name in sys.argv[1:]:\n"
    "    v = os.environ[name]\n"
    "    a, u = json.dumps(v), json.dumps(v, ensure_ascii=False)\n"
    "    print(name, v, a, u, a.replace('/', '\\\\/'), json.dumps(a), repr(v))\n"
    "    print(json.dumps({name: v}, indent=2))\n"
    '    print("\'" + v.replace("\'", "\'\\\\\'\'") + "\'")\n'
)


def test_apply_hides_secrets_printed_escaped_and_over_several_lines(db: Db, tmp_path: Path) -> None:
    pem = fake_pem(1193)
    token = canary("tok") + '"\\/<&>é'
    mysql_pwd = canary("mpw") + "'x"
    db.extra = {
        **gha_env(tmp_path),
        "TLS_PRIVATE_KEY": pem,
        "API_TOKEN": token,
        "MYSQL_PWD": mysql_pwd,
        "DB_PASS": canary("dbpass"),
    }
    names = ["TLS_PRIVATE_KEY", "API_TOKEN", "MYSQL_PWD", "DB_PASS", "DATABASE_URL"]
    db.secrets = [
        *pem_lines(pem),
        *(f for value in (token, mysql_pwd, PASSWORD, db.url) for f in escaped_forms(value)),
        db.extra["DB_PASS"],
    ]
    done = apply_cli(db, "apply", "--", "python3", "-c", ESCAPING, *names)
    assert done.returncode == 0, done.output
    assert done.stdout.count("***") >= 40, done.stdout
    for name in names:
        assert name in done.stdout  # the program ran and printed each
    assert_no_secrets(Path(db.extra["GITHUB_STEP_SUMMARY"]).read_text(), db.secrets)


def test_apply_masks_the_command_line_in_its_running_line_and_history(db: Db) -> None:
    a, b, c = canary("a"), canary("b"), canary("c")
    db.secrets = [PASSWORD, a, b, c]
    script = f"MYSQL_PWD={a} true; export PGPASSWORD='{b}'; : --password {c}"
    done = apply_cli(db, "apply", "--", "sh", "-c", script)
    assert done.returncode == 0, done.output
    assert "running: sh -c 'MYSQL_PWD=*** true; export PGPASSWORD=***; : --password ***'" in (
        done.stderr
    ), done.stderr
    shown = apply_cli(db, "history", "--output", "json")
    (run,) = json.loads(shown.stdout)
    assert run["command"] == "sh -c 'MYSQL_PWD=*** true; export PGPASSWORD=***; : --password ***'"
    text = apply_cli(db, "history")
    assert "MYSQL_PWD=***" in text.stdout


def test_an_argument_that_is_not_utf8_is_shown_and_recorded_escaped(db: Db) -> None:
    db.secrets = [PASSWORD]
    done = apply_cli(db, "apply", "--", "sh", "-c", "true", "sh", os.fsdecode(b"a\xffb"))
    assert done.returncode == 0, done.output
    assert "running: sh -c true sh 'a\\xffb'" in done.stderr, done.stderr
    (run,) = json.loads(apply_cli(db, "history", "--output", "json").stdout)
    assert run["command"] == "sh -c true sh 'a\\xffb'"


@pytest.mark.parametrize(
    "stored",
    [
        "sh -c 'MYSQL_PWD={a} mysql app'",
        "env 'PGPASSWORD={a}' psql",
        "psql 'postgresql://app:{a}@db/app'",
        "tool --api-token {a}",
        "mysql -u root '-p{a}' app",
    ],
)
def test_history_masks_rows_written_before_a_form_was_known(db: Db, stored: str) -> None:
    """A row an older version recorded unmasked is masked when history reads it."""
    import psycopg

    a = canary("old")
    db.secrets = [PASSWORD]
    assert apply_cli(db, "apply", "--", "true").returncode == 0
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("UPDATE ecs_migrate_history SET command = %s", (stored.format(a=a),))
    db.secrets = [PASSWORD, a]
    (run,) = json.loads(apply_cli(db, "history", "--output", "json").stdout)
    assert "***" in run["command"], run
    assert "***" in apply_cli(db, "history").stdout


# -- run-many: each target's command, as run ------------------------------------------------------
@pytest.mark.parametrize("output", ["text", "json"])
def test_run_many_hides_each_targets_command_credentials_in_its_output(
    sandbox: Env, tmp_path: Path, output: str
) -> None:
    """A target's task prints its own command line (as `set -x` or a tool's echo would): the
    credentials written in it are hidden in that target's labelled lines, as run hides them."""
    a, b = canary("a"), canary("b")
    world = sandbox.world
    targets = {
        "targets": [
            {"name": "one", "command": ["sh", "-c", f"echo PGPASSWORD={a} psql; exit 0"]},
            {"name": "two", "command": ["sh", "-c", f"echo mysql -u app --password={b}; exit 0"]},
        ],
        "defaults": {"cluster": world.cluster, "service": world.service},
    }
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(targets))
    env = gha_env(tmp_path)
    done = sandbox.cli("run-many", "--targets", str(path), "--output", output, env=env)
    assert done.returncode == 0, done.output
    assert_no_secrets(every_output(done, env), [a, b])
    labelled = done.stderr if output == "json" else done.stdout
    assert "PGPASSWORD=***" in labelled and "--password=***" in labelled, labelled
