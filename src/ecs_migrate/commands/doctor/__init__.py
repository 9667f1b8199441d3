"""`ecs-migrate doctor`: every prerequisite of a migration from CI, checked concurrently.

``doctor(clients, opts) -> DoctorReport``. Checks live in the modules of this package and
register themselves (:mod:`.model`); the order of registration is the order
of fundamentality, so a missing cluster is reported before everything it explains. A check
whose ``needs`` did not pass is skipped, naming the check it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import Clients, is_clients
from ecs_migrate.commands.doctor.context import Context, DoctorOptions
from ecs_migrate.commands.doctor.model import (
    REGISTRY,
    STATUSES,
    Check,
    CheckResult,
    Skip,
    Status,
)
from ecs_migrate.common.findings import as_fix
from ecs_migrate.errors import EXIT_OK, EcsMigrateError
from ecs_migrate.validate import check_argument, check_fields, refuse

__all__ = ["DoctorOptions", "DoctorReport", "apply_fixes", "doctor"]


@dataclass
class DoctorReport:
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    fixes_applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats of the whole report, each once
    context: Context | None = field(default=None, repr=False, compare=False)  # for the fixes

    @property
    def counts(self) -> dict[str, int]:
        counts = {str(s): 0 for s in STATUSES}
        for r in self.results:
            counts[str(r.status)] += 1
        return counts

    @property
    def exit_status(self) -> int:
        """The worst a failed check means (3: the target is wrong, 1: a check failed), or 0."""
        return max((r.fails_with for r in self.results if r.status is Status.FAIL), default=EXIT_OK)

    def ordered(self) -> list[CheckResult]:
        """Failures first, each group in registry order: the root cause leads."""
        index = {c.id: i for i, c in enumerate(REGISTRY.checks)}
        return sorted(self.results, key=lambda r: (r.status.rank, index.get(r.id, 999)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "checks": [r.to_dict() for r in self.ordered()],
            "summary": {
                **self.counts,
                "total": len(self.results),
                "seconds": round(self.seconds, 3),
                "exitStatus": self.exit_status,
                "fixesApplied": self.fixes_applied,
            },
            "notes": self.notes,
        }


def apply_fixes(
    clients: Clients, opts: DoctorOptions, report: DoctorReport, confirm: Callable[[str], bool]
) -> list[str]:
    """Apply the safe fixes of failed or warned checks that ``confirm`` accepts, with what the
    checks already read (the report's context), or read afresh when the report has none."""
    ctx = report.context or Context(clients, opts)
    by_id = {c.id: c for c in REGISTRY.checks}
    applied = []
    for result in report.ordered():
        check = by_id.get(result.id)
        if check is None or check.fixer is None or result.status not in (Status.FAIL, Status.WARN):
            continue
        if confirm(f"{result.id}: {check.fixer.describe(ctx)}"):
            try:
                applied.append(f"{result.id}: {check.fixer.apply(ctx)}")
            except (Skip, EcsMigrateError) as exc:
                applied.append(f"{result.id}: not applied: {exc}")
            except Exception as exc:  # a broken fixer must not hide the report
                applied.append(f"{result.id}: not applied (internal error): {exc!r}")
    report.fixes_applied = applied
    return applied


def selected_checks(opts: DoctorOptions) -> list[Check]:
    _load_checks()
    return [c for c in REGISTRY.checks if c.enabled(opts)]


CHECK_MODULES = (  # the modules that register checks; each area's order is on its checks
    "checks_target",
    "checks_iam",
    "checks_network",
    "checks_secrets",
    "checks_database",
    "checks_migration",
    "checks_exec",
    "checks_exec_task",
    "checks_exec_access",
    "checks_exec_session",
    "checks_security",
    "checks_deploy",
)


def _load_checks() -> None:
    import importlib

    for name in CHECK_MODULES:
        importlib.import_module(f"ecs_migrate.commands.doctor.{name}")
    # Report order is each check's area order, whichever module a caller imported first.
    REGISTRY.checks.sort(key=lambda c: c.order)


def run_check(check: Check, ctx: Context) -> CheckResult:
    started = time.monotonic()
    try:
        finding = check.func(ctx)
        status, message, fix = finding.status, finding.message, finding.fix
    except Skip as exc:
        status, message, fix = Status.SKIP, exc.why, None
    except EcsMigrateError as exc:
        status, message, fix = Status.SKIP, f"cannot check: {exc}", as_fix(exc.hint)
    except Exception as exc:  # one broken check must not take the whole report down
        status, message, fix = Status.SKIP, f"internal error in this check: {exc!r}", None
    seconds = time.monotonic() - started
    return CheckResult(check.id, check.area, status, message, fix, seconds, check.fails_with)


def doctor(clients: Clients, opts: DoctorOptions) -> DoctorReport:
    """Run every selected check, concurrently where their dependencies allow."""
    check_argument("doctor", "clients", clients, "an ecs_migrate.Clients", is_clients(clients))
    if not isinstance(opts, DoctorOptions):
        refuse("doctor", "opts", opts, "a DoctorOptions")
    check_fields(opts)  # again: a field may have changed since the options were built
    started = time.monotonic()
    clients.require_credentials()
    ctx = Context(clients, opts)
    checks = selected_checks(opts)
    known = {c.id for c in checks}
    done: dict[str, CheckResult] = {}
    pending = list(checks)
    running: dict[Future[CheckResult], Check] = {}
    with ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
        while pending or running:
            progress = True
            while progress:  # settle every check whose dependencies are decided
                progress = False
                for check in list(pending):
                    needs = [n for n in check.needs if n in known]
                    if any(n not in done for n in needs):
                        continue
                    pending.remove(check)
                    progress = True
                    blocked = [n for n in needs if done[n].status not in (Status.PASS, Status.WARN)]
                    if blocked:
                        first = blocked[0]
                        done[check.id] = CheckResult(
                            check.id,
                            check.area,
                            Status.SKIP,
                            f"skipped: {first} did not pass ({done[first].status})",
                        )
                    else:
                        running[pool.submit(run_check, check, ctx)] = check
            if not running:
                for check in pending:  # needs that never resolve: a registry bug, not a hang
                    done[check.id] = CheckResult(
                        check.id, check.area, Status.SKIP, "skipped: its dependencies never ran"
                    )
                pending.clear()
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                check = running.pop(future)
                done[check.id] = future.result()
    report = DoctorReport([done[c.id] for c in checks], notes=sorted(ctx.notes), context=ctx)
    report.seconds = time.monotonic() - started
    return report
