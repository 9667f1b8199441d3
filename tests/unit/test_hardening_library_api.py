"""The library API refuses bad arguments with one UsageError (exit 2) before any AWS call
(issue 22, section 5): never a TypeError, an AttributeError, an AWS failure or a started task.

Table-driven over every public entry point and options dataclass: each field gets several
bad values (a wrong type, nan and inf, an empty name, a value outside its choices), given at
construction and again set afterwards (the entry functions check again). The clients point at
a closed port with one attempt: any AWS call would show in ``clients.calls`` and fail as an
AWS error, so "UsageError and no call" proves nothing was started. The sandbox test at the end
checks the same against a live world, with a control run that does start a task.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ecs_migrate
from ecs_migrate import (
    AwsSettings,
    Cancel,
    Clients,
    DeployOptions,
    DoctorOptions,
    LintOptions,
    LogEvent,
    NullReporter,
    PollSettings,
    RunOptions,
    UsageError,
    deploy,
    doctor,
    lint,
    run,
)
from ecs_migrate.awsguard import scrub
from ecs_migrate.errors import AwsConfigError, EcsMigrateError
from tests.conftest import Env

CANARY = "canary-lib-3e9d41aa"
NAN, INF = math.nan, math.inf
RUN_BASE: dict[str, Any] = {"cluster": "sandbox", "service": "app", "command": ["true"]}
DOCTOR_BASE: dict[str, Any] = {"cluster": "sandbox", "service": "app"}
DEPLOY_BASE: dict[str, Any] = {"cluster": "sandbox", "service": "app", "images": ["app:v2"]}

# field -> bad values. Each is refused with a UsageError naming the class and the field.
BAD_RUN: dict[str, list[Any]] = {
    "cluster": [None, "", "  ", 3, ["sandbox"]],
    "service": [None, "", b"app", 1.5],
    "command": [
        "alembic upgrade head",  # was split into characters and started
        f"psql postgresql://u:{CANARY}@h/db",
        b"alembic",
        ["alembic", 1],
        ["alembic", None],
        None,
        {"alembic": "head"},
    ],
    "container": ["", 5, ["app"]],
    "task_definition": ["", 7],
    "timeout": ["60", NAN, INF, -INF, 0, -1, True, None, 10.0**12],
    "if_running": ["bogus", None, "WAIT", 1, True],
    "stop_on_cancel": ["yes", None, 1],
    "apply": ["true", 0],
    "kind": [None, "probe", "PROBE"],
    "ci_env": [None, "GITHUB_SHA=abc", {"GITHUB_SHA": 1}, {3: "x"}, [("GITHUB_SHA", "a")]],
    "environment": [
        None,
        "TENANT=acme",
        {"TENANT": 12},
        {"TOKEN": None},
        {"1BAD": CANARY},
        {"A-B": "x"},
        [("TOKEN", CANARY)],
    ],
    "poll": [None, {}, "fast", 1.0],
}
BAD_POLL: dict[str, list[Any]] = {
    "describe_interval": ["1", NAN, -1, INF, None],
    "describe_fast_interval": [-0.5, NAN],
    "describe_per_minute": [0, -5, NAN, INF, "40"],
    "logs_interval": [None, -1],
    "logs_fast_interval": ["0.5", -INF],
    "logs_per_minute": [0.0, INF],
    "log_settle": [NAN],
    "missing_grace": [-INF],
    "queue_interval": ["5"],
    "heartbeat": [None],
    "stop_grace": [INF],
    "log_page_limit": [0, -1, 1.5, "10", True],
}
BAD_DOCTOR: dict[str, list[Any]] = {
    "cluster": [None, "", " "],  # was exit status 0
    "service": [None, "", 42],
    "container": ["", 1],
    "db_instance": ["", 3],
    "db_cluster": [["a"]],
    "database_url_var": ["", "DATABASE URL", "1URL", None, "URL\n", 5],
    "exec": ["yes", None],
    "deploy": ["yes", None],
    "probe": [1],
    "probe_command": [f"alembic upgrade head --password {CANARY}", [1], None],
    "fix": ["no"],
    "concurrency": [0, -1, "8", 2.5, None, True, 10**6],
    "probe_log_wait": [-1, "20", None, True, NAN, INF, 3601],
    "junit": [5, b"report.xml", "report.xml"],  # a Path or None
}
BAD_DEPLOY: dict[str, list[Any]] = {
    "cluster": [None, "", 3],
    "service": [None, "", 1.5],
    "images": ["app:v2", [1], None, ["app:v2", None]],
    "task_definition": ["", 7],
    "command": ["alembic upgrade head", [1], None, f"psql postgresql://u:{CANARY}@h/db"],
    "container": ["", 5],
    "timeout": [0, -1, NAN, INF, "60", None, 10.0**12],
    "rollback": ["yes", None, 1],
    "force_new_deployment": ["yes", None, 1],
    "apply": ["true", 0],
    "if_running": ["bogus", None],
    "stop_on_cancel": ["yes", None],
    "ci_env": [None, {"GITHUB_SHA": 1}],
    "environment": [None, {"TENANT": 12}, {"1BAD": CANARY}],
    "poll": [None, "fast", {}],
}
BAD_LINT: dict[str, list[Any]] = {
    "files": ["ci-policy.json", [1], None, ("a.json", None)],
    "role": [None, 3],
    "features": ["exec", [1]],
    "role_arn": [5, b"arn"],
    "fail_on": [None, 1],
}
BAD_SETTINGS_TYPES: dict[str, list[Any]] = {
    "region": [123, ["us-east-1"], b"us-east-1"],
    "profile": [5, ["default"]],
    "targets": ["arn:aws:ecs:eu-west-1:123456789012:cluster/prod", None, (1,)],
}


def table(
    cls: type, base: dict[str, Any], bad: dict[str, list[Any]]
) -> list[Any]:  # pytest.param objects
    return [
        pytest.param(cls, base, name, value, id=f"{cls.__name__}.{name}={value!r}"[:80])
        for name, values in bad.items()
        for value in values
    ]


OPTION_CASES = [
    *table(RunOptions, RUN_BASE, BAD_RUN),
    *table(PollSettings, {}, BAD_POLL),
    *table(DoctorOptions, DOCTOR_BASE, BAD_DOCTOR),
    *table(DeployOptions, DEPLOY_BASE, BAD_DEPLOY),
    *table(LintOptions, {"files": ("p.json",)}, BAD_LINT),
    *table(AwsSettings, {}, BAD_SETTINGS_TYPES),
]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Clients:
    """Clients whose every call would fail fast (a closed port, one attempt) and be counted."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY + "-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return Clients(AwsSettings())


def refused(action: Callable[[], Any], *words: str) -> UsageError:
    """``action`` raises exactly a UsageError (exit 2), one line, naming ``words``, with no
    canary secret in it."""
    with pytest.raises(EcsMigrateError) as caught:
        action()
    error = caught.value
    assert type(error) is UsageError, f"{type(error).__name__}: {error}"
    assert error.exit_code == 2
    assert "\n" not in error.message and CANARY not in error.message
    assert CANARY not in (error.hint or "")
    for word in words:  # a variable's name is checked where --env's are: said as --env
        assert word in error.message or "--env:" in error.message, error.message
    return error


@pytest.mark.parametrize(("cls", "base", "name", "value"), OPTION_CASES)
def test_an_options_dataclass_refuses_a_bad_field(
    cls: type, base: dict[str, Any], name: str, value: Any
) -> None:
    refused(lambda: cls(**{**base, name: value}), f"{cls.__name__}.{name}")


@pytest.mark.parametrize(("cls", "base", "name", "value"), table(RunOptions, RUN_BASE, BAD_RUN))
def test_run_refuses_a_field_spoilt_after_construction(
    offline: Clients, cls: type, base: dict[str, Any], name: str, value: Any
) -> None:
    opts = RunOptions(**base)
    setattr(opts, name, value)
    refused(lambda: run(offline, opts), name)
    assert not offline.calls, offline.calls  # no AWS call, so no task


@pytest.mark.parametrize(("cls", "base", "name", "value"), table(PollSettings, {}, BAD_POLL))
def test_run_refuses_poll_settings_spoilt_after_construction(
    offline: Clients, cls: type, base: dict[str, Any], name: str, value: Any
) -> None:
    poll = PollSettings()
    setattr(poll, name, value)
    opts = RunOptions(**RUN_BASE)
    opts.poll = poll
    refused(lambda: run(offline, opts), f"PollSettings.{name}")
    assert not offline.calls


@pytest.mark.parametrize(
    ("cls", "base", "name", "value"), table(DoctorOptions, DOCTOR_BASE, BAD_DOCTOR)
)
def test_doctor_refuses_a_field_spoilt_after_construction(
    offline: Clients, cls: type, base: dict[str, Any], name: str, value: Any
) -> None:
    opts = DoctorOptions(**base)
    setattr(opts, name, value)
    refused(lambda: doctor(offline, opts), name)
    assert not offline.calls


@pytest.mark.parametrize(
    ("cls", "base", "name", "value"), table(DeployOptions, DEPLOY_BASE, BAD_DEPLOY)
)
def test_deploy_refuses_a_field_spoilt_after_construction(
    offline: Clients, cls: type, base: dict[str, Any], name: str, value: Any
) -> None:
    opts = DeployOptions(**base)
    setattr(opts, name, value)
    refused(lambda: deploy(offline, opts), name)
    assert not offline.calls  # nothing registered, nothing updated


@pytest.mark.parametrize(
    ("cls", "base", "name", "value"), table(LintOptions, {"files": ("p.json",)}, BAD_LINT)
)
def test_lint_refuses_a_field_spoilt_after_construction(
    cls: type, base: dict[str, Any], name: str, value: Any
) -> None:
    opts = LintOptions(**base)
    object.__setattr__(opts, name, value)  # frozen: only a determined caller gets here
    refused(lambda: lint(None, opts), name)


class NoWarning:
    def progress(self, message: str) -> None:
        pass

    def log(self, event: LogEvent) -> None:
        pass


def _run(**given: Any) -> Callable[[Clients], Any]:
    def call(clients: Clients) -> Any:
        args: dict[str, Any] = {"clients": clients, "opts": RunOptions(**RUN_BASE), **given}
        return run(args.pop("clients"), args.pop("opts"), **args)

    return call


# The entry points typed as Any: these calls are wrong on purpose.
DOCTOR: Any = doctor
LINT: Any = lint
CLIENTS: Any = Clients


def ANY(value: Any) -> Any:  # reads as a cast to Any
    return value


ENTRY_CASES = [
    # run(clients, opts, reporter, cancel)
    pytest.param(_run(clients=None), "clients", id="run-clients-None"),
    pytest.param(_run(clients="us-east-1"), "clients", id="run-clients-str"),
    pytest.param(_run(clients=AwsSettings()), "clients", id="run-clients-settings"),
    pytest.param(_run(opts=None), "opts", id="run-opts-None"),
    pytest.param(_run(opts=dict(RUN_BASE)), "opts", id="run-opts-dict"),
    pytest.param(_run(opts=DoctorOptions(**DOCTOR_BASE)), "opts", id="run-opts-doctor"),
    pytest.param(_run(reporter=object()), "reporter", id="run-reporter-object"),
    pytest.param(_run(reporter="stderr"), "reporter", id="run-reporter-str"),
    pytest.param(_run(reporter=print), "reporter", id="run-reporter-print"),
    pytest.param(_run(reporter=NoWarning()), "reporter", id="run-reporter-no-warning"),
    pytest.param(_run(cancel=True), "cancel", id="run-cancel-True"),
    pytest.param(_run(cancel="now"), "cancel", id="run-cancel-str"),
    pytest.param(_run(cancel=object()), "cancel", id="run-cancel-object"),
    pytest.param(_run(opts=RunOptions(**{**RUN_BASE, "command": []})), "command", id="run-no-cmd"),
    # DOCTOR(clients, opts)
    pytest.param(lambda c: DOCTOR(None, DoctorOptions(**DOCTOR_BASE)), "clients", id="doctor-None"),
    pytest.param(lambda c: DOCTOR("c", DoctorOptions(**DOCTOR_BASE)), "clients", id="doctor-str"),
    pytest.param(lambda c: DOCTOR(c, None), "opts", id="doctor-opts-None"),
    pytest.param(lambda c: DOCTOR(c, RunOptions(**RUN_BASE)), "opts", id="doctor-opts-run"),
    pytest.param(lambda c: DOCTOR(c, dict(DOCTOR_BASE)), "opts", id="doctor-opts-dict"),
    # LINT(clients, opts)
    pytest.param(lambda c: LINT("c", LintOptions(role_arn="arn")), "clients", id="lint-clients"),
    pytest.param(lambda c: LINT(AwsSettings(), LintOptions()), "clients", id="lint-settings"),
    pytest.param(lambda c: LINT(None, None), "opts", id="lint-opts-None"),
    pytest.param(lambda c: LINT(None, {"files": ("p.json",)}), "opts", id="lint-opts-dict"),
    # CLIENTS(settings, action_for=..., calls=...)
    pytest.param(lambda c: CLIENTS(None), "Clients.settings", id="Clients-None"),
    pytest.param(lambda c: CLIENTS("eu-west-1"), "Clients.settings", id="Clients-str"),
    pytest.param(lambda c: CLIENTS({"region": "x"}), "Clients.settings", id="Clients-dict"),
    pytest.param(
        lambda c: CLIENTS(AwsSettings(), action_for="ecs:RunTask"),
        "Clients.action_for",
        id="Clients-action_for-str",
    ),
    pytest.param(lambda c: CLIENTS(AwsSettings(), calls={}), "Clients.calls", id="Clients-calls"),
]


@pytest.mark.parametrize(("call", "word"), ENTRY_CASES)
def test_an_entry_function_refuses_a_bad_argument(
    offline: Clients, call: Callable[[Clients], Any], word: str
) -> None:
    refused(lambda: call(offline), word)
    assert not offline.calls, offline.calls


@pytest.mark.parametrize(
    "region", ["us-east-1\n", "us-east-1\r", " us-east-1", "us east 1", "eu-west-1\x1b[2J", ""]
)
def test_a_malformed_region_is_a_configuration_error(region: str) -> None:
    with pytest.raises(AwsConfigError) as caught:
        AwsSettings(region=region)
    assert caught.value.exit_code == 3 and "\n" not in caught.value.message


@pytest.mark.parametrize("profile", ["prod\n", "a b", "", "\tci", "ci\x00", "ci\x1b[0m"])
def test_a_malformed_profile_is_a_configuration_error(profile: str) -> None:
    with pytest.raises(AwsConfigError) as caught:
        AwsSettings(profile=profile)
    assert caught.value.exit_code == 3 and "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AWS_REGION", "us-east-1\n"),
        ("AWS_DEFAULT_REGION", "us east-1"),
        ("AWS_PROFILE", "ci\n"),
        ("AWS_PROFILE", "two words"),
    ],
)
def test_a_malformed_setting_in_the_environment_fails_before_a_client(
    offline: Clients, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    if name == "AWS_DEFAULT_REGION":
        monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv(name, value)
    with pytest.raises(AwsConfigError) as caught:
        offline.require_credentials()
    assert name in caught.value.message and not offline.calls


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE\n"),
        ("AWS_SESSION_TOKEN", f"token-{CANARY}\nmore"),
        ("AWS_SESSION_TOKEN", f"token-{CANARY}\r"),
    ],
)
def test_a_credential_with_a_newline_is_refused_without_sending_or_showing_it(
    offline: Clients, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    clients = Clients(AwsSettings())
    with pytest.raises(AwsConfigError) as caught:
        clients.ecs.describe_clusters(clusters=["sandbox"])
    message = f"{caught.value.message} {caught.value.hint}"
    assert "header" in message and "not sent" in message
    for secret in (CANARY, "AKIAIOSFODNN7EXAMPLE", "Signature=", "AWS4-HMAC-SHA256"):
        assert secret not in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE\n"),
        ("AWS_SECRET_ACCESS_KEY", f"{CANARY} x"),
        ("AWS_SESSION_TOKEN", f"\x1b{CANARY}"),
    ],
)
def test_doctor_refuses_a_credential_with_a_control_character_before_any_check(
    offline: Clients, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Not every check skipped and exit 0: one AwsConfigError (exit 3), naming the variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(AwsConfigError) as caught:
        doctor(Clients(AwsSettings()), DoctorOptions(**DOCTOR_BASE))
    assert variable in caught.value.message and caught.value.exit_code == 3
    assert CANARY not in caught.value.message and "AKIAIOSFODNN7EXAMPLE" not in caught.value.message


def test_scrub_takes_credentials_out_of_botocore_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY + "-secret-value")
    text = (
        "An HTTP Client raised an unhandled exception: Invalid header value "
        "b'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1\\n/ecs/"
        "aws4_request, SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef'"
    )
    for sample in (
        text,
        "auth AWS4-HMAC-SHA256 Credential=ASIAIOSFODNN7EXAMPLE/x, Signature=abcdef0123456789abcd",
        "https://sts.amazonaws.com/?X-Amz-Security-Token=FQoGZXIvYXdzE&X-Amz-Signature=deadbeef",
        f"rejected key {CANARY}-secret-value by the service",
        "endpoint http://user:hunter2@proxy:8080/ unreachable",
    ):
        cleaned = scrub(sample)
        for secret in (
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAIOSFODNN7EXAMPLE",
            "0123456789abcdef",
            "FQoGZXIvYXdzE",
            "deadbeef",
            CANARY,
            "hunter2",
        ):
            assert secret not in cleaned, (sample, cleaned)
    assert scrub("Service 'app' not found in cluster 'sandbox'.") == (
        "Service 'app' not found in cluster 'sandbox'."
    )


def test_every_public_options_dataclass_is_checked() -> None:
    """The table covers every options dataclass the package exports, and every field of each
    has at least one bad value (a new field gets a rule, or this fails)."""
    tables = {
        RunOptions: BAD_RUN,
        PollSettings: BAD_POLL,
        DoctorOptions: BAD_DOCTOR,
        DeployOptions: BAD_DEPLOY,
        LintOptions: BAD_LINT,
        AwsSettings: BAD_SETTINGS_TYPES,
    }
    exported = {
        getattr(ecs_migrate, n)
        for n in ecs_migrate.__all__
        if n.endswith(("Options", "Settings")) and dataclasses.is_dataclass(getattr(ecs_migrate, n))
    }
    assert exported == set(tables)
    for cls, bad in tables.items():
        public = {f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
        untested = public - set(bad) - {"yes"}  # DoctorOptions.yes: only with fix (its own check)
        assert not untested, (cls.__name__, untested)


def test_good_values_still_pass() -> None:
    """What the docs and the CLI give is accepted: tuples for lists, ints for floats,
    os.environ for ci_env, a threading.Event for cancel."""
    opts = RunOptions(
        cluster="arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        service="api",
        command=ANY(("alembic", "upgrade", "head")),
        timeout=60,
        ci_env=os.environ,
        environment={"TENANT": "0012"},
        poll=PollSettings(describe_interval=0, log_page_limit=5),
    )
    assert opts.container_command == ["alembic", "upgrade", "head"]
    DoctorOptions(cluster="c", service="s", probe_command=["alembic"], concurrency=1)
    LintOptions(files=("a.json", "b.json"), features=None, role="ci")
    LintOptions(features=("run", "exec"))
    AwsSettings("eu-west-1", "ci-deploy_1.prod", ("c", None))
    Clients(AwsSettings(), action_for=lambda prefix, op: f"{prefix}:{op}")
    assert NullReporter() and Cancel()


def test_bad_arguments_start_no_task_in_the_sandbox(
    sandbox: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a live world: the issue's examples start nothing; the same call with good
    arguments does start a task (the check can see one)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in sandbox.env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    world = sandbox.world
    base: dict[str, Any] = {"cluster": world.cluster, "service": world.service, "command": ["true"]}
    ecs = sandbox.client("ecs")

    def tasks() -> list[str]:
        return [
            arn
            for status in ("RUNNING", "STOPPED")
            for arn in ecs.list_tasks(
                cluster=world.cluster, startedBy="ecs-migrate", desiredStatus=status
            )["taskArns"]
        ]

    clients = Clients(AwsSettings())
    attempts: list[Callable[[], Any]] = [
        lambda: RunOptions(**{**base, "command": "echo hi"}),
        lambda: RunOptions(**{**base, "timeout": "60"}),
        lambda: RunOptions(**{**base, "timeout": NAN}),
        lambda: RunOptions(**{**base, "if_running": "bogus"}),
        lambda: RunOptions(**{**base, "cluster": None}),
        lambda: RunOptions(**{**base, "environment": None}),
        lambda: RunOptions(**{**base, "ci_env": None}),
        lambda: RunOptions(**{**base, "poll": None}),
        lambda: CLIENTS(None),
        lambda: run(clients, RunOptions(**base), reporter=ANY("loud")),
        lambda: doctor(clients, DoctorOptions(cluster=ANY(None), service=world.service)),
    ]
    for attempt in attempts:
        refused(attempt)
    spoilt = RunOptions(**base)
    spoilt.command = ANY("echo hi")
    refused(lambda: run(clients, spoilt))
    assert tasks() == [] and not clients.calls

    result = run(clients, RunOptions(**{**base, "timeout": 120}))
    assert result.exit_status == 0, result.to_dict()
    assert len(tasks()) == 1
