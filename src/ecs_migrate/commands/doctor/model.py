"""Checks and findings are data: a Check names a function; running it gives a CheckResult."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecs_migrate.commands.doctor.context import Context


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Verdict:
    """What a check function returns: the verdict, one line, and a fix for warn/fail."""

    status: Status
    message: str
    fix: str | None = None


def passed(message: str) -> Verdict:
    return Verdict(Status.PASS, message)


def warn(message: str, fix: str) -> Verdict:
    return Verdict(Status.WARN, message, fix)


def fail(message: str, fix: str) -> Verdict:
    return Verdict(Status.FAIL, message, fix)


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
    """A registered check. ``needs``: checks that must pass (or warn) before this one runs.

    ``when`` names the doctor option that enables it ("exec", "probe"); None: always.
    """

    id: str
    area: str
    func: CheckFunc
    needs: tuple[str, ...] = ()
    when: str | None = None
    fixer: Fixer | None = None


@dataclass(frozen=True)
class CheckResult:
    id: str
    area: str
    status: Status
    message: str
    fix: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": str(self.status),
            "message": self.message,
            "fix": self.fix,
            "area": self.area,
        }


@dataclass
class Registry:
    checks: list[Check] = field(default_factory=list)

    def check(
        self,
        id: str,
        *,
        area: str,
        needs: tuple[str, ...] = (),
        when: str | None = None,
        fixer: Fixer | None = None,
    ) -> Callable[[CheckFunc], CheckFunc]:
        def register(func: CheckFunc) -> CheckFunc:
            if any(c.id == id for c in self.checks):
                raise ValueError(f"check {id} registered twice")
            self.checks.append(Check(id, area, func, needs, when, fixer))
            return func

        return register


REGISTRY = Registry()
check = REGISTRY.check
