"""Unit tests of apply's pure parts: the URL, redaction, the lock key, finding the command,
the network probe's step names and their hints, and how `run --apply` wraps the command."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from ecs_migrate.commands.apply.child import resolve_command, shell_status
from ecs_migrate.commands.apply.dialects import Failure, lock_key
from ecs_migrate.commands.apply.postgres import Postgres
from ecs_migrate.commands.apply.url import MYSQL, POSTGRES, parse_url, read_url
from ecs_migrate.commands.apply.wait import hint_for, probe_network
from ecs_migrate.commands.run import RunOptions
from ecs_migrate.common.redact import MARK, Redactor, secret_values
from ecs_migrate.common.task_metadata import METADATA_ENV
from ecs_migrate.errors import (
    CommandNotExecutableError,
    CommandNotFoundError,
    DatabaseConfigError,
)

PASSWORD = "s3cr3t/p@ss:word"
QUOTED = "s3cr3t%2Fp%40ss%3Aword"


# -- the URL ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "dialect", "port"),
    [
        (f"postgresql://app:{QUOTED}@db.internal/app", POSTGRES, 5432),
        (f"postgres://app:{QUOTED}@db.internal:6543/app", POSTGRES, 6543),
        (f"postgresql+psycopg://app:{QUOTED}@db.internal/app", POSTGRES, 5432),
        (f"mysql+pymysql://app:{QUOTED}@db.internal/app", MYSQL, 3306),
        (f"mariadb://app:{QUOTED}@db.internal:3307/app", MYSQL, 3307),
    ],
)
def test_url_is_parsed_and_described_without_the_password(
    value: str, dialect: str, port: int
) -> None:
    url = parse_url(value)
    assert (url.dialect, url.host, url.port, url.database, url.user) == (
        dialect,
        "db.internal",
        port,
        "app",
        "app",
    )
    assert url.password == PASSWORD  # percent-decoded, as the server expects it
    assert url.describe() == f"app@db.internal:{port}/app"
    assert PASSWORD not in repr(url) and QUOTED not in repr(url)
    assert set(url.secrets) == {PASSWORD, QUOTED}


def test_url_query_parameters_are_kept() -> None:
    url = parse_url("postgresql://app@db:5432/app?sslmode=require&connect_timeout=3")
    assert url.param("sslmode") == "require"
    assert url.param("absent") is None
    assert url.secrets == []


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("host=db dbname=app password=x", "not a URL"),
        (f"sqlite:///{PASSWORD}", "'sqlite'"),
        (f"postgresql:///app?passwd={QUOTED}", "'passwd', which libpq does not know"),
        (f"postgresql://app:{QUOTED}@db:notaport/app", "malformed host or port"),
    ],
)
def test_bad_urls_are_refused_without_quoting_them(value: str, words: str) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        parse_url(value, "MY_URL")
    message = caught.value.message + (caught.value.hint or "")
    assert words in message and "MY_URL" in message
    assert PASSWORD not in message and QUOTED not in message


@pytest.mark.parametrize(("environ", "state"), [({}, "is not set"), ({"DB": ""}, "is empty")])
def test_unset_variable_names_the_variable_and_the_fix(environ: dict[str, str], state: str) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        read_url({**environ, METADATA_ENV: "http://169.254.170.2/v4/1"}, "DB")  # in a task
    assert caught.value.message == f"DB {state} in this container."
    assert caught.value.exit_code == 3
    assert "secrets" in (caught.value.hint or "") and "db.url-defined" in (caught.value.hint or "")


# -- redaction -------------------------------------------------------------------------------
def test_secret_values_pick_secret_named_variables_of_useful_length() -> None:
    environ = {
        "DB_PASSWORD": "hunter22",
        "STRIPE_SECRET": "sk_live_abc",
        "GITHUB_TOKEN": "ghp_123456",
        "api_key": "key-000000",
        "KEY_FORMAT": "json",  # too short to hide: redacting "json" everywhere helps no one
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    assert set(secret_values(environ, ["pw"])) == {
        "hunter22",
        "sk_live_abc",
        "ghp_123456",
        "key-000000",
        "pw",  # given explicitly (the database password): always hidden
    }


def test_redactor_hides_longest_first_in_text_and_bytes() -> None:
    url = f"postgresql://app:{PASSWORD}@db/app"
    redactor = Redactor([PASSWORD, url, ""])
    assert redactor.text(f"url={url} pw={PASSWORD}.") == f"url={MARK} pw={MARK}."
    assert redactor.data(f"{PASSWORD}\n".encode()) == f"{MARK}\n".encode()
    assert Redactor([]).text("nothing to hide") == "nothing to hide"


# -- the lock key ----------------------------------------------------------------------------
def test_lock_key_is_a_stable_signed_64_bit_value() -> None:
    # docs/apply.md documents this derivation so DBAs can find the lock in pg_locks.
    assert lock_key("app") == lock_key("app")
    assert lock_key("app") != lock_key("app2")
    assert all(-(2**63) <= lock_key(n) < 2**63 for n in ("", "app", "x" * 500))
    key, classid, objid = Postgres._key("app")
    assert key == lock_key("app")
    assert (classid << 32 | objid) == key & 0xFFFFFFFFFFFFFFFF


# -- the command -----------------------------------------------------------------------------
def _script(path: Path, mode: int) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_command_is_found_on_the_given_path(tmp_path: Path) -> None:
    tool = _script(tmp_path / "migrate", 0o755)
    assert resolve_command(["migrate"], {"PATH": f"/nonexistent:{tmp_path}"}, "/") == str(tool)


def test_missing_command_is_127_naming_cwd_and_path(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFoundError) as caught:
        resolve_command(["alembic", "upgrade"], {"PATH": "/a:/b"}, str(tmp_path))
    assert caught.value.exit_code == 127
    assert "alembic: command not found" in caught.value.message
    assert str(tmp_path) in caught.value.message and "PATH=/a:/b" in caught.value.message


def test_not_executable_is_126(tmp_path: Path) -> None:
    _script(tmp_path / "migrate.sh", 0o644)
    for argv, env in ((["./migrate.sh"], {}), (["migrate.sh"], {"PATH": str(tmp_path)})):
        with pytest.raises(CommandNotExecutableError) as caught:
            resolve_command(argv, env, str(tmp_path))
        assert caught.value.exit_code == 126
        assert str(tmp_path / "migrate.sh") in caught.value.message
        assert "sh migrate.sh" in (caught.value.hint or "")


def test_relative_path_that_does_not_exist_is_127(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFoundError, match="no such file"):
        resolve_command(["bin/migrate"], {}, str(tmp_path))


def test_a_later_executable_on_path_wins_over_an_earlier_non_executable(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _script(first / "tool", 0o644)
    tool = _script(second / "tool", 0o755)
    assert os.access(tool, os.X_OK) and not (first / "tool").stat().st_mode & stat.S_IXUSR
    assert resolve_command(["tool"], {"PATH": f"{first}:{second}"}, "/") == str(tool)


@pytest.mark.parametrize(("returncode", "status"), [(0, 0), (3, 3), (-15, 143), (-9, 137)])
def test_shell_status(returncode: int, status: int) -> None:
    assert shell_status(returncode) == status


# -- the network probe and its hints ---------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_names_dns_for_a_name_that_cannot_resolve() -> None:
    failure = probe_network(parse_url("postgresql://u@db.example.invalid/app"), 1.0)
    assert failure is not None and failure.step == "dns" and failure.retry
    assert "db.example.invalid does not resolve" in failure.detail


def test_probe_names_tcp_refused_for_a_closed_port() -> None:
    port = _closed_port()
    failure = probe_network(parse_url(f"postgresql://u@127.0.0.1:{port}/app"), 1.0)
    assert failure is not None and failure.step == "tcp"
    assert failure.detail == f"127.0.0.1:{port} refused the connection"


def test_probe_passes_when_something_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = parse_url(f"postgresql://u@127.0.0.1:{server.getsockname()[1]}/app")
        assert probe_network(url, 1.0) is None


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (Failure("dns", "x does not resolve", True), "private hosted zone"),
        (Failure("tcp", "no answer from db:5432 within 10s", True), "db.security-group"),
        (Failure("tcp", "db:5432 refused the connection", True), "Nothing listens on port 5432"),
        (Failure("tcp", "db:5432: No route to host", True), "route"),
        (Failure("auth", "password authentication failed", False), "password in DATABASE_URL"),
        (Failure("database", 'database "x" does not exist', False), "Create the database"),
        (Failure("tls", "server does not support SSL", False), "sslmode"),
    ],
)
def test_each_step_has_its_own_fix(failure: Failure, words: str) -> None:
    assert words in hint_for(failure, parse_url("postgresql://u:p@db:5432/app"))


def test_postgres_connection_errors_are_classified_by_step() -> None:
    import psycopg

    pg = Postgres()
    cases = {
        'connection failed: connection to server at "1.2.3.4", port 5432 failed: FATAL:  '
        'password authentication failed for user "app"': ("auth", False),
        'FATAL:  database "nope" does not exist': ("database", False),
        "server does not support SSL, but SSL was required": ("tls", False),
        "FATAL:  the database system is starting up": ("server", True),
        "timeout expired": ("tcp", True),
    }
    for message, (step, retry) in cases.items():
        failure = pg.failure(psycopg.OperationalError(message))
        assert failure is not None and (failure.step, failure.retry) == (step, retry), message
        assert "connection to server at" not in failure.detail
    assert pg.failure(ValueError("not a driver error")) is None


# -- run --apply -----------------------------------------------------------------------------
def test_run_apply_wraps_the_command_as_an_argv_list() -> None:
    opts = RunOptions(cluster="c", service="s", command=["alembic", "upgrade", "head"], apply=True)
    assert opts.container_command == ["ecs-migrate", "apply", "--", "alembic", "upgrade", "head"]
    plain = RunOptions(cluster="c", service="s", command=["sh", "-c", "x; y"])
    assert plain.container_command == ["sh", "-c", "x; y"]


# -- the reporter protocol, the signals, the line `run --apply` reads ---------------------------
def _protocol_methods() -> list[str]:
    from ecs_migrate.commands.apply import ApplyReporter

    return sorted(name for name in vars(ApplyReporter) if not name.startswith("_"))


def test_the_reporter_protocol_is_complete_and_every_reporter_implements_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core calls each method as it is: the renderer and every fake implement them all."""
    import importlib.util

    from ecs_migrate.render.notes import ApplyRenderer

    assert _protocol_methods() == ["ended", "error", "output", "progress", "warning"]
    bench = Path(__file__).parents[2] / "bench"
    monkeypatch.syspath_prepend(str(bench))  # the bench's own helpers (_common)
    spec = importlib.util.spec_from_file_location("apply_overhead", bench / "apply_overhead.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for reporter in (ApplyRenderer, module.NullReporter):
        missing = [m for m in _protocol_methods() if not callable(getattr(reporter, m, None))]
        assert not missing, f"{reporter.__name__} lacks {missing}"


def test_an_error_reaches_the_reporter_redacted_never_formatted_by_the_core() -> None:
    from ecs_migrate.commands.apply import _Redacting

    class Kept:
        def __init__(self) -> None:
            self.calls: list[tuple[str, object]] = []

        def __getattr__(self, name: str) -> object:
            return lambda *args: self.calls.append((name, args))

    kept = Kept()
    reporter = _Redacting(kept, Redactor([PASSWORD]))  # type: ignore[arg-type]
    reporter.error(f"lost with {PASSWORD}")
    reporter.ended("stdout")
    assert kept.calls == [("error", (f"lost with {MARK}",)), ("ended", ("stdout",))]


def test_apply_s_signals_go_to_the_relay_and_the_handlers_come_back() -> None:
    import signal

    from ecs_migrate.cli.signals import forward_signals
    from ecs_migrate.commands.apply import SignalRelay

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM)}
    relay = SignalRelay()
    with forward_signals(relay):
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
    assert relay.received == [signal.SIGHUP, signal.SIGTERM]
    assert relay.cancel.is_set()  # no command ran: a cancel
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_signal_before_the_command_started_is_sent_to_it_once_it_runs() -> None:
    import signal
    import subprocess

    from ecs_migrate.commands.apply import SignalRelay

    relay = SignalRelay()
    # SIGTERM, not SIGINT: a test worker may ignore SIGINT, and its child with it.
    relay.deliver(signal.SIGTERM)  # between the lock and the start
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        relay.attach(child.pid)
        relay.deliver_pending()
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        relay.detach()
        child.kill()
        child.wait()


def test_apply_s_last_line_is_one_contract_written_prefixed_and_parsed() -> None:
    """The core writes it, the renderer prefixes it, the follower parses it."""
    import io
    from contextlib import redirect_stderr

    from ecs_migrate.common.apply_protocol import exited, exited_status
    from ecs_migrate.render.notes import ApplyRenderer

    err = io.StringIO()
    with redirect_stderr(err):
        ApplyRenderer().progress(exited(-3))
    assert err.getvalue() == "[ecs-migrate] The command exited with status -3.\n"
    assert exited_status("app: started\n" + err.getvalue()) == -3
    assert exited_status("[ecs-migrate] The command exited with status") is None
    assert exited_status("app: [ecs-migrate] The command exited with status 0.") is None
