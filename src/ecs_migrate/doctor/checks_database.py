"""Database checks (see the issue for the contract IDs)."""

from __future__ import annotations

AREA = "Database"
