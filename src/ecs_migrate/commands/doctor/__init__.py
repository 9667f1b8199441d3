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
from ecs_migrate.commands.doctor.model import REGISTRY, Check, CheckResult, Skip, Status
from ecs_migrate.errors import EXIT_COMMAND_FAILED, EXIT_OK, EXIT_TARGET, EcsMigrateError
from ecs_migrate.validate import check_argument, check_fields, refuse

__all__ = ["DoctorOptions", "DoctorReport", "apply_fixes", "doctor"]

# Failing these means the target itself is wrong: exit 3, like `run`.
TARGET_CHECKS = frozenset({"cluster.active", "service.active", "taskdef.container"})
_RANK = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2, Status.SKIP: 3}


@dataclass
class DoctorReport:
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    fixes_applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats of the whole report, each once

    @property
    def counts(self) -> dict[str, int]:
        counts = {str(s): 0 for s in Status}
        for r in self.results:
            counts[str(r.status)] += 1
        return counts

    @property
    def exit_status(self) -> int:
        failed = {r.id for r in self.results if r.status is Status.FAIL}
        if failed & TARGET_CHECKS:
            return EXIT_TARGET
        return EXIT_COMMAND_FAILED if failed else EXIT_OK

    def ordered(self) -> list[CheckResult]:
        """Failures first, each group in registry order: the root cause leads."""
        index = {c.id: i for i, c in enumerate(REGISTRY.checks)}
        return sorted(self.results, key=lambda r: (_RANK[r.status], index.get(r.id, 999)))

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
    """Apply the safe fixes of failed or warned checks that ``confirm`` accepts."""
    ctx = Context(clients, opts)
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
    enabled = {"exec": opts.exec, "probe": opts.probe}
    return [c for c in REGISTRY.checks if c.when is None or enabled.get(c.when, False)]


CHECK_MODULES = (  # report order: the most fundamental area first
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
)


def _load_checks() -> None:
    import importlib

    for name in CHECK_MODULES:
        importlib.import_module(f"ecs_migrate.commands.doctor.{name}")
    # Report order is CHECK_MODULES' order, whichever module a caller imported first.
    rank = {f"ecs_migrate.commands.doctor.{n}": i for i, n in enumerate(CHECK_MODULES)}
    REGISTRY.checks.sort(key=lambda c: rank.get(c.func.__module__, len(rank)))


def run_check(check: Check, ctx: Context) -> CheckResult:
    started = time.monotonic()
    try:
        finding = check.func(ctx)
        status, message, fix = finding.status, finding.message, finding.fix
    except Skip as exc:
        status, message, fix = Status.SKIP, exc.why, None
    except EcsMigrateError as exc:
        status, message, fix = Status.SKIP, f"cannot check: {exc}", exc.hint
    except Exception as exc:  # one broken check must not take the whole report down
        status, message, fix = Status.SKIP, f"internal error in this check: {exc!r}", None
    return CheckResult(check.id, check.area, status, message, fix, time.monotonic() - started)


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
    report = DoctorReport(results=[done[c.id] for c in checks], notes=sorted(ctx.notes))
    report.seconds = time.monotonic() - started
    return report
