"""What the rest of ecs-migrate expects of the `ecs-migrate` in an image holds for the binary.

- `run --apply` starts ``ecs-migrate apply -- COMMAND`` in the task and reads the command's
  status from apply's last note: the binary writes the same note, which the same parser reads.
- `doctor --probe --migration-command 'ecs-migrate apply -- ...'` looks the command up with
  its POSIX probe script (``command -v``): it finds the binary as it finds pip's console script.
"""

from __future__ import annotations

from ecs_migrate.commands.doctor.checks_migration import parse_probe, plan_probe
from ecs_migrate.common.apply_protocol import exited_status
from ecs_migrate.tasks.oneoff import APPLY_PREFIX
from tests.binary.support import IN_ROOT, Box, run_in


def test_run_apply_reads_the_binarys_exit_note(old_box: Box, postgres: object) -> None:
    from tests.apply_support import pg_database

    with pg_database(postgres) as db:
        env = {"DATABASE_URL": db.url, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        argv = [*APPLY_PREFIX, "/bin/sh", "-c", "exit 3"]  # the task's command, as run builds it
        done = run_in(old_box, argv, env)
    assert done.returncode == 3, done.stderr
    assert exited_status(done.stderr.splitlines()[-1]) == 3


def test_doctors_probe_finds_the_binary_on_the_images_path(old_box: Box) -> None:
    plan = plan_probe(["ecs-migrate", "apply", "--", "alembic", "upgrade", "head"])
    marker = "ecs-migrate-probe:test"
    done = run_in(old_box, plan.argv(marker), {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    report = parse_probe(done.stdout.splitlines(), marker)
    assert report.done
    assert report.exe_found == IN_ROOT
