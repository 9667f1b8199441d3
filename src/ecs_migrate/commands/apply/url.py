"""The database URL: read from a variable, parsed, and described without its secrets.

Parsing is :func:`ecs_migrate.dburl.parse_db_url`, the one parser `apply`, `history` and
`db-check`'s probe share: PostgreSQL URLs mean what they mean to libpq (every connection
keyword, several hosts, Unix sockets, query parameters overriding the URL's parts), MySQL URLs
what they mean to PyMySQL. ``describe()`` names the host, port, database and user: never the
password, and never the whole URL. SQLAlchemy-style schemes (``postgresql+psycopg://``,
``mysql+pymysql://``) are accepted, since Alembic apps keep their URL in that form.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from ecs_migrate import dburl
from ecs_migrate.common.task_metadata import METADATA_ENV
from ecs_migrate.errors import DatabaseConfigError

POSTGRES = dburl.POSTGRES
MYSQL = dburl.MYSQL
DEFAULT_PORT = dburl.DEFAULT_PORTS


@dataclass(frozen=True)
class DatabaseUrl:
    dialect: str  # POSTGRES or MYSQL
    host: str  # the first host; a socket when it starts with "/"; "" for the driver's default
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    query: tuple[tuple[str, str], ...] = ()
    var: str = "DATABASE_URL"
    # The driver's connection parameters: libpq keywords, or PyMySQL's (normalised) names.
    params: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    raw_password: str = field(default="", repr=False, compare=False)  # as written in the URL

    def describe(self) -> str:
        """``user@host:port/database``: what messages may show."""
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.endpoint}/{self.database or '(default database)'}"

    @property
    def endpoint(self) -> str:
        if self.dialect == POSTGRES and (self.params.get("host") or "").count(","):
            return ",".join(_hostport(h, p) for h, p in dburl.pg_targets(dict(self.params)))
        if self.host.startswith("/"):
            return self.host if self.dialect == MYSQL else f"{self.host}/.s.PGSQL.{self.port}"
        if not self.host:
            return f"the default socket (port {self.port})"
        return _hostport(self.host, self.port)

    @property
    def tcp_target(self) -> tuple[str, int] | None:
        """The one TCP (host, port) to check before connecting; None when the driver picks
        among several hosts, or connects through a Unix socket."""
        if self.dialect == MYSQL:
            socket = self.params.get("unix_socket")
            return None if socket else (self.host or "localhost", self.port)
        targets = dburl.pg_targets(dict(self.params))
        if len(targets) != 1 or not targets[0][0] or targets[0][0].startswith(("/", "@")):
            return None
        return targets[0]

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output: the password (raw, as written in the URL,
        and URL-encoded) and the other secret parameters. The redactor also matches each in
        any percent-encoding."""
        found = {v for v in dburl.secrets_of(dict(self.params)) if v}
        if self.password:
            found |= {self.password, urllib.parse.quote(self.password, safe="")}
            found |= {urllib.parse.quote_plus(self.password, safe="")}
        if self.raw_password:
            found.add(self.raw_password)
        return sorted(found, key=len, reverse=True)

    def param(self, name: str) -> str | None:
        """A connection parameter, by the driver's name (MySQL: ``ssl_mode`` for ssl-mode)."""
        if name in self.params:
            return self.params[name]
        for key, value in self.query:
            if key == name:
                return value
        return None


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _raw_password(value: str) -> str:
    """The password as written, before decoding (libpq: up to the first '@', before '/')."""
    rest = value.partition("://")[2]
    userinfo, at, _ = rest.partition("@")
    if not at or "/" in userinfo:
        return ""
    return userinfo.partition(":")[2]


def parse_url(
    value: str, var: str = "DATABASE_URL", environ: Mapping[str, str] | None = None
) -> DatabaseUrl:
    """Parse a database URL. Errors name the variable and the problem, never the value.
    PostgreSQL parameters the URL leaves out come from ``environ``'s PGHOST, PGUSER, ...,
    as libpq takes them."""
    _check_utf8(value, f"{var} is not UTF-8 text")
    try:
        dialect, params = dburl.parse_db_url(value, dict(environ or {}))
        for name, param in params.items():  # PGPASSWORD, ... may have brought any byte
            _check_utf8(param, f"{_source(name, param, var, environ or {})} is not UTF-8 text")
        dburl.check_values(dialect, params)
    except dburl.DbUrlError as exc:
        hint = None
        if "not a URL" in str(exc):
            hint = (
                "Keyword strings such as 'host=... dbname=...' are not supported: use the URL form."
            )
        raise DatabaseConfigError(f"{var} {exc}.", hint=hint) from None
    if dialect == dburl.SQLITE:
        raise DatabaseConfigError(
            f"{var} uses the scheme 'sqlite': apply and history work with PostgreSQL, MySQL "
            "and MariaDB, which hold a lock for the run; SQLite is not supported."
        )
    if dialect == MYSQL:
        host = params.get("unix_socket") or params.get("host", "")
        port = int(params.get("port") or DEFAULT_PORT[MYSQL])
    else:
        host, port = dburl.pg_targets(params)[0]
        if params.get("hostaddr") and params.get("host"):
            host = params["host"].split(",")[0]
    return DatabaseUrl(
        dialect=dialect,
        host=host,
        port=port,
        database=params.get("dbname", params.get("database", "")),
        user=params.get("user", ""),
        password=params.get("password", ""),
        var=var,
        params=params,
        raw_password=_raw_password(value.strip()),
    )


def _source(name: str, value: str, var: str, environ: Mapping[str, str]) -> str:
    """Where a PostgreSQL parameter came from: its PG* variable (PGPASSWORD, ...) when the
    URL left it out, else the URL."""
    env = "PG" + ("DATABASE" if name == "dbname" else name.upper())
    if name in dburl.PG_ENV and environ.get(env) == value:
        return env
    return f"{var}'s parameter {name}"


def _check_utf8(value: str, problem: str) -> None:
    """Refuse text that came from bytes that are not UTF-8 (Python keeps them as lone
    surrogates): no driver can send it. Names the character's position, never the value."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DatabaseConfigError(
            f"{problem} (character {exc.start + 1} is a byte that is not UTF-8).",
            hint="Write it in UTF-8; in a URL, percent-encode what is not ASCII (é as %C3%A9).",
        ) from None


def read_url(environ: Mapping[str, str], var: str) -> DatabaseUrl:
    """The URL from ``environ[var]``; a clear error when the variable is unset or empty: in an
    ECS task (its metadata variable is set), how the task definition passes it; elsewhere,
    how to set it in the shell."""
    value = environ.get(var)
    if value:
        return parse_url(value, var, environ)
    state = "is empty" if value is not None else "is not set"
    if environ.get(METADATA_ENV):
        raise DatabaseConfigError(
            f"{var} {state} in this container.",
            hint=f"Pass it from Secrets Manager with the container's `secrets` "
            f'(`{{"name": "{var}", "valueFrom": "arn:aws:secretsmanager:..."}}`), or name the '
            "variable with --database-url-var. `ecs-migrate doctor` checks this "
            "(db.url-defined).",
        )
    raise DatabaseConfigError(
        f"{var} {state} in this environment.",
        hint="Outside an ECS task, apply and history read the URL from your shell: "
        f"export {var}='postgresql://USER:PASSWORD@HOST:5432/DBNAME' (or mysql://...), or name "
        "the variable that holds it with --database-url-var NAME. To use the service's own URL, "
        "in its network, run them in a task: ecs-migrate run --cluster CLUSTER --service "
        "SERVICE -- ecs-migrate history (or run --apply -- COMMAND).",
    )
