"""One redaction for every command line shown and every output (issue 22, section 2): the
forms credentials take in a command line, secrets printed JSON-, repr- or shell-escaped, and
secrets over several lines redacted line by line as apply's output is. Each test plants its
own canary and checks that no form of it survives.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import uuid

import pytest

from ecs_migrate.common.redact import MARK, Redactor, mask_command, secret_name, secret_values
from ecs_migrate.render.run import RunRenderer, command_text, shown_command
from ecs_migrate.tasks.logstream import LogEvent


def canary(tag: str = "c") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


# -- credentials in a command line ---------------------------------------------------------------
# Each form is an argv with {a}, {b}, {c} for three different canaries.
FORMS = {
    "issue-example": [
        "sh",
        "-c",
        'PGPASSWORD={a} psql "postgresql://u:{b}@h/db" --password={c}',
    ],
    "mysql-pwd-in-a-script": ["sh", "-c", "MYSQL_PWD={a} mysql -u root; DB_PASS='{b} x' run"],
    "mysql-pwd-argument": ["env", "MYSQL_PWD={a}", "mysql"],
    "env-with-spaces": ["env", "PGPASSWORD={a} and more {b}", "psql"],
    "docker-e": ["docker", "run", "-e", "API_TOKEN={a}", "-e", "REDIS_PW={b}", "img"],
    "export-in-a-script": ["bash", "-lc", 'export PGPASSWORD={a}; export API_KEY="{b}"; go'],
    "option-then-value": ["tool", "--password", "{a}", "--db-pass", "{b}", "--api-token", "{c}"],
    "option-then-value-in-a-script": ["sh", "-c", "tool --password {a} --passphrase '{b} {c}'"],
    "mysql-dash-p-quoted": ["sh", "-c", "mysql -u root -p'{a}' app; mariadb -p\"{b}\" x"],
    "mysql-dash-p-argument": ["/usr/bin/mysql", "-u", "root", "-p{a}", "app"],
    "url-with-at-in-password": ["psql", "postgresql://app:{a}@x@db/app"],
    "url-in-query": ["sh", "-c", "psql 'postgresql://h/db?sslpassword={a}&password={b}'"],
    "libpq-keywords": ["psql", "host=db password={a} dbname=app"],
    "alembic-x": ["alembic", "-x", "db_password={a}", "upgrade", "head"],
    "authorization-header": ["curl", "-H", "Authorization: Bearer {a}", "https://x"],
    "authorization-in-a-script": ["sh", "-c", "curl -H 'authorization: token {a}' x"],
    "credentials-env-name": ["env", "GOOGLE_CREDENTIALS={a}", "x"],
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_is_masked_in_the_shown_command(form: list[str]) -> None:
    a, b, c = canary("a"), canary("b"), canary("c")
    argv = [arg.format(a=a, b=b, c=c) for arg in form]
    text, found = mask_command(argv)
    planted = [s for s in (a, b, c) if any(s in arg for arg in argv)]
    for secret in planted:
        assert secret not in text, text
        assert any(secret in value for value in found), found  # hidden in the output too
    assert MARK in text
    # run shows the same text in its verdict, annotation and job summary
    for shown in (command_text(argv, 10_000), shown_command(argv), command_text(argv, 200)):
        assert not any(secret in shown for secret in planted), shown


ORDINARY = [
    ["sh", "-c", "cd $PWD && PWD=/srv ls; OLDPWD=/tmp true"],
    ["psql", "--no-password", "-p5432", "-h", "db", "--table=users"],
    ["env", "PGPASSFILE=/app/.pgpass", "PATH=/usr/bin", "psql"],
    ["alembic", "-x", "tenant=acme", "upgrade", "head"],
    ["psql", "-c", "select 1"],
    # a variable's name is not its value: the audit trail keeps which variable was used
    ["sh", "-c", 'echo "token=$APP_API_TOKEN"; PGPASSWORD=$PW psql; X_TOKEN="${T}" true'],
    ["psql", "--password", "$DB_PASSWORD"],
    ["psql", "--password=${DB_PASSWORD}"],
    ["env", "PGPASSWORD=$PW", "psql"],
]


@pytest.mark.parametrize("argv", ORDINARY)
def test_ordinary_arguments_are_shown_as_they_are(argv: list[str]) -> None:
    import shlex

    assert mask_command(argv) == (shlex.join(argv), [])


def test_a_byte_that_is_not_utf8_is_shown_escaped() -> None:
    text, _ = mask_command(["printf", os.fsdecode(b"a\xffb")])
    assert text == "printf 'a\\xffb'"
    text.encode("utf-8")  # can be printed and stored


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("MYSQL_PWD", True),
        ("DB_PASS", True),
        ("REDIS_PW", True),
        ("db.pass", True),
        ("SSH_PASSPHRASE", True),
        ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True),
        ("PGPASSWORD", True),
        ("api_key", True),
        ("PWD", False),
        ("OLDPWD", False),
        ("PGPASSFILE", False),
        ("PASSENGER_ENV", False),
        ("PATH", False),
        ("COMPASS_URL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret
    value = canary()
    assert (value in secret_values({name: value})) is secret


# -- printed forms -----------------------------------------------------------------------------
PASSWORD = "p@ss w\"o\\rd/é😀'x<&>\t1"


def printed_forms(secret: str) -> dict[str, str]:
    """How programs print a value: the key names the form."""
    plain = json.dumps(secret, ensure_ascii=False)
    return {
        "raw": secret,
        "json": json.dumps(secret),
        "json-unicode": plain,
        "json-in-json": json.dumps(json.dumps(secret)),
        "json-in-json-unicode": json.dumps(plain, ensure_ascii=False),
        "json-escaped-slash": json.dumps(secret).replace("/", "\\/"),
        "json-upper-hex": re.sub(
            r"\\u[0-9a-f]{4}", lambda m: "\\u" + m[0][2:].upper(), json.dumps(secret)
        ),
        "json-mixed-hex": json.dumps(secret).replace("\\u00e9", "\\u00E9"),
        "json-html-safe": json.dumps(secret)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026"),
        "json-object": json.dumps({"password": secret}),
        "repr": repr(secret),
        "ascii": ascii(secret),
        "shell-quoted": "'" + secret.replace("'", "'\\''") + "'",
        "percent-encoded": __import__("urllib.parse").parse.quote(secret, safe=""),
        "percent-lower": __import__("urllib.parse").parse.quote(secret, safe="").lower(),
    }


@pytest.mark.parametrize("form", printed_forms(PASSWORD).keys())
def test_a_secret_is_hidden_however_it_is_printed(form: str) -> None:
    printed = printed_forms(PASSWORD)[form]
    redactor = Redactor([PASSWORD])
    line = f"config: {printed} end\n"
    for out in (redactor.text(line), redactor.data(line.encode()).decode()):
        assert MARK in out, out
        leftover = out.replace("config: ", "").replace(" end\n", "")
        # nothing of the secret is left but the quotes around it
        assert leftover.strip("'\"\\") == MARK or leftover.count(MARK) == 1, leftover
        for piece in ("p@ss", "rd/", "😀", "\\ud83d", "%F0%9F", 'w\\"o'):
            assert piece not in out, (piece, out)


def test_the_database_url_printed_json_escaped_is_hidden() -> None:
    pw = canary("pw")
    url = f"postgresql://app:{pw}@db.internal:5432/app"
    redactor = Redactor(secret_values({"DATABASE_URL": url}, [url, pw]))
    for printed in (json.dumps(url), json.dumps(url).replace("/", "\\/"), json.dumps([url])):
        out = redactor.text(printed)
        assert pw not in out and "db.internal" not in out, out


def fake_pem(size: int) -> str:
    """A PEM block of ``size`` bytes: base64 in lines of 64, the last one short."""
    body = base64.b64encode(os.urandom(size)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("size", [1190, 1191, 1192, 1193, 96])  # last lines of 4 to 64 chars
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_secret_over_several_lines_is_hidden_line_by_line(size: int, newline: str) -> None:
    pem = fake_pem(size)
    lines = pem.strip().splitlines()
    redactor = Redactor(secret_values({"TLS_PRIVATE_KEY": pem}))
    # apply's output is redacted a line at a time, as the command prints it
    printed = pem.replace("\n", newline)
    out = b"".join(redactor.data(line) for line in printed.encode().splitlines(keepends=True))
    shown = out.decode()
    body = [line for line in lines if "-----" not in line]
    for line in body:
        assert line not in shown, (line, shown)
    indented = "".join(redactor.text("    " + line + "\n") for line in lines)
    assert not any(line in indented for line in body)
    assert redactor.text(json.dumps(pem)) == f'"{MARK}"'
    assert redactor.text(json.dumps({"key": pem})) == f'{{"key": "{MARK}"}}'


def test_short_lines_are_hidden_only_as_a_whole_line() -> None:
    secret = "line-one-long\nAB==\n"
    redactor = Redactor([secret])
    assert redactor.text("AB==\n") == f"{MARK}\n"
    assert redactor.text("  AB==  \n") == f"  {MARK}  \n"
    assert redactor.text("xAB==y AB== inside\n") == "xAB==y AB== inside\n"
    assert redactor.data(b"AB==\r\n") == MARK.encode() + b"\r\n"


def test_a_value_that_is_not_utf8_is_hidden_as_its_bytes() -> None:
    value = os.fsdecode(b"tok-\xff\xfe-" + uuid.uuid4().hex[:8].encode())
    redactor = Redactor(secret_values({"API_TOKEN": value}))
    raw = os.fsencode(value)
    assert redactor.data(b"x " + raw + b" y\n") == b"x " + MARK.encode() + b" y\n"
    assert redactor.text("x " + value) == "x " + MARK


@pytest.mark.parametrize("filler", [b"\\", b"%", b"-", b"\\u00", b"'\\''"])
def test_long_hostile_lines_come_out_as_they_went_in(filler: bytes) -> None:
    """A 64 KiB line (apply's longest) of a filler that looks like part of a printed form
    holds no secret, so it comes out unchanged (how long it takes: bench/hostile_text.py)."""
    redactor = Redactor([fake_pem(1200), PASSWORD, "\\\\\\x-%%%%-" + canary(), "'\\''-" + canary()])
    line = filler * (65536 // len(filler)) + b"\n"
    assert redactor.data(line) == line


# -- run's renderer --------------------------------------------------------------------------
def test_run_hides_the_command_s_credentials_in_the_task_output(tmp_path: object) -> None:
    a, b = canary("a"), canary("b")
    argv = ["sh", "-c", f"PGPASSWORD={a} psql postgresql://u:{b}@h/db; echo done"]
    out, err = io.StringIO(), io.StringIO()
    renderer = RunRenderer(False, None, out, err, command=argv)
    renderer.log(LogEvent(timestamp_ms=0, message=f"connecting with {a} to {b}"))
    renderer.log(LogEvent(timestamp_ms=0, message=json.dumps({"pw": a})))
    shown = out.getvalue() + err.getvalue()
    assert a not in shown and b not in shown and shown.count(MARK) == 3, shown


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_masking_a_shown_line_again_changes_nothing(form: list[str]) -> None:
    """history masks stored lines again when it reads them: a masked line stays as it is."""
    from ecs_migrate.common.redact import mask_shown

    text, _ = mask_command([arg.format(a="aaaaaaaa", b="bbbbbbbb", c="cccccccc") for arg in form])
    assert mask_shown(text) == text


def test_a_key_inside_a_json_credentials_variable_is_hidden_once_decoded() -> None:
    """GOOGLE_CREDENTIALS-style: the key's line breaks are \\n escapes in the variable; the
    program decodes the JSON and prints the key over several lines."""
    pem = fake_pem(1192)
    credentials = json.dumps({"type": "service_account", "private_key": pem}, indent=2)
    redactor = Redactor(secret_values({"GOOGLE_CREDENTIALS": credentials}))
    printed = json.loads(credentials)["private_key"]
    shown = b"".join(redactor.data(line) for line in printed.encode().splitlines(keepends=True))
    assert not any(line in shown.decode() for line in pem_body(pem))


def pem_body(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and "-----" not in line]
