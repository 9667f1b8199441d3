"""Every lint-sql recipe in docs/ runs as written in the example app (issue 27, item 2).

The recipes are read from the markdown, never copied here:

- each ``sh`` block that runs ``lint-sql`` is pasted into one bash, as a user pastes it;
- each ``console`` block's ``$`` commands run in turn, and what it shows is what they print;
- each GitHub Actions step (a ``yaml`` block) whose ``run`` calls ``lint-sql`` runs as the
  runner runs it (``bash -e -o pipefail``, its ``env``, ``RUNNER_TEMP``);
- the Alembic row of safety.md's "Getting the SQL out" table: each command in it.

They run in a copy of ``examples/app`` (where the docs say they run), with no DATABASE_URL
and with one naming a real PostgreSQL database: offline, Alembic only names the dialect. The
SQL a recipe writes to a file is then run on that database: it is SQL, and all of it runs.
``pip install`` lines are left out: they install from the network what this venv has.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apply_support import pg_database
from tests.conftest import CANARIES, EXAMPLE_APP, ROOT, assert_no_secrets

DOCS = ROOT / "docs"
VENV_BIN = str(Path(sys.executable).parent)
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
TABLE_ROW = re.compile(r"^\| Alembic \|(.*)\|\s*$", re.MULTILINE)
CODE = re.compile(r"`([^`]+)`")
SYNOPSIS = "ecs-migrate lint-sql [FILE...|-]"


@dataclass
class Recipe:
    where: str  # docs/x.md:LINE
    kind: str  # sh, console, step, table
    script: str
    env: dict[str, str] = field(default_factory=dict)
    shown: tuple[str, ...] = ()  # a console block: what it shows after each command

    def __str__(self) -> str:
        return f"{self.where} ({self.kind})"


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _steps(doc: Any) -> Iterator[dict[str, Any]]:
    """Every mapping with a ``run`` in a workflow or a list of steps."""
    if isinstance(doc, dict):
        if isinstance(doc.get("run"), str):
            yield doc
        for value in doc.values():
            yield from _steps(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _steps(value)


def _fenced(path: Path, text: str) -> Iterator[Recipe]:
    where = path.relative_to(ROOT)
    for match in FENCE.finditer(text):
        lang, body = match.group(2), match.group(3)
        at = f"{where}:{_line(text, match.start())}"
        if "lint-sql" not in body:
            continue
        if lang in ("sh", "bash", "shell"):
            yield Recipe(at, "sh", body)
        elif lang == "console":
            parts = re.split(r"^\$ (.*)\n", body, flags=re.MULTILINE)[1:]
            commands, shown = parts[0::2], tuple(parts[1::2])
            yield Recipe(at, "console", "\n".join(commands), shown=shown)
        elif lang in ("yaml", "yml"):
            for step in _steps(yaml.safe_load(body)):
                if "lint-sql" in step["run"]:
                    env = {k: str(v) for k, v in (step.get("env") or {}).items()}
                    yield Recipe(at, "step", step["run"], env)
        else:  # a tree, a synopsis: no command to paste, or the test would miss one
            commands = [
                line
                for line in body.splitlines()
                if re.match(r"\s*(?:\$ )?(?:ecs-migrate lint-sql|alembic) ", line)
                and not line.startswith(SYNOPSIS)
            ]
            assert not commands, f"{at}: a ```{lang} block holds commands: {commands}"


def recipes() -> list[Recipe]:
    found: list[Recipe] = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        found += _fenced(path, text)
        for row in TABLE_ROW.finditer(text):
            for code in CODE.findall(row.group(1)):
                if "--sql" in code and re.match(r"(?:\w+=\S+ )*alembic ", code):
                    at = f"{path.relative_to(ROOT)}:{_line(text, row.start())}"
                    found.append(Recipe(at, "table", code))
    return found


RECIPES = recipes()


def test_the_docs_recipes_are_found() -> None:
    """The extraction finds what the docs hold (so a renamed fence cannot skip them)."""
    kinds = sorted(r.kind for r in RECIPES)
    assert kinds.count("sh") >= 1 and kinds.count("console") >= 1
    assert kinds.count("step") >= 2  # safety.md's CI steps and github-actions.md's workflow
    assert kinds.count("table") >= 2  # offline SQL of the whole app, of one range
    wheres = {r.where.split(":")[0] for r in RECIPES}
    assert {"docs/safety.md", "docs/github-actions.md"} <= wheres


@pytest.fixture
def app(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(EXAMPLE_APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def run(recipe: Recipe, app: Path, database_url: str | None) -> subprocess.CompletedProcess[str]:
    """The recipe pasted into bash in the app's directory (a step: as the runner runs it; a
    console block: each command in turn, each one's output checked against what it shows)."""
    if recipe.kind == "console":
        for command, shown in zip(recipe.script.splitlines(), recipe.shown, strict=True):
            done = _bash(Recipe(recipe.where, "sh", command), app, database_url)
            assert done.stdout + done.stderr == shown, f"$ {command}: the docs show another output"
        return done
    return _bash(recipe, app, database_url)


def _bash(recipe: Recipe, app: Path, database_url: str | None) -> subprocess.CompletedProcess[str]:
    lines = recipe.script.splitlines()
    kept = [line for line in lines if not re.match(r"\s*(?:python -m )?pip install", line)]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_URL"))},
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(app.parent),
        **recipe.env,
    }
    if database_url:  # in place of the step's own: offline, any URL only names the dialect
        env["DATABASE_URL"] = database_url
    flags = ["-eo", "pipefail"] if recipe.kind == "step" else []
    return subprocess.run(
        ["bash", "--noprofile", "--norc", *flags, "-c", "\n".join(kept)],
        cwd=app, env=env, capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip


def check_output(recipe: Recipe, done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert "FAILED" not in output
    assert not re.search(r"^error: ", output, re.MULTILINE), output
    assert re.search(r"^\d+ errors?, \d+ warnings? in \d+ files?$", output, re.MULTILINE)
    if recipe.kind == "console":  # its output was compared command by command (run)
        assert done.returncode == 1  # the example's unconcurrent index is an error
    else:
        assert done.returncode == 0, output


def written_sql(app: Path) -> list[Path]:
    return sorted(p for p in [*app.glob("*.sql"), *app.parent.glob("*.sql")] if p.is_file())


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipe_runs_as_written_without_a_database(recipe: Recipe, app: Path) -> None:
    if recipe.kind == "table":
        done = run(recipe, app, None)
        assert done.returncode == 0, done.stderr
        assert written_sql(app) or "BEGIN;" in done.stdout
        return
    check_output(recipe, run(recipe, app, None))


@pytest.mark.postgres
@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipe_runs_with_a_database_url_and_its_sql_runs_there(
    recipe: Recipe, app: Path, postgres: Any
) -> None:
    with pg_database(postgres) as db:
        done = run(recipe, app, db.url)
        assert_no_secrets(done.stdout + done.stderr, [*CANARIES, postgres.password])
        if recipe.kind == "table":
            assert done.returncode == 0, done.stderr
        else:
            check_output(recipe, done)
        for sql in written_sql(app):
            if "CREATE TABLE accounts" not in sql.read_text():  # one range's: from 0001
                _psql(db.url, "-c", "CREATE TABLE alembic_version (version_num varchar(32));")
                _psql(db.url, "-c", "CREATE TABLE accounts (id int);")
                _psql(db.url, "-c", "INSERT INTO alembic_version VALUES ('0001');")
            _psql(db.url, "-f", str(sql))
            assert _psql(db.url, "-c", "SELECT version_num FROM alembic_version").strip() == "0002"
            _psql(db.url, "-c", "DROP TABLE accounts, alembic_version;")


def _psql(url: str, *args: str) -> str:
    done = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, *args],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout
