"""What the core needs of whoever shows progress: one method, the same everywhere."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Told what is happening, for a person; the CLI decides how (or whether) to show it."""

    def progress(self, message: str) -> None: ...
