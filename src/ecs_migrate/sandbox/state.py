"""The sandbox's state: which services a request changed, and forgetting them.

``ChangeTracker`` is WSGI middleware in front of moto. It records the service of each request
that may change state: every action whose name does not start as a read does (``Describe``,
``List``, ``Get``...); a request whose action it cannot tell changes state unless it is a GET
or HEAD; a call to ``/moto-api`` (a reset, a state transition) may change everything ("*").
Agent requests count as any other. Faulted and scripted answers never reach moto, nor this.

``wipe(keep)`` forgets every service's state but ``keep``'s, as moto's ``/moto-api/reset``
does, without rebuilding each backend before dropping it (moto's reset builds every backend
it drops once more: EC2's, with its images, costs a tenth of a second), but for the backends
that clean up on a reset (S3 frees its bucket names and files). When EC2 is kept and
ECS is not, the network interfaces of ECS's tasks go with the tasks.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
EVERYTHING = "*"
_READS = ("Describe", "List", "Get", "BatchGet", "Filter", "Lookup", "Search", "Simulate")
_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_FORM = "application/x-www-form-urlencoded"
_ECS_ENI = "moto ECS"  # the description moto gives the ENI of an awsvpc task


class ChangeTracker:
    """Records in ``changed`` the services that received a request that may change state."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.changed: set[str] = set()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.changed.clear()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        change = _change(environ)
        if change:
            with self._lock:
                self.changed.add(change)
        return self.app(environ, start_response)


def _change(environ: dict[str, Any]) -> str | None:
    """The service a request may change ("*" when it cannot tell which), or None."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        return None if method in ("GET", "HEAD") else EVERYTHING
    action = _action(environ)
    reads = action.startswith(_READS) if action else method in ("GET", "HEAD")
    if reads:
        return None
    scope = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return scope.group(1) if scope else EVERYTHING


def _action(environ: dict[str, Any]) -> str:
    """The API action: from X-Amz-Target (JSON protocols), or the query or form's Action."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if query.get("Action"):
        return query["Action"][0]
    if not str(environ.get("CONTENT_TYPE", "")).startswith(_FORM):
        return ""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)  # left readable for moto
    form = parse_qs(raw.decode("utf-8", "replace"))
    return form["Action"][0] if form.get("Action") else ""


def wipe(keep: Collection[str] = ()) -> None:
    """Forget the state of every moto service but those in ``keep`` (moto's service names:
    "ec2", "iam"...). The state transitions moto's reset forgets are forgotten too."""
    from moto.core.base_backend import BackendDict, BaseBackend, backend_lock
    from moto.moto_api._internal.models import moto_api_backend

    with backend_lock:  # an RLock: moto's reset takes it again
        instances: list[Any] = BackendDict._instances  # type: ignore[misc]
        kept = [b for b in instances if b.service_name in keep]
        dropped = [b for b in instances if b.service_name not in keep]
        for backend in dropped:
            for account in backend.values():
                for region, regional in list(account.items()):
                    if type(regional).reset is BaseBackend.reset:  # else it cleans up (S3)
                        del account[region]  # nothing left for moto's reset to rebuild
        instances[:] = dropped
        moto_api_backend.reset()  # clears the dropped services and moto's own state
        instances.extend(kept)
    if "ec2" in keep and "ecs" not in keep:
        _drop_task_enis()


def _drop_task_enis() -> None:
    from moto.ec2.models import ec2_backends

    for account in ec2_backends.values():
        for backend in account.values():
            for eni_id, eni in list(backend.enis.items()):
                if eni.description == _ECS_ENI:
                    backend.enis.pop(eni_id, None)
