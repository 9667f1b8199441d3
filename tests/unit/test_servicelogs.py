"""`ecs-migrate logs` without AWS: --since, task IDs, the log source, the dedupe window, the
reader against a scripted FilterLogEvents (pages, late events, pacing, errors), and the lines."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import pytest

from ecs_migrate.commands.logs import (
    EventReader,
    EventWindow,
    FollowSettings,
    LogSource,
    ServiceLogEvent,
    iso_ms,
    log_source,
    parse_since,
    stream_exists,
    task_id_from,
    task_id_of_stream,
)
from ecs_migrate.errors import AccessDeniedError, AwsApiError, TargetError, UsageError
from ecs_migrate.render.logs import EventPrinter, format_json, format_line
from ecs_migrate.tasks.target import LogConfig

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
TASK_A = "0123456789abcdef0123456789abcdef"
TASK_B = "fedcba9876543210fedcba9876543210"
PREFIX = "ecs/app/"


# -- --since -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86_400), ("1w", 604_800), ("0s", 0)],
)
def test_since_durations(text: str, seconds: int) -> None:
    assert parse_since(text, NOW) == NOW_MS - seconds * 1000


def test_since_units_are_case_insensitive_and_whitespace_is_trimmed() -> None:
    assert parse_since(" 10M ", NOW) == NOW_MS - 600_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T11:00:00Z", NOW - timedelta(hours=1)),
        ("2024-05-01T13:00:00+02:00", NOW - timedelta(hours=1)),
        ("2024-05-01T11:30:00", NOW - timedelta(minutes=30)),  # no zone: UTC
        ("2024-05-01T11:59:59.250Z", NOW - timedelta(milliseconds=750)),
        ("2024-04-30", NOW - timedelta(hours=36)),
    ],
)
def test_since_iso_times(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == int(expected.timestamp() * 1000)


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "-5m", "5 m", "1y", "2024", "m10"])
def test_since_bad_values_are_usage_errors_with_an_example(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_since(text, NOW)
    assert caught.value.exit_code == 2
    assert "30s, 10m, 2h, 1d" in caught.value.message
    assert caught.value.hint and "Example: ecs-migrate logs" in caught.value.hint


def test_since_in_the_future_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="in the future"):
        parse_since("2024-05-01T12:00:01Z", NOW)


def test_since_a_huge_duration_starts_at_the_epoch() -> None:
    assert parse_since("999999999d", NOW) == 0


# -- task IDs and streams ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        TASK_A,
        f"arn:aws:ecs:us-east-1:123456789012:task/prod/{TASK_A}",
        f"arn:aws:ecs:us-east-1:123456789012:task/{TASK_A}",  # the old ARN form
        f" {TASK_A} ",
    ],
)
def test_task_id_from_an_id_or_an_arn(ref: str) -> None:
    assert task_id_from(ref) == TASK_A


@pytest.mark.parametrize("ref", ["", "   ", "arn:aws:ecs:us-east-1:123456789012:cluster/prod"])
def test_task_id_from_rejects_what_is_not_a_task(ref: str) -> None:
    with pytest.raises(UsageError):
        task_id_from(ref)


@pytest.mark.parametrize(
    ("stream", "task_id"),
    [
        (f"ecs/app/{TASK_A}", TASK_A),
        (f"team/web/ecs/app/{TASK_A}", TASK_A),  # a prefix with slashes
        ("lonely", "lonely"),
    ],
)
def test_task_id_of_stream(stream: str, task_id: str) -> None:
    assert task_id_of_stream(stream) == task_id


# -- the source: group and streams from the awslogs options ------------------------------------


def awslogs(**options: str) -> LogConfig:
    return LogConfig(
        driver="awslogs",
        group=options.get("group"),
        stream_prefix=options.get("prefix"),
        region=options.get("region"),
    )


def test_source_for_every_task_of_the_container() -> None:
    source = log_source(awslogs(group="/ecs/app", prefix="ecs"), "app", "app", None, 5, "eu-west-1")
    assert (source.group, source.stream_prefix, source.task_id) == ("/ecs/app", PREFIX, None)
    assert (source.start_ms, source.region) == (5, "eu-west-1")
    assert source.matches(f"ecs/app/{TASK_A}")
    assert not source.matches(f"ecs/worker/{TASK_A}")
    assert not source.matches(f"other/app/{TASK_A}")


def test_source_for_one_task_matches_only_its_stream() -> None:
    source = log_source(awslogs(group="/ecs/app", prefix="ecs"), "app", "app", TASK_A, 0, "r")
    assert source.stream_prefix == f"ecs/app/{TASK_A}"
    assert source.matches(f"ecs/app/{TASK_A}")
    assert not source.matches(f"ecs/app/{TASK_A}x")
    assert not source.matches(f"ecs/app/{TASK_B}")


@pytest.mark.parametrize("driver", ["json-file", "awsfirelens", "splunk", "none"])
def test_source_needs_the_awslogs_driver(driver: str) -> None:
    with pytest.raises(TargetError) as caught:
        log_source(LogConfig(driver=driver), "app", "app", None, 0, "r")
    assert caught.value.exit_code == 3
    assert repr(driver) in caught.value.message and "not awslogs" in caught.value.message
    assert caught.value.hint and '"logDriver": "awslogs"' in caught.value.hint


@pytest.mark.parametrize(
    ("config", "missing"),
    [
        (awslogs(group="/ecs/app"), "awslogs-stream-prefix"),
        (awslogs(prefix="ecs"), "awslogs-group"),
    ],
)
def test_source_needs_a_group_and_a_stream_prefix(config: LogConfig, missing: str) -> None:
    with pytest.raises(TargetError) as caught:
        log_source(config, "app", "app", None, 0, "r")
    assert missing in caught.value.message
    assert caught.value.hint and f"Set {missing}" in caught.value.hint


# -- the window: each event once, late ones caught ---------------------------------------------


def ev(ts: int, event_id: str, task: str = TASK_A, message: str = "") -> ServiceLogEvent:
    stream = f"ecs/app/{task}"
    return ServiceLogEvent(ts, message or f"m{event_id}", stream, task, event_id)


def test_window_starts_at_since_then_overlaps_the_newest_event() -> None:
    window = EventWindow(start_ms=1_000, overlap_ms=500)
    assert window.query_start() == 1_000
    window.admit([ev(1_200, "a")])
    assert window.query_start() == 1_000  # never before --since
    window.admit([ev(5_000, "b")])
    assert window.query_start() == 4_500


def test_window_drops_events_seen_before_and_sorts_the_new() -> None:
    window = EventWindow(start_ms=0, overlap_ms=10_000)
    first = window.admit([ev(20, "b"), ev(10, "a"), ev(20, "c")])
    assert [e.event_id for e in first] == ["a", "b", "c"]
    again = window.admit([ev(10, "a"), ev(20, "b"), ev(20, "c"), ev(30, "d")])
    assert [e.event_id for e in again] == ["d"]


def test_window_keeps_the_given_order_for_equal_timestamps() -> None:
    window = EventWindow(start_ms=0, overlap_ms=0)
    got = window.admit([ev(5, "z", message="first"), ev(5, "a", message="second")])
    assert [e.message for e in got] == ["first", "second"]


def test_window_same_event_id_in_two_streams_is_two_events() -> None:
    window = EventWindow(start_ms=0, overlap_ms=1_000)
    assert len(window.admit([ev(1, "7", TASK_A), ev(1, "7", TASK_B)])) == 2


def test_window_a_late_event_inside_the_overlap_is_shown_once() -> None:
    window = EventWindow(start_ms=0, overlap_ms=5_000)
    window.admit([ev(10_000, "new")])
    late = ev(7_000, "late")  # ingested after the newer one was shown
    assert window.query_start() <= late.timestamp_ms
    assert window.admit([late, ev(10_000, "new")]) == [late]
    assert window.admit([late, ev(10_000, "new")]) == []


def test_window_forgets_ids_that_no_query_can_return() -> None:
    window = EventWindow(start_ms=0, overlap_ms=1_000)
    window.admit([ev(i * 100, str(i)) for i in range(100)])  # 0 .. 9,900 ms
    assert window.query_start() == 8_900
    assert len(window._seen) == 11  # 8,900 .. 9,900: no query can return the older ones


# -- the reader against a scripted FilterLogEvents ---------------------------------------------


class FakeTime:
    """A clock and a Cancellation: waiting advances the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.cancelled = False
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.cancelled

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        self.now += timeout or 0.0
        return self.cancelled


def raw(ts: int, event_id: str, task: str = TASK_A, message: str = "") -> dict[str, Any]:
    return {
        "timestamp": ts,
        "eventId": event_id,
        "logStreamName": f"ecs/app/{task}",
        "message": message or f"m{event_id}",
        "ingestionTime": ts + 1,
    }


class ScriptedLogs:
    """FilterLogEvents answering from a list of pages per call; records each request."""

    def __init__(self, time: FakeTime, answers: list[Any], cancel_after: int | None = None):
        self.time = time
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        self.at: list[float] = []
        self.cancel_after = cancel_after

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        self.at.append(self.time.now)
        if self.cancel_after is not None and len(self.requests) >= self.cancel_after:
            self.time.cancelled = True
        answer = self.answers.pop(0) if self.answers else {"events": []}
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


SOURCE = LogSource("/ecs/app", "us-east-1", "app", PREFIX, None, start_ms=1_000)


def reader(
    client: ScriptedLogs, *, follow: bool = False, source: LogSource = SOURCE, **kw: Any
) -> EventReader:
    return EventReader(
        client,
        source,
        following=follow,
        cancel=client.time,
        clock=client.time.clock,
        settings=FollowSettings(overlap_ms=5_000),
        **kw,
    )


def test_one_read_follows_every_page_and_asks_for_the_prefix() -> None:
    time = FakeTime()
    client = ScriptedLogs(
        time,
        [
            {"events": [raw(2_000, "1"), raw(2_001, "2")], "nextToken": "t1"},
            {"events": [], "nextToken": "t2"},  # AWS may answer an empty page with a token
            {"events": [raw(2_002, "3", TASK_B)]},
        ],
    )
    shown: list[ServiceLogEvent] = []
    r = reader(client, filter_pattern="ERROR")
    assert r.poll(shown.append) == 3
    assert [e.event_id for e in shown] == ["1", "2", "3"]
    assert [q.get("nextToken") for q in client.requests] == [None, "t1", "t2"]
    for request in client.requests:
        assert request["logGroupName"] == "/ecs/app"
        assert request["logStreamNamePrefix"] == PREFIX
        assert request["startTime"] == 1_000
        assert request["filterPattern"] == "ERROR"
        assert "logStreamNames" not in request
    assert r.streams == {f"ecs/app/{TASK_A}", f"ecs/app/{TASK_B}"}
    assert shown[2].task_id == TASK_B


def test_a_repeated_token_ends_the_read() -> None:
    time = FakeTime()
    client = ScriptedLogs(time, [{"events": [], "nextToken": "same"}] * 5)
    reader(client).poll(lambda e: None)
    assert len(client.requests) == 2


def test_events_of_other_streams_are_dropped() -> None:
    # moto 5.2.5 ignores logStreamNamePrefix; the reader keeps only the source's streams.
    time = FakeTime()
    one_task = LogSource("/ecs/app", "r", "app", f"ecs/app/{TASK_A}", TASK_A, start_ms=0)
    client = ScriptedLogs(
        time,
        [
            {
                "events": [
                    raw(1, "1", TASK_A),
                    raw(2, "2", TASK_B),
                    {**raw(3, "3"), "logStreamName": "x"},
                ]
            }
        ],
    )
    shown: list[ServiceLogEvent] = []
    reader(client, source=one_task).poll(shown.append)
    assert [e.event_id for e in shown] == ["1"]
    assert client.requests[0]["logStreamNamePrefix"] == f"ecs/app/{TASK_A}"


def test_follow_overlaps_dedupes_and_catches_late_events() -> None:
    time = FakeTime()
    client = ScriptedLogs(
        time,
        [
            {"events": [raw(10_000, "a"), raw(11_000, "b")]},
            # Next poll: the overlap returns a and b again, plus c ingested late (older than b).
            {"events": [raw(10_000, "a"), raw(10_500, "c"), raw(11_000, "b"), raw(12_000, "d")]},
            {"events": [raw(12_000, "d")]},
        ],
        cancel_after=3,
    )
    shown: list[ServiceLogEvent] = []
    r = reader(client, follow=True)
    r.follow(shown.append)
    assert [e.event_id for e in shown] == ["a", "b", "c", "d"]
    assert [q["startTime"] for q in client.requests] == [1_000, 6_000, 7_000]
    assert r.events_shown == 4


def test_follow_never_calls_more_than_once_a_second_and_backs_off_when_idle() -> None:
    time = FakeTime()
    answers: list[Any] = [
        {"events": [raw(2_000, "1")], "nextToken": "p2"},
        {"events": [raw(2_001, "2")], "nextToken": "p3"},
        {"events": [raw(2_002, "3")]},
    ]
    client = ScriptedLogs(time, answers, cancel_after=12)
    reader(client, follow=True).follow(lambda e: None)
    gaps = [b - a for a, b in itertools.pairwise(client.at)]
    assert min(gaps) >= 1.0 - 1e-9, gaps
    # Idle polls back off: 1.5, 2.25, then capped at 3 s.
    assert gaps[-1] == pytest.approx(3.0)
    assert sorted(gaps)[-2] == pytest.approx(3.0)
    assert 1.5 in [round(g, 6) for g in gaps]


def test_a_one_shot_read_paces_its_pages_lightly() -> None:
    time = FakeTime()
    pages = [{"events": [raw(2_000 + i, str(i))], "nextToken": f"t{i}"} for i in range(5)]
    client = ScriptedLogs(time, [*pages, {"events": []}])
    reader(client).poll(lambda e: None)
    gaps = [b - a for a, b in itertools.pairwise(client.at)]
    assert all(g >= 0.2 - 1e-9 for g in gaps) and max(gaps) < 1.0, gaps


def test_cancel_stops_a_follow_between_calls() -> None:
    time = FakeTime()
    client = ScriptedLogs(time, [{"events": [raw(2_000, "1")], "nextToken": "t"}], cancel_after=1)
    shown: list[ServiceLogEvent] = []
    reader(client, follow=True).follow(shown.append)
    assert len(client.requests) == 1 and len(shown) == 1


def client_error(code: str, message: str = "boom", status: int = 400) -> Exception:
    error: Exception = botocore.exceptions.ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "FilterLogEvents",
    )
    return error


def test_a_missing_group_is_a_target_error_naming_it() -> None:
    client = ScriptedLogs(FakeTime(), [client_error("ResourceNotFoundException")])
    with pytest.raises(TargetError) as caught:
        reader(client).poll(lambda e: None)
    assert "'/ecs/app' does not exist in us-east-1" in caught.value.message
    assert caught.value.hint and "describe-log-groups" in caught.value.hint


def test_a_rejected_filter_is_a_usage_error() -> None:
    client = ScriptedLogs(FakeTime(), [client_error("InvalidParameterException", "bad pattern")])
    with pytest.raises(UsageError, match=r"rejected --filter '\{ \$\.x'"):
        reader(client, filter_pattern="{ $.x").poll(lambda e: None)


def test_access_denied_and_other_errors_keep_the_common_mapping() -> None:
    client = ScriptedLogs(FakeTime(), [client_error("AccessDeniedException", status=403)])
    with pytest.raises(AccessDeniedError):
        reader(client).poll(lambda e: None)
    client = ScriptedLogs(FakeTime(), [client_error("ThrottlingException")])
    with pytest.raises(AwsApiError, match="ThrottlingException"):
        reader(client).poll(lambda e: None)


class Streams:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []

    def describe_log_streams(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return dict(self.answer)


def test_stream_exists() -> None:
    found = Streams({"logStreams": [{"logStreamName": f"ecs/app/{TASK_A}"}]})
    assert stream_exists(found, SOURCE) is True
    assert found.requests == [
        {"logGroupName": "/ecs/app", "logStreamNamePrefix": PREFIX, "limit": 1}
    ]
    assert stream_exists(Streams({"logStreams": []}), SOURCE) is False
    denied = Streams(client_error("AccessDeniedException", status=403))
    assert stream_exists(denied, SOURCE) is None


# -- rendering ---------------------------------------------------------------------------------


def test_iso_ms() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(NOW_MS + 7) == "2024-05-01T12:00:00.007Z"
    assert iso_ms(NOW_MS + 999) == "2024-05-01T12:00:00.999Z"


def test_text_line() -> None:
    event = ServiceLogEvent(NOW_MS + 42, "migrating 001\n", f"ecs/app/{TASK_A}", TASK_A, "1")
    assert format_line(event) == "2024-05-01T12:00:00.042Z 01234567 migrating 001"
    styled = format_line(event, styled=True)
    assert styled.startswith("\x1b[2m2024-05-01T12:00:00.042Z 01234567\x1b[0m ")
    assert styled.endswith(" migrating 001")


def test_json_line() -> None:
    event = ServiceLogEvent(NOW_MS, 'say "hi"\tthere', f"ecs/app/{TASK_A}", TASK_A, "1")
    line = format_json(event)
    assert "\n" not in line
    assert json.loads(line) == {
        "timestamp": "2024-05-01T12:00:00.000Z",
        "taskId": TASK_A,
        "stream": f"ecs/app/{TASK_A}",
        "message": 'say "hi"\tthere',
    }


def test_printer_is_plain_off_a_terminal_and_flushes_when_following() -> None:
    class Out(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    out = Out()
    printer = EventPrinter("text", follow=True, out=out)
    assert not printer.styled
    printer(ServiceLogEvent(NOW_MS, "x", "s/c/t", "t", "1"))
    assert out.getvalue() == "2024-05-01T12:00:00.000Z t x\n"
    assert out.flushes == 1
    quiet = Out()
    EventPrinter("json", follow=False, out=quiet)(ServiceLogEvent(0, "x", "s/c/t", "t"))
    assert json.loads(quiet.getvalue())["message"] == "x" and quiet.flushes == 0
