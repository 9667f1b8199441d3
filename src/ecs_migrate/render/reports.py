"""The report files CIs read, written where each CI looks for them (docs/ci.md).

- **JUnit** (`run-many`: a test case per target; `doctor`: one per check), to ``--junit FILE``
  (or ``$ECS_MIGRATE_JUNIT``), else, on GitLab, CircleCI and Bitbucket, to
  ``test-results/ecs-migrate-<command>.xml``: Bitbucket reads any ``test-results/``
  directory by itself, CircleCI with ``store_test_results: path: test-results``, GitLab with
  ``artifacts:reports:junit``. Elsewhere none is written unless asked for. A later call of
  the same job does not overwrite an earlier one's default file: it takes the next free name,
  ``ecs-migrate-<command>-2.xml``, ``-3``... (claimed with O_EXCL, so two calls at once never
  share one); a file given with ``--junit`` is overwritten, as asked.
- **GitLab Code Quality** (`lint-sql`, `policy lint` findings), to ``$ECS_MIGRATE_CODE_QUALITY``
  on any CI, else on GitLab to ``gl-code-quality-report.json``. Two lints in one job add to
  one report (each finding once).

Each file is written whole (a temporary file, then renamed) and said once on stderr. A file
that cannot be written is said too, and the command's exit status stays its own: a report
never turns a migration's verdict.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ecs_migrate.ci import which
from ecs_migrate.ci.codequality import code_quality, merged
from ecs_migrate.ci.junit import Case, junit_xml
from ecs_migrate.common.redact import mask_shown
from ecs_migrate.render.console import echo

if TYPE_CHECKING:
    from ecs_migrate.commands.doctor import DoctorReport
    from ecs_migrate.commands.doctor.model import CheckResult
    from ecs_migrate.commands.runmany import RunManyResult, TargetOutcome
    from ecs_migrate.common.findings import LintReport

JUNIT_VARIABLE = "ECS_MIGRATE_JUNIT"
JUNIT_DIR = "test-results"
JUNIT_CIS = ("gitlab", "circleci", "bitbucket")  # the CIs that read it from a known place
CODE_QUALITY_VARIABLE = "ECS_MIGRATE_CODE_QUALITY"
CODE_QUALITY_FILE = "gl-code-quality-report.json"


def junit_path(command: str, given: Path | None, env: Mapping[str, str]) -> Path | None:
    """Where ``command``'s JUnit report goes: ``given`` (--junit), else the CI's place (a
    later call of the job writes beside it: :func:`claim_free`)."""
    if given is not None:
        return given
    if which(env) in JUNIT_CIS:
        return Path(JUNIT_DIR) / f"ecs-migrate-{command}.xml"
    return None


def code_quality_path(env: Mapping[str, str]) -> Path | None:
    if env.get(CODE_QUALITY_VARIABLE):
        return Path(env[CODE_QUALITY_VARIABLE])
    return Path(CODE_QUALITY_FILE) if which(env) == "gitlab" else None


def claim_free(path: Path) -> Path:
    """The first of ``path``, ``<stem>-2<suffix>``, ``<stem>-3<suffix>``... that did not
    exist, created empty with O_EXCL: two calls at once never get the same one."""
    for n in itertools.count(1):
        name = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return name
    raise AssertionError("unreachable")  # itertools.count never ends


def _write(path: Path, text: str, what: str, *, keep_existing: bool = False) -> Path:
    """``text`` written whole to ``path`` (with ``keep_existing``: to :func:`claim_free`'s
    name for it), and said on stderr; the path written, or the one that could not be."""
    claimed = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep_existing:
            path = claimed = claim_free(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        if claimed is not None:
            claimed.unlink(missing_ok=True)  # no empty report left for the CI to choke on
        echo(f"ecs-migrate: the {what} was not written to {path}: {exc.strerror or exc}", err=True)
        return path
    echo(f"ecs-migrate: {what} written to {path}", err=True)
    return path


# -- run-many ----------------------------------------------------------------------------------
def _shown(text: object) -> str:
    """A value from AWS or an error, with any credential in it masked."""
    return mask_shown(str(text))


def target_case(target: TargetOutcome) -> Case:
    """A target as a test case: passed when it succeeded, skipped when it never started,
    else a failure with its status, exit code and reason; what its result holds in
    system-out (never its command nor its environment)."""
    result = target.result
    status = str(result.status)
    code = "none" if result.exit_code is None else str(result.exit_code)
    reason = result.container_reason or result.stopped_reason
    error = None
    if target.error is not None:
        hint = f" ({target.error.hint})" if target.error.hint else ""
        reason = error = target.error.message + hint
    said = [f"status: {status}, exit code {code}, exit status {result.exit_status}"]
    for label, value in (
        ("task", result.task_arn),
        ("stop code", result.stop_code),
        ("stopped reason", result.stopped_reason),
        ("container reason", result.container_reason),
        ("stopped by", result.stopped_by),
        ("error", error),
        ("logs", f"{result.log_group} {result.log_stream}" if result.log_stream else None),
        ("console", result.console_url if result.task_arn else None),
    ):
        if value:
            said.append(f"{label}: {_shown(value)}")
    case = Case("run-many", target.name, result.duration_seconds, output="\n".join(said))
    if status == "succeeded":
        return case
    if status == "not-started":
        why = "not started: an earlier target did not succeed (--fail-fast)"
        return replace(case, seconds=0.0, outcome="skipped", message=why)
    message = f"{status}: exit code {code}" + (f": {_shown(reason)}" if reason else "")
    return replace(case, outcome="failure", message=message, kind=status)


def write_run_many_junit(
    result: RunManyResult, given: Path | None, env: Mapping[str, str]
) -> Path | None:
    """run-many's JUnit report, where :func:`junit_path` says; the path, or None."""
    path = junit_path("run-many", given, env)
    if path is not None:
        text = junit_xml("ecs-migrate run-many", [target_case(t) for t in result.targets])
        path = _write(path, text, "JUnit report", keep_existing=given is None)
    return path


# -- doctor ------------------------------------------------------------------------------------
def check_case(check: CheckResult) -> Case:
    """A check as a test case: pass passed, fail a failure (its message, then its fix),
    skip skipped; a warning passed, with ``WARNING:`` and its fix in system-out."""
    status = str(check.status)
    fix = f"\nfix: {check.fix.text}" if check.fix else ""
    case = Case(f"doctor.{check.area}", check.id, check.seconds)
    if status == "fail":
        details = check.message + fix
        return replace(case, outcome="failure", message=check.message, kind=status, details=details)
    if status == "skip":
        return replace(case, outcome="skipped", message=check.message)
    said = f"WARNING: {check.message}{fix}" if status == "warn" else check.message
    return replace(case, output=said)


def write_doctor_junit(
    report: DoctorReport, given: Path | None, env: Mapping[str, str]
) -> Path | None:
    """doctor's JUnit report, where :func:`junit_path` says; the path, or None."""
    path = junit_path("doctor", given, env)
    if path is not None:
        cases = [check_case(c) for c in report.ordered()]
        text = junit_xml("ecs-migrate doctor", cases, seconds=report.seconds)
        path = _write(path, text, "JUnit report", keep_existing=given is None)
    return path


# -- lint-sql, policy lint ----------------------------------------------------------------------
def write_code_quality(tool: str, report: LintReport, env: Mapping[str, str]) -> Path | None:
    """The findings of ``tool`` (``lint-sql``, ``policy-lint``) added to GitLab's Code
    Quality report, where :func:`code_quality_path` says; the path, or None."""
    path = code_quality_path(env)
    if path is None:
        return None
    issues = code_quality(tool, report.findings, os.getcwd())
    try:
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        existing = None
    _write(path, merged(existing, issues), "Code Quality report")
    return path
