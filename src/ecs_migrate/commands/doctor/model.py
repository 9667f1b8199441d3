"""Checks and findings are data: a Check names a function; running it gives a CheckResult."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ecs_migrate.common.findings import Fix, as_fix
from ecs_migrate.errors import EXIT_COMMAND_FAILED

if TYPE_CHECKING:
    from ecs_migrate.commands.doctor.context import Context


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        """The report's order: failures first, then warnings, passes, skips."""
        return _RANKS[self]


_RANKS = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2, Status.SKIP: 3}
STATUSES = tuple(Status)  # the summary's keys, in this order


class When(StrEnum):
    """The doctor option (a DoctorOptions field) that enables a check; None: always."""

    EXEC = "exec"
    DEPLOY = "deploy"
    PROBE = "probe"


@dataclass(frozen=True)
class Area:
    """A group of checks, and its place in the report: the most fundamental first."""

    name: str
    order: int


@dataclass(frozen=True)
class Verdict:
    """What a check function returns: the verdict, one line, and a fix for warn/fail."""

    status: Status
    message: str
    fix: Fix | None = None


def passed(message: str) -> Verdict:
    return Verdict(Status.PASS, message)


def warn(message: str, fix: Fix | str) -> Verdict:
    """A warning, and its fix (a string is prose)."""
    return Verdict(Status.WARN, message, as_fix(fix))


def fail(message: str, fix: Fix | str) -> Verdict:
    """A failure, and its fix (a string is prose)."""
    return Verdict(Status.FAIL, message, as_fix(fix))


def skip(why: str) -> Verdict:
    return Verdict(Status.SKIP, why)


class Skip(Exception):
    """Raised inside a check (or a Context lookup) to skip it with a reason."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


CheckFunc = Callable[["Context"], Verdict]


# A safe fix: describe() says what it will do; apply() does it and says what it did.
@dataclass(frozen=True)
class Fixer:
    describe: Callable[[Context], str]
    apply: Callable[[Context], str]


@dataclass(frozen=True)
class Check:
    """A registered check, and its own facts. ``needs``: checks that must pass (or warn)
    before this one runs. ``when``: the doctor option that enables it; None: always.
    ``order``: its area's place in the report. ``fails_with``: the exit status its failure
    means (3 when the target itself is wrong, as for `run`).
    """

    id: str
    area: str
    func: CheckFunc
    needs: tuple[str, ...] = ()
    when: When | None = None
    fixer: Fixer | None = None
    order: int = 0
    fails_with: int = EXIT_COMMAND_FAILED

    def enabled(self, opts: Any) -> bool:
        """Whether ``opts`` (DoctorOptions) selects this check."""
        return self.when is None or bool(getattr(opts, str(self.when), False))


@dataclass(frozen=True)
class CheckResult:
    id: str
    area: str
    status: Status
    message: str
    fix: Fix | None = None
    seconds: float = 0.0
    fails_with: int = EXIT_COMMAND_FAILED  # the exit status this result means if it failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": str(self.status),
            "message": self.message,
            "fix": self.fix.text if self.fix else None,
            "area": self.area,
        }


@dataclass
class Registry:
    checks: list[Check] = field(default_factory=list)

    def check(
        self,
        id: str,
        *,
        area: Area,
        needs: tuple[str, ...] = (),
        when: When | None = None,
        fixer: Fixer | None = None,
        fails_with: int = EXIT_COMMAND_FAILED,
    ) -> Callable[[CheckFunc], CheckFunc]:
        def register(func: CheckFunc) -> CheckFunc:
            if any(c.id == id for c in self.checks):
                raise ValueError(f"check {id} registered twice")
            found = Check(id, area.name, func, needs, when, fixer, area.order, fails_with)
            self.checks.append(found)
            return func

        return register


REGISTRY = Registry()
check = REGISTRY.check
