"""The doctor's runner (src/ecs_migrate/doctor/__init__.py) with fake checks and no AWS.

Each test gets a private, empty check registry (the real check modules are not loaded), so
what is asserted is the runner's own behaviour: dependencies, concurrency, how a check's
exception becomes a result, ordering, exit status, JSON shape and fixes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import pytest

import ecs_migrate.commands.doctor as core
from ecs_migrate.aws import Clients
from ecs_migrate.commands.doctor import (
    DoctorOptions,
    DoctorReport,
    apply_fixes,
    doctor,
    selected_checks,
)
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import (
    REGISTRY,
    Check,
    CheckResult,
    Fixer,
    Skip,
    Status,
    Verdict,
    When,
    fail,
    passed,
    skip,
    warn,
)
from ecs_migrate.common.findings import Fix
from ecs_migrate.errors import (
    EXIT_COMMAND_FAILED,
    EXIT_OK,
    EXIT_TARGET,
    CredentialsError,
    TargetError,
)


class StubClients:
    """Stands in for ecs_migrate.aws.Clients. doctor() only calls require_credentials() and
    Context reads .region; a real Clients would build a boto3 session from the environment
    (and fail without a region or credentials), which these fake checks never use. Any AWS
    call is a test bug, so client() raises."""

    region = "eu-west-1"

    def __init__(self, credentials_error: Exception | None = None) -> None:
        self.credentials_error = credentials_error

    def require_credentials(self) -> None:
        if self.credentials_error is not None:
            raise self.credentials_error

    def client(self, service: str) -> Any:
        raise AssertionError(f"a fake check made an AWS call ({service})")


def stub(credentials_error: Exception | None = None) -> Clients:
    return cast(Clients, StubClients(credentials_error))


Func = Callable[[Context], Verdict]


class Registry:
    """The checks of one test, registered in order into the doctor's (patched) REGISTRY."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def add(
        self,
        id: str,
        func: Func | Verdict,
        *,
        needs: tuple[str, ...] = (),
        when: str | None = None,
        fixer: Fixer | None = None,
        area: str = "Test",
        fails_with: int = EXIT_COMMAND_FAILED,
    ) -> None:
        def run(ctx: Context) -> Verdict:
            with self._lock:
                self.calls.append(id)
            return func(ctx) if callable(func) else func

        found = Check(id, area, run, needs, When(when) if when else None, fixer)
        self.checks.append(replace(found, fails_with=fails_with))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    checks: list[Check] = []
    monkeypatch.setattr(REGISTRY, "checks", checks)
    monkeypatch.setattr(core, "_load_checks", lambda: None)
    yield Registry(checks)


def run(opts: DoctorOptions | None = None, clients: Clients | None = None) -> DoctorReport:
    return doctor(clients or stub(), opts or DoctorOptions(cluster="c", service="s"))


def by_id(report: DoctorReport) -> dict[str, CheckResult]:
    return {r.id: r for r in report.results}


def statuses(report: DoctorReport) -> dict[str, str]:
    return {r.id: str(r.status) for r in report.results}


def raises(exc: BaseException) -> Func:
    def func(ctx: Context) -> Verdict:
        raise exc

    return func


# -- dependencies ---------------------------------------------------------------------------
def test_a_check_whose_need_failed_is_skipped_naming_it_and_never_runs(registry: Registry) -> None:
    registry.add("a", fail("a is broken", "fix a"))
    registry.add("b", passed("b"), needs=("a",))
    registry.add("c", passed("c"), needs=("b",))
    registry.add("d", passed("d"))
    report = run()
    results = by_id(report)
    assert statuses(report) == {"a": "fail", "b": "skip", "c": "skip", "d": "pass"}
    assert results["b"].message == "skipped: a did not pass (fail)"
    assert results["c"].message == "skipped: b did not pass (skip)"
    assert results["b"].fix is None
    assert sorted(registry.calls) == ["a", "d"]


def test_a_check_whose_need_was_skipped_is_skipped(registry: Registry) -> None:
    registry.add("a", raises(Skip("not allowed to look")))
    registry.add("b", passed("b"), needs=("a",))
    results = by_id(run())
    assert results["b"].status is Status.SKIP
    assert "skipped: a did not pass" in results["b"].message


def test_a_warning_need_lets_the_check_run(registry: Registry) -> None:
    registry.add("a", warn("a is odd", "fix a"))
    registry.add("b", passed("b ok"), needs=("a",))
    assert statuses(run()) == {"a": "warn", "b": "pass"}


def test_the_first_blocking_need_is_named(registry: Registry) -> None:
    registry.add("a", passed("a"))
    registry.add("b", fail("b", "fix"))
    registry.add("c", fail("c", "fix"))
    registry.add("d", passed("d"), needs=("a", "b", "c"))
    assert by_id(run())["d"].message == "skipped: b did not pass (fail)"


def test_a_check_runs_only_after_its_needs(registry: Registry) -> None:
    finished = threading.Event()

    def slow(ctx: Context) -> Verdict:
        finished.wait(0.2)  # give a premature dependent every chance to start first
        finished.set()
        return passed("slow")

    def dependent(ctx: Context) -> Verdict:
        return passed("after") if finished.is_set() else fail("ran too early", "-")

    registry.add("slow", slow)
    registry.add("dependent", dependent, needs=("slow",))
    assert statuses(run()) == {"slow": "pass", "dependent": "pass"}


def test_a_need_that_is_not_selected_is_ignored(registry: Registry) -> None:
    registry.add("exec.only", passed("exec"), when="exec")
    registry.add("b", passed("b"), needs=("exec.only",))
    assert statuses(run()) == {"b": "pass"}
    assert statuses(run(DoctorOptions("c", "s", exec=True))) == {"exec.only": "pass", "b": "pass"}


def test_when_selects_the_optional_checks(registry: Registry) -> None:
    registry.add("always", passed("x"))
    registry.add("exec.x", passed("x"), when="exec")
    registry.add("probe.x", passed("x"), when="probe")
    assert set(statuses(run())) == {"always"}
    assert set(statuses(run(DoctorOptions("c", "s", probe=True)))) == {"always", "probe.x"}


def test_needs_that_never_resolve_skip_instead_of_hanging(registry: Registry) -> None:
    registry.add("a", passed("a"), needs=("b",))
    registry.add("b", passed("b"), needs=("a",))
    registry.add("c", passed("c"))
    report = run()
    assert statuses(report) == {"a": "skip", "b": "skip", "c": "pass"}
    assert by_id(report)["a"].message == "skipped: its dependencies never ran"
    assert registry.calls == ["c"]


# -- concurrency ----------------------------------------------------------------------------
def meet_at(barrier: threading.Barrier) -> Func:
    """A check that passes only if another check is running at the same time."""

    def func(ctx: Context) -> Verdict:
        barrier.wait()  # BrokenBarrierError after the barrier's timeout: an internal error
        return passed("met the other check")

    return func


def test_independent_checks_run_concurrently(registry: Registry) -> None:
    barrier = threading.Barrier(2, timeout=10)
    registry.add("one", meet_at(barrier))
    registry.add("two", meet_at(barrier))
    assert statuses(run()) == {"one": "pass", "two": "pass"}


def test_with_concurrency_one_the_checks_run_one_at_a_time(registry: Registry) -> None:
    barrier = threading.Barrier(2, timeout=0.5)
    registry.add("one", meet_at(barrier))
    registry.add("two", meet_at(barrier))
    report = run(DoctorOptions("c", "s", concurrency=1))
    assert statuses(report) == {"one": "skip", "two": "skip"}
    assert all("internal error" in r.message for r in report.results)
    assert "BrokenBarrierError" in by_id(report)["one"].message


def test_concurrent_checks_share_one_memoised_lookup(registry: Registry) -> None:
    barrier = threading.Barrier(3, timeout=10)
    computed: list[int] = []

    def lookup() -> int:
        computed.append(1)
        return 42

    def shared(ctx: Context) -> Verdict:
        barrier.wait()
        return passed(f"value {ctx.memo('answer', lookup)}")

    for name in ("x", "y", "z"):
        registry.add(name, shared)
    report = run()
    assert {r.message for r in report.results} == {"value 42"}
    assert computed == [1]


def test_a_memoised_skip_skips_every_check_that_asks(registry: Registry) -> None:
    attempts: list[int] = []

    def lookup() -> int:
        attempts.append(1)
        raise Skip("cannot check: not allowed to describe the thing (AccessDenied)")

    registry.add("x", lambda ctx: passed(str(ctx.memo("thing", lookup))))
    registry.add("y", lambda ctx: passed(str(ctx.memo("thing", lookup))))
    report = run()
    assert statuses(report) == {"x": "skip", "y": "skip"}
    assert {r.message for r in report.results} == {
        "cannot check: not allowed to describe the thing (AccessDenied)"
    }
    assert attempts == [1]


# -- how a check's outcome becomes a result --------------------------------------------------
def test_a_raised_skip_is_a_skip_with_its_reason(registry: Registry) -> None:
    registry.add("raised", raises(Skip("the service has no awsvpc network configuration")))
    registry.add("returned", skip("no database was given"))
    results = by_id(run())
    assert results["raised"].status is Status.SKIP
    assert results["raised"].message == "the service has no awsvpc network configuration"
    assert results["raised"].fix is None
    assert results["returned"].status is Status.SKIP
    assert results["returned"].message == "no database was given"


def test_a_project_error_is_a_skip_with_its_hint_as_fix(registry: Registry) -> None:
    registry.add("e", raises(TargetError("Container 'web' not found.", hint="Pass --container")))
    result = by_id(run())["e"]
    assert result.status is Status.SKIP
    assert result.message == "cannot check: Container 'web' not found."
    assert result.fix == Fix.prose("Pass --container")


def test_an_unexpected_exception_is_an_internal_error_and_the_report_completes(
    registry: Registry,
) -> None:
    registry.add("before", passed("fine"))
    registry.add("broken", raises(KeyError("taskRoleArn")))
    registry.add("dependent", passed("never"), needs=("broken",))
    registry.add("after", fail("real problem", "the fix"))
    report = run()
    results = by_id(report)
    assert [r.id for r in report.results] == ["before", "broken", "dependent", "after"]
    assert results["broken"].status is Status.SKIP
    assert "internal error" in results["broken"].message
    assert "taskRoleArn" in results["broken"].message
    assert results["dependent"].message == "skipped: broken did not pass (skip)"
    assert statuses(report)["after"] == "fail"
    assert report.exit_status == EXIT_COMMAND_FAILED
    assert "dependent" not in registry.calls


def test_missing_credentials_stop_the_doctor_before_any_check(registry: Registry) -> None:
    registry.add("a", passed("a"))
    with pytest.raises(CredentialsError):
        run(clients=stub(CredentialsError("No AWS region is configured.")))
    assert registry.calls == []


def test_results_carry_their_area_fix_and_time(registry: Registry) -> None:
    registry.add(
        "a",
        fail("broken", Fix.command("aws", "ecs", "create-cluster", "--cluster-name", "c")),
        area="Target",
    )
    report = run()
    result = report.results[0]
    assert result.area == "Target"
    assert result.fix == Fix.command("aws", "ecs", "create-cluster", "--cluster-name", "c")
    assert result.seconds >= 0
    assert report.seconds >= 0


# -- ordering, exit status, JSON ------------------------------------------------------------
def test_ordered_puts_failures_first_then_warnings_passes_skips_in_registry_order(
    registry: Registry,
) -> None:
    gate = threading.Event()

    def late(finding: Verdict) -> Func:
        def func(ctx: Context) -> Verdict:
            gate.wait(0.2)  # finish after the others: completion order is not report order
            return finding

        return func

    registry.add("p1", late(passed("p1")))
    registry.add("f1", late(fail("f1", "fix")))
    registry.add("w1", warn("w1", "fix"))
    registry.add("s1", skip("s1"))
    registry.add("f2", fail("f2", "fix"))
    registry.add("p2", passed("p2"))
    registry.add("w2", late(warn("w2", "fix")))
    report = run()
    assert [r.id for r in report.results] == ["p1", "f1", "w1", "s1", "f2", "p2", "w2"]
    assert [r.id for r in report.ordered()] == ["f1", "f2", "w1", "w2", "p1", "p2", "s1"]
    assert [c["id"] for c in report.to_dict()["checks"]] == [r.id for r in report.ordered()]


TARGET_CHECKS = ("cluster.active", "service.active", "taskdef.container")


def result(id: str, status: Status) -> CheckResult:
    """A result whose check fails with 3 when it is one of the target's checks."""
    fails_with = EXIT_TARGET if id in TARGET_CHECKS else EXIT_COMMAND_FAILED
    fix = None if status is Status.PASS else Fix.prose("fix")
    return CheckResult(id, "Test", status, f"{id} {status}", fix, 0.0, fails_with)


def test_the_target_checks_are_the_ones_whose_failure_means_3() -> None:
    checks = selected_checks(DoctorOptions(cluster="c", service="s", exec=True, probe=True))
    assert {c.id for c in checks if c.fails_with == EXIT_TARGET} == set(TARGET_CHECKS)
    assert {c.fails_with for c in checks} == {EXIT_TARGET, EXIT_COMMAND_FAILED}


def test_exit_status_is_0_when_nothing_fails() -> None:
    assert DoctorReport().exit_status == EXIT_OK == 0
    report = DoctorReport(
        [result("a", Status.PASS), result("b", Status.WARN), result("cluster.active", Status.SKIP)]
    )
    assert report.exit_status == EXIT_OK


def test_exit_status_is_1_when_a_check_fails() -> None:
    report = DoctorReport([result("cluster.active", Status.PASS), result("net", Status.FAIL)])
    assert report.exit_status == EXIT_COMMAND_FAILED == 1


@pytest.mark.parametrize("target", ["cluster.active", "service.active", "taskdef.container"])
def test_exit_status_is_3_when_the_target_is_wrong(target: str) -> None:
    assert DoctorReport([result(target, Status.FAIL)]).exit_status == EXIT_TARGET == 3
    both = DoctorReport([result("net", Status.FAIL), result(target, Status.FAIL)])
    assert both.exit_status == EXIT_TARGET
    assert DoctorReport([result(target, Status.WARN)]).exit_status == EXIT_OK


def test_exit_status_of_a_run(registry: Registry) -> None:
    registry.add(
        "service.active",
        fail("Service 's' not found in cluster 'c'.", Fix.command("aws", "...")),
        fails_with=EXIT_TARGET,
    )
    registry.add("other", fail("x", "y"), needs=("service.active",))
    report = run()
    assert report.exit_status == EXIT_TARGET
    assert report.to_dict()["summary"]["exitStatus"] == EXIT_TARGET


def test_to_dict_shape(registry: Registry) -> None:
    registry.add("a", passed("ok"), area="Target")
    registry.add(
        "b",
        fail(
            "broken", Fix.command("aws", "logs", "create-log-group", "--log-group-name", "/ecs/s")
        ),
    )
    registry.add("c", warn("odd", "look"))
    registry.add("d", passed("x"), needs=("b",))
    data = run().to_dict()
    assert set(data) == {"checks", "summary", "notes"}
    assert json.loads(json.dumps(data)) == data  # JSON-safe: plain strings, numbers, lists
    for entry in data["checks"]:
        assert set(entry) == {"id", "status", "message", "fix", "area"}
        assert entry["status"] in {"pass", "warn", "fail", "skip"}
    assert data["checks"][0] == {
        "id": "b",
        "status": "fail",
        "message": "broken",
        "fix": "aws logs create-log-group --log-group-name /ecs/s",
        "area": "Test",
    }
    assert next(c for c in data["checks"] if c["id"] == "a")["fix"] is None
    summary = data["summary"]
    assert {k: summary[k] for k in ("pass", "warn", "fail", "skip", "total")} == {
        "pass": 1,
        "warn": 1,
        "fail": 1,
        "skip": 1,
        "total": 4,
    }
    assert summary["exitStatus"] == EXIT_COMMAND_FAILED
    assert summary["fixesApplied"] == []
    assert isinstance(summary["seconds"], float)
    assert summary["seconds"] >= 0


# -- fixes ----------------------------------------------------------------------------------
class RecordingFixer:
    def __init__(self, what: str) -> None:
        self.what = what
        self.applied: list[Context] = []
        self.fixer = Fixer(describe=lambda ctx: f"create {what}", apply=self.apply)

    def apply(self, ctx: Context) -> str:
        self.applied.append(ctx)
        return f"created {self.what} in {ctx.region}"


@pytest.fixture
def fixable(registry: Registry) -> tuple[Registry, RecordingFixer, RecordingFixer]:
    broken = RecordingFixer("the log group /ecs/s")
    odd = RecordingFixer("the VPC endpoint")
    healthy = RecordingFixer("nothing")
    registry.add(
        "logs",
        fail("no log group", Fix.command("aws", "logs", "create-log-group")),
        fixer=broken.fixer,
    )
    registry.add("endpoint", warn("no endpoint", Fix.command("aws", "ec2", "...")), fixer=odd.fixer)
    registry.add("fine", passed("fine"), fixer=healthy.fixer)
    registry.add("nofixer", fail("manual", "do it by hand"))
    return registry, broken, odd


def test_apply_fixes_does_nothing_when_the_user_refuses(
    fixable: tuple[Registry, RecordingFixer, RecordingFixer],
) -> None:
    _, broken, odd = fixable
    opts = DoctorOptions("c", "s", fix=True)
    report = run(opts)
    asked: list[str] = []

    def refuse(what: str) -> bool:
        asked.append(what)
        return False

    assert apply_fixes(stub(), opts, report, refuse) == []
    assert report.fixes_applied == []
    assert broken.applied == odd.applied == []
    # Only failed or warned checks with a fixer are offered, failures first.
    assert asked == ["logs: create the log group /ecs/s", "endpoint: create the VPC endpoint"]
    assert report.to_dict()["summary"]["fixesApplied"] == []


def test_apply_fixes_applies_what_the_user_accepts(
    fixable: tuple[Registry, RecordingFixer, RecordingFixer],
) -> None:
    _, broken, odd = fixable
    opts = DoctorOptions("c", "s", fix=True)
    report = run(opts)
    applied = apply_fixes(
        stub(),
        opts,
        report,
        lambda what: what.startswith("logs:"),
    )
    assert applied == ["logs: created the log group /ecs/s in eu-west-1"]
    assert report.fixes_applied == applied
    assert len(broken.applied) == 1
    assert broken.applied[0].opts is opts
    assert odd.applied == []
    assert report.to_dict()["summary"]["fixesApplied"] == applied


def test_apply_fixes_accepting_everything(
    fixable: tuple[Registry, RecordingFixer, RecordingFixer],
) -> None:
    _, broken, odd = fixable
    opts = DoctorOptions("c", "s", fix=True)
    report = run(opts)
    applied = apply_fixes(stub(), opts, report, lambda what: True)
    assert [a.split(":")[0] for a in applied] == ["logs", "endpoint"]
    assert len(broken.applied) == len(odd.applied) == 1


def test_apply_fixes_works_with_what_the_checks_read(
    fixable: tuple[Registry, RecordingFixer, RecordingFixer],
) -> None:
    _, broken, odd = fixable
    opts = DoctorOptions("c", "s", fix=True)
    report = run(opts)
    apply_fixes(stub(), opts, report, lambda what: True)
    assert report.context is not None
    assert broken.applied == odd.applied == [report.context]  # not a Context read afresh


class _CountingEcs:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def describe_clusters(self, **params: Any) -> dict[str, Any]:
        self.calls.append("DescribeClusters")
        return {"clusters": [{"clusterName": "c", "status": "ACTIVE"}]}

    def describe_services(self, **params: Any) -> dict[str, Any]:
        self.calls.append("DescribeServices")
        return {"services": [{"status": "ACTIVE", "taskDefinition": "arn:x:task-definition/s:3"}]}


def test_the_service_is_described_once_per_run() -> None:
    from ecs_migrate.commands.doctor.checks_target import service_active

    ecs = _CountingEcs()
    clients = SimpleNamespace(region="eu-west-1", client=lambda service: ecs)
    ctx = Context(cast(Clients, clients), DoctorOptions(cluster="c", service="s"))
    verdict = service_active(ctx)
    assert verdict.status is Status.PASS and "running s:3" in verdict.message
    assert ctx.service()["taskDefinition"] == "arn:x:task-definition/s:3"  # as the later checks
    assert ecs.calls.count("DescribeServices") == 1
