"""run-many's targets file, hardened (issue 22): values are kept exactly as written (no YAML
1.1 types, JSON numbers keep their text), what cannot be kept is refused naming the target
and the key, duplicate keys are refused, hostile files (deep, huge, binary, not UTF-8, anchors,
tags) exit 2 with one clear line, and each target gets `run`'s region/ARN check.

Pure: parse_targets on text, load_targets on files written here.
"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.aws import AwsSettings
from ecs_migrate.commands.runmany.document import MAX_BYTES, MAX_DEPTH
from ecs_migrate.commands.runmany.targets import TargetSpec, load_targets, parse_targets
from ecs_migrate.errors import EcsMigrateError, UsageError

SECRET = "s3cret-canary-77d1"
EU_CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
US_TASKDEF = "arn:aws:ecs:us-east-2:123456789012:task-definition/api:3"
EU_SERVICE = "arn:aws:ecs:eu-west-1:123456789012:service/prod/api"

# Plain YAML scalars that YAML 1.1 (PyYAML's safe_load) turns into something else.
YAML_11_TRAPS = [
    "0012",  # octal: 10
    "012",
    "1.10",  # float: 1.1
    "12:30",  # sexagesimal: 750
    "1:2:3",
    "0x1F",  # hex: 31
    "0o17",
    "0b101",
    "1_000",
    "1e3",
    "+1",
    "-0",
    ".5",
    ".inf",
    "-.Inf",
    ".NaN",
    "yes",  # booleans
    "No",
    "on",
    "OFF",
    "true",
    "False",
    "y",
    "n",
    "2024-01-01",  # dates and timestamps
    "2001-12-14t21:59:43.10-05:00",
    "=",  # the value key
    "007e1",
]


def parse(text: str, source: str = "t.yml", **kwargs: Any) -> list[TargetSpec]:
    return parse_targets(text, source, ["true"], **kwargs)


def one(text: str, source: str = "t.yml", **kwargs: Any) -> TargetSpec:
    (spec,) = parse(text, source, **kwargs)
    return spec


def error(text: str, source: str = "t.yml", **kwargs: Any) -> str:
    """The message of the UsageError (exit 2) the text raises: one line, no secret."""
    with pytest.raises(UsageError) as caught:
        parse_targets(text, source, ["true"], **kwargs)
    assert caught.value.exit_code == 2
    message = caught.value.message
    assert "\n" not in message and SECRET not in message and SECRET not in str(caught.value.hint)
    return message


def json_text(data: Any) -> str:
    return json.dumps(data)


# -- 1. values as written ------------------------------------------------------------------


@pytest.mark.parametrize("written", YAML_11_TRAPS)
def test_a_plain_yaml_environment_value_reaches_the_spec_as_written(written: str) -> None:
    spec = one(f"targets:\n- service: s\n  cluster: c\n  environment:\n    TENANT: {written}\n")
    assert spec.environment == {"TENANT": written}


@pytest.mark.parametrize("written", YAML_11_TRAPS)
def test_every_other_value_is_kept_as_written_too(written: str) -> None:
    name = written if re.fullmatch(r"[A-Za-z0-9_.:/@+-]+", written) else "plain"
    text = (
        f"targets:\n- name: {name}\n  cluster: {written}\n  service: {written}\n"
        f"  container: {written}\n  command: [echo, {written}, '{written}']\n"
    )
    spec = one(text)
    assert (spec.name, spec.cluster, spec.service, spec.container) == (
        name,
        written,
        written,
        written,
    )
    assert spec.command == ["echo", written, written]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("'0012'", "0012"),
        ('"1.10"', "1.10"),
        ("!!str 12:30", "12:30"),
        ("! 0x1F", "0x1F"),
        ("''", ""),  # an empty value, said so
        ('"a\\tb"', "a\tb"),  # YAML's own escapes are the string's syntax
        ("|\n      line one\n      line two", "line one\nline two\n"),
        (">-\n      folded\n      text", "folded text"),
        ("'~'", "~"),
        ("'null'", "null"),
    ],
)
def test_quoted_tagged_and_block_values_are_the_yaml_string(written: str, value: str) -> None:
    spec = one(f"targets:\n- service: s\n  cluster: c\n  environment:\n    V: {written}\n")
    assert spec.environment == {"V": value}


def test_defaults_keep_their_values_as_written_and_targets_override() -> None:
    text = (
        "defaults:\n  cluster: 0012\n  service: 1.10\n  environment: {A: 0x1F, B: 12:30}\n"
        "  command: [migrate, 007]\ntargets:\n- name: t1\n- name: t2\n  environment: {B: 0o7}\n"
    )
    t1, t2 = parse(text)
    assert (t1.cluster, t1.service, t1.command) == ("0012", "1.10", ["migrate", "007"])
    assert t1.environment == {"A": "0x1F", "B": "12:30"}
    assert t2.environment == {"A": "0x1F", "B": "0o7"}


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("1.10", "1.10"),
        ("1e3", "1e3"),
        ("1E+03", "1E+03"),
        ("-0", "-0"),
        ("0.0", "0.0"),
        ("12345678901234567890123456789", "12345678901234567890123456789"),
        ("1" * 5000, "1" * 5000),  # beyond int()'s digit limit: still its text
        ("1e400", "1e400"),  # beyond a float: still its text
        ("true", "true"),
        ("false", "false"),
    ],
)
def test_a_json_number_or_boolean_keeps_its_text(number: str, text: str) -> None:
    body = (
        '{"targets": [{"name": "t", "cluster": "c", "service": "s", '
        f'"environment": {{"V": {number}}}, "command": ["echo", {number}]}}]}}'
    )
    spec = one(body, "t.json")
    assert spec.environment == {"V": text} and spec.command == ["echo", text]


def test_json_text_values_are_taken_as_they_are() -> None:
    data = {
        "targets": [{"name": "0012", "cluster": "c", "service": "s", "environment": {"T": "0012"}}]
    }
    spec = one(json_text(data), "t.json")
    assert spec.name == "0012" and spec.environment == {"T": "0012"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_not_json(literal: str) -> None:
    body = f'{{"targets": [{{"cluster": "c", "service": "s", "environment": {{"V": {literal}}}}}]}}'
    assert "not valid JSON" in error(body, "t.json")


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("~", "empty (null)"),
        ("null", "empty (null)"),
        ("Null", "empty (null)"),
        ("NULL", "empty (null)"),
        ("", "empty (null)"),
        ("[]", "a list or a mapping"),
        ("[a, b]", "a list or a mapping"),
        ("{}", "a list or a mapping"),
        (f"{{x: {SECRET}}}", "a list or a mapping"),
    ],
)
def test_a_yaml_value_that_cannot_be_passed_as_written_names_target_and_key(
    written: str, kind: str
) -> None:
    message = error(
        f"targets:\n- name: acme\n  cluster: c\n  service: s\n  environment:\n"
        f"    OK: {SECRET}\n    TENANT: {written}\n"
    )
    assert message.startswith("t.yml: target #1 (acme): key `environment`: the value of 'TENANT'")
    assert kind in message and "(line 7)" in message


@pytest.mark.parametrize("value", [None, [], ["a"], {}, {"k": SECRET}])
def test_a_json_value_that_cannot_be_passed_as_written_names_target_and_key(value: Any) -> None:
    data = {
        "targets": [
            {"name": "acme", "cluster": "c", "service": "s", "environment": {"TENANT": value}}
        ]
    }
    message = error(json_text(data), "t.json")
    assert message.startswith("t.json: target #1 (acme): key `environment`: the value of 'TENANT'")


@pytest.mark.parametrize("key", ["name", "cluster", "service", "container", "task-definition"])
@pytest.mark.parametrize("written", ["~", "", "[a]", "{a: b}", "' '"])
def test_a_text_key_without_text_names_the_target_and_the_key(key: str, written: str) -> None:
    base = {"cluster": "c", "service": "s"}
    lines = "".join(f"  {k}: {v}\n" for k, v in base.items() if k != key)
    message = error(f"targets:\n- {key}: {written}\n{lines}")
    assert message.startswith("t.yml: target #1") and f"key `{key}` must be" in message


@pytest.mark.parametrize("word", ["~", "null", "NULL", "[a]", "{a: b}", "[]"])
def test_a_command_word_without_text_is_refused(word: str) -> None:
    message = error(f"targets:\n- {{cluster: c, service: s, command: [echo, {word}]}}\n")
    assert "target #1 (s): key `command` must be a list of words" in message


@pytest.mark.parametrize(
    "text",
    [
        'targets: [{cluster: c, service: s, environment: {A: "x\\0y"}}]\n',
        'targets: [{cluster: c, service: s, command: [echo, "\\0"]}]\n',
        'targets: [{cluster: "c\\0", service: s}]\n',
    ],
)
def test_a_nul_character_is_refused_in_yaml(text: str) -> None:
    assert "NUL character" in error(text)


def test_a_nul_character_is_refused_in_json() -> None:
    data = {"targets": [{"cluster": "c", "service": "s", "environment": {"A": "x\u0000y"}}]}
    assert "the value of 'A' holds a NUL character" in error(json_text(data), "t.json")


def test_an_empty_value_and_newlines_are_values() -> None:
    data = {"targets": [{"cluster": "c", "service": "s", "environment": {"E": "", "P": "a\nb"}}]}
    assert one(json_text(data), "t.json").environment == {"E": "", "P": "a\nb"}


# -- 2. duplicate keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "targets:\n- {cluster: c, service: first}\ntargets:\n- {cluster: c, service: second}\n",
            "t.yml: at the top: duplicate key 'targets' (line 3; first on line 1).",
        ),
        (
            "defaults: {cluster: a}\ndefaults: {cluster: b}\ntargets: [{service: s}]\n",
            "t.yml: at the top: duplicate key 'defaults' (line 2; first on line 1).",
        ),
        (
            "defaults:\n  cluster: a\n  cluster: b\ntargets: [{service: s}]\n",
            "t.yml: defaults: duplicate key 'cluster' (line 3; first on line 2).",
        ),
        (
            "targets:\n- name: t\n  cluster: c\n  service: a\n  service: b\n",
            "t.yml: target #1 (t): duplicate key 'service' (line 5; first on line 4).",
        ),
        (
            "targets:\n- {name: t, cluster: c, service: s, command: [a], command: [b]}\n",
            "t.yml: target #1 (t): duplicate key 'command' (line 2; first on line 2).",
        ),
        (
            "targets:\n- name: t\n  cluster: c\n  service: s\n  name: u\n",
            "t.yml: target #1 (u): duplicate key 'name' (line 5; first on line 2).",
        ),
        (
            "targets:\n- name: t\n  cluster: c\n  service: s\n  environment:\n"
            f"    TENANT: a\n    X: {SECRET}\n    TENANT: b\n",
            "t.yml: target #1 (t): key `environment`: duplicate variable 'TENANT' (line 8; "
            "first on line 6).",
        ),
        (
            "targets:\n- name: t\n  cluster: c\n  service: s\n  environment: {TENANT: a}\n"
            "  environment: {TENANT: b}\n",
            "t.yml: target #1 (t): duplicate key 'environment' (line 6; first on line 5).",
        ),
        (
            "defaults:\n  environment: {A: 1, 'A': 2}\ntargets: [{cluster: c, service: s}]\n",
            "t.yml: defaults: key `environment`: duplicate variable 'A' (line 2; first on line 2).",
        ),
        (  # the same key, quoted once
            'targets:\n- {name: t, cluster: c, service: s, "service": s}\n',
            "t.yml: target #1 (t): duplicate key 'service'",
        ),
        (
            "targets:\n- {name: t, cluster: c, service: s, task-definition: a, "
            "task-definition: b}\n",
            "duplicate key 'task-definition'",
        ),
    ],
)
def test_a_yaml_key_given_twice_is_refused_naming_target_key_and_line(
    text: str, expected: str
) -> None:
    assert expected in error(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"targets": [{"cluster": "c", "service": "a"}], '
            '"targets": [{"cluster": "c", "service": "b"}]}',
            "t.json: at the top: duplicate key 'targets'.",
        ),
        (
            '{"targets": [{"name": "t", "cluster": "c", "service": "a", "service": "b"}]}',
            "t.json: target #1 (t): duplicate key 'service'.",
        ),
        (
            '{"targets": [{"name": "t", "cluster": "c", "service": "s", '
            '"environment": {"TENANT": "a", "TENANT": "b"}}]}',
            "t.json: target #1 (t): key `environment`: duplicate variable 'TENANT'.",
        ),
        (
            '{"defaults": {"cluster": "a", "cluster": "b"}, "targets": [{"service": "s"}]}',
            "t.json: defaults: duplicate key 'cluster'.",
        ),
        (  # the same key once escaped
            '{"targets": [{"name": "t", "cluster": "c", "service": "s", "servic\\u0065": "x"}]}',
            "duplicate key 'service'",
        ),
    ],
)
def test_a_json_key_given_twice_is_refused_naming_target_and_key(text: str, expected: str) -> None:
    assert expected in error(text, "t.json")


def test_keys_that_differ_only_in_case_are_different_variables() -> None:
    spec = one("targets:\n- {cluster: c, service: s, environment: {TENANT: a, tenant: b}}\n")
    assert spec.environment == {"TENANT": "a", "tenant": "b"}


def test_a_default_overridden_by_a_target_is_not_a_duplicate() -> None:
    text = "defaults: {cluster: c, environment: {A: x}}\ntargets: [{service: s, cluster: d}]\n"
    spec = one(text.replace("cluster: d}", "cluster: d, environment: {A: y}}"))
    assert (spec.cluster, spec.environment) == ("d", {"A": "y"})


# -- 3. hostile files ----------------------------------------------------------------------


DEEP = 100_000


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("[" * DEEP + "]" * DEEP, "t.json"),
        ('{"a":' * DEEP + "1" + "}" * DEEP, "t.json"),
        ('{"targets": [{"environment": ' + "[" * DEEP, "t.json"),  # deep and unfinished
        ("[" * DEEP + "]" * DEEP, "t.yml"),
        ("{a: " * DEEP + "1" + "}" * DEEP, "t.yml"),
        ("- " * DEEP + "x\n", "t.yml"),
        ("targets:\n- environment:\n    A: " + "[" * DEEP, "t.yml"),
        ("targets:\n" + "".join(f"{' ' * i}- \n" for i in range(0, 40)), "t.yml"),
    ],
)
def test_a_deeply_nested_file_is_one_clear_usage_error(text: str, source: str) -> None:
    started = time.monotonic()
    message = error(text, source)
    assert "nested" in message or "nesting" in message, message
    assert message.startswith(source)
    assert time.monotonic() - started < 5


def test_just_under_the_depth_limit_is_read_and_then_judged_on_its_content() -> None:
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert "target #1: expected a mapping" in error(f'{{"targets": {nested}}}', "t.json")


def test_brackets_inside_json_strings_do_not_count_as_depth() -> None:
    data = {"targets": [{"cluster": "c", "service": "s", "command": ["echo", "[" * 1000]}]}
    assert one(json_text(data), "t.json").command == ["echo", "[" * 1000]


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "targets: [{cluster: c, service: s, command: *i}]\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BILLION_LAUGHS, "line 1: anchors and aliases (&a, *a) are not accepted."),
        (
            "defaults: &d {cluster: c}\ntargets: [{service: s}]\n",
            "line 1: anchors and aliases (&d, *d)",
        ),
        ("targets:\n- *nowhere\n", "line 2: anchors and aliases"),
        ("x: &r [*r]\ntargets: []\n", "anchors and aliases"),
        (
            "base: {cluster: c}\ntargets:\n- <<: {cluster: c}\n  service: s\n",
            "merge keys (<<) are not accepted",
        ),
        (
            "targets:\n- !!python/object/apply:os.system ['touch /tmp/pwned']\n",
            "the tag '!!python/object/apply:os.system' is not accepted",
        ),
        (
            "targets: [{cluster: c, service: s, environment: {A: !!python/name:os.system x}}]\n",
            "the tag '!!python/name:os.system' is not accepted",
        ),
        ("targets: !!set {a, b}\n", "the tag '!!set' is not accepted"),
        ("targets: !!omap [{a: 1}]\n", "the tag '!!omap' is not accepted"),
        ("targets: [{cluster: !!binary aGk=, service: s}]\n", "the tag '!!binary'"),
        ("targets: [{cluster: !!int 0012, service: s}]\n", "the tag '!!int'"),
        ("targets: [{cluster: !!float 1.10, service: s}]\n", "the tag '!!float'"),
        ("targets: [{cluster: !!null '', service: s}]\n", "the tag '!!null'"),
        ("targets: [{cluster: !custom x, service: s}]\n", "the tag '!custom'"),
        ("targets: []\n---\ntargets: [{cluster: c, service: s}]\n", "a second YAML document"),
        ("targets:\n- {[a]: b, cluster: c, service: s}\n", "a key is a list or a mapping"),
        ("targets:\n- {~: b, cluster: c, service: s}\n", "a key is empty"),
        ("targets: [{service: s, cluster: c\n", "not valid YAML (line 2, column 1)"),
        ("targets: [{service: s, cluster: 'c}]\n", "not valid YAML"),
        ("\t- a: b\n", "not valid YAML"),
    ],
)
def test_hostile_yaml_is_refused_quickly_with_one_line(text: str, expected: str) -> None:
    started = time.monotonic()
    assert expected in error(text)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"targets": ', "t.json: not valid JSON (line 1, column 13)"),
        ('{"targets": [}', "not valid JSON"),
        ("{'targets': []}", "not valid JSON"),
        ('{"targets": [1,]}', "not valid JSON"),
        ('{"targets": []} {}', "not valid JSON"),
        ("[]", "expected a mapping with `targets`"),
        ('"targets"', "expected a mapping with `targets`"),
    ],
)
def test_malformed_json_is_one_clear_line(text: str, expected: str) -> None:
    assert expected in error(text, "t.json")


def write(tmp_path: Path, data: bytes, name: str = "targets.yml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(UsageError) as caught:
        load_targets(path, ["true"])
    assert caught.value.exit_code == 2 and "\n" not in caught.value.message
    return caught.value.message


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    with path.open("wb") as file:  # sparse: 4 GiB on disk costs nothing
        file.truncate(4 * 1024**3)
    started = time.monotonic()
    message = load_error(path)
    assert "is larger than 8 MiB" in message and time.monotonic() - started < 5


def test_a_file_just_at_the_limit_is_read(tmp_path: Path) -> None:
    head = b"targets: [{cluster: c, service: s}]\n"
    path = write(tmp_path, head + b"#" * (MAX_BYTES - len(head) - 1) + b"\n")
    assert [s.service for s in load_targets(path, ["true"])] == ["s"]


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_a_usage_error(tmp_path: Path, seed: int) -> None:
    data = random.Random(seed).randbytes(4096)
    for name in ("t.yml", "t.json"):
        load_error(write(tmp_path, data, name))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("targets: [{cluster: c, service: caf\xe9}]\n".encode("latin-1"), "is not UTF-8 text"),
        (b"\xff\xfe" + "targets: []".encode("utf-16-le"), "is not UTF-8 text"),
        (b"targets: [{cluster: c,\x00 service: s}]\n", "holds a NUL byte (line 1)"),
        (b"\n\n\x00", "holds a NUL byte (line 3)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not UTF-8 text: byte 0x89 on line 1"),
        (b"PK\x03\x04\x00\x00", "holds a NUL byte (line 1)"),
        (b"", "expected a mapping with `targets`"),
    ],
)
def test_files_that_are_not_text_are_refused(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in load_error(write(tmp_path, data))


def test_not_utf8_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, b"targets:\n- service: s\n  cluster: \xc3\x28\n")
    message = load_error(path)
    assert "byte 0xc3 on line 3" in message and str(path) in message


@pytest.mark.parametrize("name", ["t.yml", "t.json"])
def test_a_utf8_bom_is_accepted(tmp_path: Path, name: str) -> None:
    body = '{"targets": [{"cluster": "c", "service": "s"}]}'
    (spec,) = load_targets(write(tmp_path, b"\xef\xbb\xbf" + body.encode(), name), ["true"])
    assert spec.service == "s"


def test_a_directory_or_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert "Cannot read the targets file" in load_error(tmp_path)
    assert "Cannot read the targets file" in load_error(tmp_path / "missing.yml")


def test_a_large_ordinary_file_is_read_in_proportion(tmp_path: Path) -> None:
    lines = "".join(f"- {{name: t{i}, environment: {{TENANT: {i:05d}}}}}\n" for i in range(5000))
    path = write(tmp_path, f"defaults: {{cluster: c, service: s}}\ntargets:\n{lines}".encode())
    specs = load_targets(path, ["true"])
    assert len(specs) == 5000 and specs[7].environment == {"TENANT": "00007"}


# -- 4. run's checks: the region of a target's ARNs ----------------------------------------


@pytest.mark.parametrize(
    ("target", "default_region", "expected"),
    [
        (
            {"cluster": EU_CLUSTER, "region": "us-east-1"},
            None,
            "`region` us-east-1 does not match arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        ),
        (
            {"cluster": EU_CLUSTER},
            "us-east-1",
            "--region us-east-1 does not match arn:aws:ecs:eu-west-1",
        ),
        (
            {"cluster": "prod", "service": EU_SERVICE, "region": "eu-central-1"},
            None,
            "`region` eu-central-1 does not match",
        ),
        (
            {"cluster": EU_CLUSTER, "task-definition": US_TASKDEF},
            None,
            "is in eu-west-1 but arn:aws:ecs:us-east-2",
        ),
        ({"cluster": "c", "region": "us east"}, None, "`region` 'us east' is not a region name"),
        ({"cluster": "c", "region": "us-east-1\n"}, None, "is not a region name"),
        ({"cluster": "c", "region": "x" * 80}, None, "is not a region name"),
    ],
)
def test_a_region_that_contradicts_the_targets_arns_is_refused(
    target: dict[str, str], default_region: str | None, expected: str
) -> None:
    data = {"targets": [{"name": "t", "service": "s", **target}]}
    message = error(json_text(data), "t.json", region=default_region)
    assert message.startswith("t.json: target #1 (t): ") and expected in message


@pytest.mark.parametrize(
    ("target", "default_region", "region"),
    [
        ({"cluster": EU_CLUSTER}, None, "eu-west-1"),  # the ARN's region, as run takes it
        ({"cluster": EU_CLUSTER, "region": "eu-west-1"}, "us-east-1", "eu-west-1"),
        ({"cluster": "prod", "task-definition": US_TASKDEF}, None, "us-east-2"),
        ({"cluster": "prod", "region": "ap-south-1"}, "us-east-1", "ap-south-1"),
        ({"cluster": "prod"}, "us-east-1", None),  # the default clients' region
        ({"cluster": "prod"}, None, None),
    ],
)
def test_a_target_runs_in_the_region_its_arns_name(
    target: dict[str, str], default_region: str | None, region: str | None
) -> None:
    data = {"targets": [{"service": "s", **target}]}
    assert one(json_text(data), "t.json", region=default_region).region == region


REGION_CASES = [
    (region, refs)
    for region in (None, "eu-west-1", "us-east-1", "bad region", "us-east-1\n")
    for refs in (
        ("prod", "api", None),
        (EU_CLUSTER, "api", None),
        ("prod", EU_SERVICE, None),
        (EU_CLUSTER, "api", US_TASKDEF),
        ("prod", "api", "api:3"),
    )
]


@pytest.mark.parametrize(("region", "refs"), REGION_CASES)
def test_a_target_is_refused_exactly_when_run_refuses_the_same_flags(
    region: str | None, refs: tuple[str, str, str | None]
) -> None:
    """`run --region R --cluster C --service S --task-definition T` builds AwsSettings(R, ...,
    (C, S, T)); a target with the same values must be refused exactly when that is."""
    try:
        run_region: str | None = AwsSettings(region, None, refs).region
        run_refused = False
    except EcsMigrateError:
        run_region, run_refused = None, True
    target = {"cluster": refs[0], "service": refs[1], "name": "t"}
    if refs[2]:
        target["task-definition"] = refs[2]
    if region:
        target["region"] = region
    body = json_text({"targets": [target]})
    if run_refused:
        error(body, "t.json")
    else:
        assert (one(body, "t.json").region or run_region) == run_region


def test_the_documented_limits_are_the_codes() -> None:
    page = (Path(__file__).parents[2] / "docs" / "run-many.md").read_text()
    assert f"Nesting deeper than {MAX_DEPTH} levels" in page
    assert f"A file over {MAX_BYTES // 1024 // 1024} MiB" in page


# -- 5. run's option checks, once per distinct target --------------------------------------


def test_defaults_over_run_tasks_overrides_limit_are_refused_before_any_target() -> None:
    env = {f"V{i:03}": SECRET + "x" * 60 for i in range(120)}
    data = {"defaults": {"cluster": "c", "environment": env}, "targets": [{"service": "s"}]}
    message = error(json_text(data), "t.json")
    assert message.startswith("t.json: defaults: The container overrides would be")
    assert "8,192" in message
    words = {"defaults": {"cluster": "c", "command": ["w"] * 3000}, "targets": [{"service": "s"}]}
    assert "over RunTask's limit of 8,192" in error(json_text(words), "t.json")


def test_every_target_goes_through_runs_option_checks_naming_it() -> None:
    from ecs_migrate.commands.runmany import RunManyOptions, check_targets

    good = TargetSpec(name="ok", cluster="c", service="s", command=["true"])
    bad = TargetSpec(name="bad", cluster="c", service=" ", command=["true"])
    opts = RunManyOptions(targets="t.yml")
    check_targets(opts, [good])
    with pytest.raises(UsageError) as caught:
        check_targets(opts, [good, bad])
    assert caught.value.message.startswith("t.yml: target bad: RunOptions.service must be")


def test_tenants_of_one_service_are_checked_once_not_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ecs_migrate.commands import runmany

    built: list[str] = []
    real = runmany.run_options

    def counting(opts: Any, spec: TargetSpec) -> Any:
        built.append(spec.name)
        return real(opts, spec)

    monkeypatch.setattr(runmany, "run_options", counting)
    tenants = [{"name": f"t{i}", "environment": {"TENANT": f"{i:05d}"}} for i in range(20_000)]
    data = {
        "defaults": {"cluster": "c", "service": "s", "environment": {"A": "1"}},
        "targets": [*tenants, {"name": "other", "service": "billing"}],
    }
    specs = parse(json_text(data), "t.json")
    runmany.check_targets(runmany.RunManyOptions(targets="t.json"), specs)
    assert built == ["t0", "other"]
    assert specs[5].environment == {"A": "1", "TENANT": "00005"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * DEEP + "]" * DEEP, "nested more than"),
        ("- " * DEEP + "x\n", "nested more than"),
        ("targets:\n- {cluster: c, service: s, environment: {A: &x 1}}\n", "anchors and aliases"),
        ("targets:\n- {cluster: c, service: s}\ntargets: []\n", "duplicate key 'targets'"),
    ],
)
def test_without_libyaml_the_pure_python_parser_gives_the_same_answers(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    import yaml  # type: ignore[import-untyped]

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    assert expected in error(text)
    spec = one("targets:\n- {cluster: c, service: s, environment: {T: 0012, V: 1.10}}\n")
    assert spec.environment == {"T": "0012", "V": "1.10"}
