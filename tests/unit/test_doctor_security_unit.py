"""Pure helpers of the Security checks and the migration-command probe, on plain data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ecs_migrate.commands.doctor.checks_migration import (
    ProbePlan,
    ProbeReport,
    judge_probe,
    parse_probe,
    plan_probe,
)
from ecs_migrate.commands.doctor.checks_security import (
    aws_keys_in,
    caller_kind,
    session_destination,
)
from ecs_migrate.commands.doctor.model import Status

MARKER = "ecs-migrate-probe:abc123"


# -- caller_kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "kind", "name"),
    [
        ("arn:aws:sts::123456789012:assumed-role/deploy/github-actions", "assumed-role", "deploy"),
        ("arn:aws:iam::123456789012:user/ci-deployer", "user", "ci-deployer"),
        ("arn:aws:iam::123456789012:user/path/to/ci", "user", "ci"),
        ("arn:aws:sts::123456789012:user/moto", "user", "moto"),
        ("arn:aws:iam::123456789012:root", "root", "123456789012"),
        ("arn:aws:sts::123456789012:federated-user/bob", "federated-user", "bob"),
        ("arn:aws-cn:sts::123456789012:assumed-role/r/s", "assumed-role", "r"),
        ("not-an-arn", "other", "not-an-arn"),
    ],
)
def test_caller_kind(arn: str, kind: str, name: str) -> None:
    assert caller_kind(arn) == (kind, name)


# -- aws_keys_in ------------------------------------------------------------------------------


def test_aws_keys_in_finds_plain_and_secret_keys_per_container_without_values() -> None:
    containers = [
        {
            "name": "app",
            "environment": [
                {"name": "AWS_ACCESS_KEY_ID", "value": "AKIA-value"},
                {"name": "AWS_REGION", "value": "us-east-1"},
                {"name": "aws_secret_access_key", "value": "lower-case-still-counts"},
            ],
        },
        {"name": "sidecar", "secrets": [{"name": "AWS_SESSION_TOKEN", "valueFrom": "arn:x"}]},
        {"name": "clean", "environment": [{"name": "APP_ENV", "value": "prod"}]},
    ]
    plain, secret = aws_keys_in(containers)
    assert plain == {"app": ["AWS_ACCESS_KEY_ID", "aws_secret_access_key"]}
    assert secret == {"sidecar": ["AWS_SESSION_TOKEN"]}
    assert "AKIA-value" not in repr((plain, secret))


def test_aws_keys_in_empty_when_none() -> None:
    assert aws_keys_in([{"name": "app"}]) == ({}, {})


# -- session_destination ------------------------------------------------------------------------


def test_session_destination_defaults_to_default() -> None:
    assert session_destination(None) == ("DEFAULT", None, None)
    assert session_destination({"kmsKeyId": "k"}) == ("DEFAULT", None, None)


def test_session_destination_reads_override() -> None:
    conf = {
        "logging": "OVERRIDE",
        "logConfiguration": {"cloudWatchLogGroupName": "/exec", "s3BucketName": "b"},
    }
    assert session_destination(conf) == ("OVERRIDE", "/exec", "b")
    assert session_destination({"logging": "NONE"}) == ("NONE", None, None)


# -- plan_probe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "exe", "files"),
    [
        (["alembic", "upgrade", "head"], "alembic", ("alembic.ini",)),
        (["alembic", "-c", "conf/prod.ini", "upgrade", "head"], "alembic", ("conf/prod.ini",)),
        (["alembic", "--config=db.ini", "upgrade", "head"], "alembic", ("db.ini",)),
        (["/venv/bin/alembic", "upgrade", "head"], "/venv/bin/alembic", ("alembic.ini",)),
        (["python", "manage.py", "migrate"], "python", ("manage.py",)),
        (["python", "-m", "alembic", "upgrade", "head"], "python", ()),
        (["psql", "-f", "schema.sql", "postgresql://u:pw@h/db"], "psql", ("schema.sql",)),
        (["flyway", "-configFiles=conf/flyway.conf", "migrate"], "flyway", ("conf/flyway.conf",)),
        (["./bin/migrate", "db/migrations", "db/migrations"], "./bin/migrate", ("db/migrations",)),
        (["sh", "-c", "cd /app && alembic upgrade head"], "sh", ()),
        (["npx", "prisma", "migrate", "deploy"], "npx", ()),
    ],
)
def test_plan_probe(argv: list[str], exe: str, files: tuple[str, ...]) -> None:
    plan = plan_probe(argv)
    assert plan.executable == exe
    assert plan.files == files


def test_plan_probe_without_a_command() -> None:
    assert plan_probe([]) == ProbePlan(None)
    assert ProbePlan(None).argv(MARKER)[-1] == ""  # the executable slot stays, empty


def test_plan_probe_flags_a_shell_script() -> None:
    assert plan_probe(["sh", "-c", "alembic upgrade head"]).shell_script
    assert not plan_probe(["alembic", "upgrade", "head"]).shell_script


def test_probe_argv_keeps_the_command_out_of_the_script() -> None:
    plan = ProbePlan("tool; rm -rf /", ("$(touch x).ini",))
    argv = plan.argv(MARKER)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert "rm -rf" not in argv[2] and "touch" not in argv[2]
    assert argv[3:] == ["ecs-migrate-probe", MARKER, "tool; rm -rf /", "$(touch x).ini"]


# -- the script itself, run by the local /bin/sh ---------------------------------------------------


def run_script(plan: ProbePlan, cwd: Path, path: str) -> ProbeReport:
    done = subprocess.run(
        plan.argv(MARKER), cwd=cwd, env={"PATH": path}, capture_output=True, text=True, check=True
    )
    return parse_probe(done.stdout.splitlines(), MARKER)


def test_script_reports_cwd_path_executable_and_files(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "migrate-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "present.ini").write_text("")
    report = run_script(
        ProbePlan("migrate-tool", ("present.ini", "absent.sql")), tmp_path, f"{bindir}:/usr/bin"
    )
    assert report.done
    assert report.cwd == str(tmp_path)
    assert report.path == f"{bindir}:/usr/bin"
    assert report.exe_found == str(tool)
    assert report.files_found == ["present.ini"]
    assert report.files_missing == ["absent.sql"]


def test_script_reports_missing_and_non_executable_executables(tmp_path: Path) -> None:
    (tmp_path / "script.sh").write_text("echo hi\n")  # not chmod +x
    assert run_script(ProbePlan("no-such-tool"), tmp_path, "/usr/bin:/bin").exe_missing == (
        "no-such-tool"
    )
    report = run_script(ProbePlan("./script.sh"), tmp_path, "/usr/bin:/bin")
    assert report.exe_not_executable == "./script.sh"


def test_script_never_interprets_its_arguments(tmp_path: Path) -> None:
    hostile = ProbePlan("tool; touch pwned1", ("$(touch pwned2).ini", "`touch pwned3`.sql"))
    report = run_script(hostile, tmp_path, "/usr/bin:/bin")
    assert report.done
    assert report.exe_missing == "tool; touch pwned1"
    assert report.files_missing == ["$(touch pwned2).ini", "`touch pwned3`.sql"]
    assert list(tmp_path.iterdir()) == []


# -- parse_probe / judge_probe -------------------------------------------------------------------


def test_parse_probe_ignores_unmarked_and_foreign_marker_lines() -> None:
    lines = [
        "entrypoint says hello",
        "ecs-migrate-probe:other cwd=/evil",
        f"{MARKER} cwd=/app",
        f"{MARKER} path=/usr/bin:/bin",
        f"{MARKER} exe-found=/usr/bin/alembic",
        f"{MARKER} file-found=alembic.ini",
        f"{MARKER} done=1",
    ]
    report = parse_probe(lines, MARKER)
    assert report == ProbeReport(
        cwd="/app",
        path="/usr/bin:/bin",
        exe_found="/usr/bin/alembic",
        files_found=["alembic.ini"],
        done=True,
    )


def test_judge_probe_passes_with_cwd_and_resolved_path() -> None:
    plan = plan_probe(["alembic", "upgrade", "head"])
    report = ProbeReport(
        cwd="/app", path="/usr/bin", exe_found="/usr/bin/alembic", files_found=["alembic.ini"]
    )
    finding = judge_probe(plan, report, "app", "t-1")
    assert finding.status is Status.PASS
    assert "/app" in finding.message and "/usr/bin/alembic" in finding.message


def test_judge_probe_fails_naming_everything_missing() -> None:
    plan = plan_probe(["alembic", "-c", "conf/missing.ini", "upgrade", "head"])
    report = ProbeReport(
        cwd="/app", path="/usr/bin:/bin", exe_missing="alembic", files_missing=["conf/missing.ini"]
    )
    finding = judge_probe(plan, report, "web", "t-2")
    assert finding.status is Status.FAIL
    assert "`alembic` is not found on the PATH (/usr/bin:/bin)" in finding.message
    assert "conf/missing.ini not found" in finding.message
    assert "working directory /app" in finding.message
    assert finding.fix is not None
    assert "Install alembic in the image" in finding.fix
    assert "COPY missing.ini /app/conf/missing.ini" in finding.fix
    assert "container 'web'" in finding.fix


@pytest.mark.parametrize("exe", ["ecs-migrate", "/usr/local/bin/ecs-migrate"])
def test_judge_probe_points_a_missing_ecs_migrate_at_pip_and_the_binary(exe: str) -> None:
    """`--migration-command 'ecs-migrate apply -- ...'` in an image without it."""
    plan = plan_probe([exe, "apply", "--", "npx", "knex", "migrate:latest"])
    finding = judge_probe(plan, ProbeReport(cwd="/app", path="/bin", exe_missing=exe), "web", "t")
    assert finding.status is Status.FAIL and finding.fix is not None
    assert "pip install 'ecs-migrate[postgres]'" in finding.fix
    assert "single-file binary" in finding.fix and "docs/apply.md" in finding.fix
    assert "Install ecs-migrate in the image (a Dockerfile RUN step)" not in finding.fix


def test_judge_probe_without_a_command_reports_cwd() -> None:
    finding = judge_probe(ProbePlan(None), ProbeReport(cwd="/srv", path="/bin"), "app", "t-3")
    assert finding.status is Status.PASS
    assert "/srv" in finding.message and "--migration-command" in finding.message
    assert "PATH /bin" in finding.message
