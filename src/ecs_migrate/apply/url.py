"""The database URL: read from a variable, parsed, and described without its secrets.

``describe()`` names the host, port, database and user: never the password, and never the
whole URL. SQLAlchemy-style schemes (``postgresql+psycopg://``, ``mysql+pymysql://``) are
accepted, since Alembic apps keep their URL in that form.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from ecs_migrate.errors import DatabaseConfigError

POSTGRES = "postgresql"
MYSQL = "mysql"
_SCHEMES = {
    "postgres": POSTGRES,
    "postgresql": POSTGRES,
    "pgsql": POSTGRES,
    "mysql": MYSQL,
    "mariadb": MYSQL,
}
DEFAULT_PORT = {POSTGRES: 5432, MYSQL: 3306}


@dataclass(frozen=True)
class DatabaseUrl:
    dialect: str  # POSTGRES or MYSQL
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    query: tuple[tuple[str, str], ...] = ()
    var: str = "DATABASE_URL"

    def describe(self) -> str:
        """``user@host:port/database``: what messages may show."""
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.endpoint}/{self.database or '(default database)'}"

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output: the password, raw and URL-encoded."""
        if not self.password:
            return []
        quoted = urllib.parse.quote(self.password, safe="")
        return sorted({self.password, quoted}, key=len, reverse=True)

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


def parse_url(value: str, var: str = "DATABASE_URL") -> DatabaseUrl:
    """Parse a database URL. Errors name the variable and the problem, never the value."""
    value = value.strip()
    scheme, sep, _ = value.partition("://")
    if not sep:
        raise DatabaseConfigError(
            f"{var} is not a URL (expected postgresql://user:password@host:5432/dbname "
            "or mysql://...).",
            hint="Keyword strings such as 'host=... dbname=...' are not supported: "
            "use the URL form.",
        )
    dialect = _SCHEMES.get(scheme.lower().split("+", 1)[0])
    if dialect is None:
        raise DatabaseConfigError(
            f"{var} uses the scheme {scheme.split('+', 1)[0]!r}, which apply does not "
            "support: use postgresql:// (PostgreSQL) or mysql:// (MySQL, MariaDB).",
        )
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as exc:
        # The message of urllib's error may quote the value: don't pass it on.
        raise DatabaseConfigError(f"{var} has a malformed host or port.") from exc
    if not parts.hostname:
        raise DatabaseConfigError(
            f"{var} has no host: apply connects over TCP, as a task in the VPC does.",
        )
    return DatabaseUrl(
        dialect=dialect,
        host=parts.hostname,
        port=port or DEFAULT_PORT[dialect],
        database=urllib.parse.unquote(parts.path.lstrip("/")),
        user=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
        query=tuple(urllib.parse.parse_qsl(parts.query)),
        var=var,
    )


def read_url(environ: Mapping[str, str], var: str) -> DatabaseUrl:
    """The URL from ``environ[var]``; a clear error when the variable is unset or empty."""
    value = environ.get(var)
    if not value:
        state = "is empty" if value is not None else "is not set"
        raise DatabaseConfigError(
            f"{var} {state} in this container.",
            hint=f"Pass it from Secrets Manager with the container's `secrets` "
            f'(`{{"name": "{var}", "valueFrom": "arn:aws:secretsmanager:..."}}`), or name the '
            "variable with --database-url-var. `ecs-migrate doctor` checks this "
            "(db.url-defined).",
        )
    return parse_url(value, var)
