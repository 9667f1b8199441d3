"""Sessions in a migration's way, as facts the server gives: who, from where, in what state,
and for how long their transaction has been open. Never a query's text (it can hold a
literal value: a password, a customer's e-mail)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Blocker:
    """A session that holds (or may hold) what the migration needs."""

    pid: int
    user: str | None = None
    application: str | None = None
    state: str | None = None
    transaction_age: float | None = None  # seconds its transaction has been open

    def to_json(self) -> dict[str, Any]:
        """The ``blockedBy`` item of ``history --output json``: a contract."""
        age = self.transaction_age
        return {
            "pid": self.pid,
            "user": self.user,
            "application": self.application,
            "state": self.state,
            "transactionAgeSeconds": round(age, 1) if age is not None else None,
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Blocker:
        age = item.get("transactionAgeSeconds")
        return cls(
            int(item["pid"]),
            item.get("user"),
            item.get("application"),
            item.get("state"),
            float(age) if age is not None else None,
        )

    def describe(self) -> str:
        """``session 812 (user report, psql, idle in transaction, transaction open 40s)``."""
        facts = [f"user {self.user}" if self.user else "", self.application or ""]
        facts.append(self.state or "")
        if self.transaction_age is not None:
            facts.append(f"transaction open {self.transaction_age:.0f}s")
        shown = ", ".join(f for f in facts if f)
        return f"session {self.pid}" + (f" ({shown})" if shown else "")


def describe_all(blockers: tuple[Blocker, ...] | list[Blocker]) -> str:
    return "; ".join(b.describe() for b in blockers)
