"""The one place that builds boto3 clients.

Everything AWS goes through :class:`Clients`: one session (credential chain, profile, region,
``AWS_ENDPOINT_URL``), one retry configuration, and one counter of the API calls made, which
the benchmarks and the policy model read. boto3 is imported lazily so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ecs_migrate import __version__
from ecs_migrate.errors import AccessDeniedError, AwsApiError, CredentialsError, TargetError

if TYPE_CHECKING:
    import boto3

# Real ECS says AccessDeniedException; EC2, RDS and IAM say AccessDenied; moto's ECS and Logs
# answer HTTP 403 with an XML body, which botocore reports as the code "403".
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "403", "UnauthorizedOperation", "UnauthorizedAccess"}
)
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 10
# Append one "service:Operation" line per API call to this file: an audit of what ecs-migrate
# asked of AWS, and how the test suite proves the policy model covers every call the code makes.
TRACE_ENV = "ECS_MIGRATE_TRACE_AWS_CALLS"


@dataclass
class AwsSettings:
    """What the user chose on the command line; everything else comes from boto3's chain."""

    region: str | None = None
    profile: str | None = None


@dataclass
class Clients:
    """Lazily built boto3 clients sharing one session and one retry policy.

    ``calls`` counts API operations as ``(service, operation)``; ``attempts`` counts HTTP
    attempts, so retries are visible.
    """

    settings: AwsSettings = field(default_factory=AwsSettings)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _session: boto3.Session | None = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _trace_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3
            import botocore.exceptions

            try:
                # botocore reads AWS_DEFAULT_REGION only; AWS_REGION is the newer name.
                region = self.settings.region or os.environ.get("AWS_REGION") or None
                self._session = boto3.Session(
                    profile_name=self.settings.profile, region_name=region
                )
            except botocore.exceptions.ProfileNotFound as exc:
                raise CredentialsError(
                    str(exc), hint="List your profiles with `aws configure list-profiles`."
                ) from exc
        return self._session

    @property
    def region(self) -> str:
        region: str | None = self.session.region_name
        if not region:
            raise CredentialsError(
                "No AWS region is configured.",
                hint="Pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION).",
            )
        return region

    def require_credentials(self) -> None:
        """Fail early (exit 3) without a region or credentials, instead of per call."""
        _ = self.region
        if self.session.get_credentials() is None:
            raise CredentialsError(
                "No AWS credentials found.",
                hint="Configure credentials: AWS_PROFILE, `aws sso login`, or OIDC in CI "
                "(aws-actions/configure-aws-credentials).",
            )

    def client(self, service: str, region: str | None = None) -> Any:
        """Return the shared client for ``service`` (``ecs``, ``logs``, ...), building it once.

        ``region``: another region's (a log group elsewhere), with the same retries, call
        counters and tracing.
        """
        key = service if region in (None, self.region) else f"{service}@{region}"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._build(service, region)
            return self._clients[key]

    def _build(self, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        session = self.session
        core = session._session  # botocore session: reads env and config files
        mode = core.get_config_variable("retry_mode") or DEFAULT_RETRY_MODE
        attempts = core.get_config_variable("max_attempts") or DEFAULT_MAX_ATTEMPTS
        config = Config(
            retries={"mode": mode, "total_max_attempts": int(attempts)},
            user_agent_appid=f"ecs-migrate-{__version__}",
            connect_timeout=10,
            read_timeout=30,
        )
        client = session.client(service, region_name=region or self.region, config=config)
        events = client.meta.events
        events.register("before-call", self._count_call)
        events.register("before-send", self._count_attempt)
        events.register("after-call", _name_denied_action)
        return client

    def _count_call(self, model: Any, **_: Any) -> None:
        key = (model.service_model.service_name, model.name)
        self.calls[key] += 1
        trace = os.environ.get(TRACE_ENV)
        if trace:
            prefix = model.service_model.signing_name or key[0]
            with self._trace_lock, open(trace, "a", encoding="utf-8") as out:
                out.write(f"{prefix}:{model.name}\n")

    def _count_attempt(self, event_name: str, **_: Any) -> None:
        # event_name is "before-send.<service-id>.<Operation>"
        parts = [*event_name.split(".", 2), "?", "?"]
        self.attempts[(parts[1], parts[2])] += 1

    @property
    def ecs(self) -> Any:
        return self.client("ecs")

    @property
    def logs(self) -> Any:
        return self.client("logs")


def _name_denied_action(parsed: Any, model: Any, **_: Any) -> None:
    """Record on an access-denied answer which IAM action was denied.

    Not every service names it (moto's ECS answers a bare 403), and ``ClientError`` keeps
    the operation but not the service, so the answer is annotated while both are known.
    """
    error = parsed.get("Error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and str(error.get("Code", "")) in ACCESS_DENIED_CODES:
        from ecs_migrate.policy.model import action_for_operation

        prefix = model.service_model.signing_name or model.service_model.service_name
        error["IamAction"] = action_for_operation(prefix, model.name)


def denied_action(exc: BaseException) -> str:
    """The IAM action an access-denied ClientError was about, or ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("IamAction", ""))
    return ""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_access_denied(exc: BaseException) -> bool:
    return error_code(exc) in ACCESS_DENIED_CODES


def _plain(exc: Any) -> str:
    """The error's message; an HTML error page (a proxy's, or moto's for an API it lacks)
    becomes one line instead of a page of markup."""
    message = str(exc.response.get("Error", {}).get("Message") or exc)
    if "<html" in message.lower() or "<!doctype" in message.lower():
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"HTTP {status}, with an HTML error page instead of an AWS answer"
    return message


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn botocore failures into the project's error hierarchy.

    ``action`` says what was being done ("describe the service"), for the message.
    """
    import botocore.exceptions as bex

    try:
        yield
    except bex.NoCredentialsError as exc:
        raise CredentialsError(
            f"No AWS credentials found while trying to {action}.",
            hint="Configure credentials: AWS_PROFILE, `aws sso login`, or OIDC in CI "
            "(aws-actions/configure-aws-credentials).",
        ) from exc
    except (bex.NoRegionError, bex.ProfileNotFound, bex.PartialCredentialsError) as exc:
        raise CredentialsError(f"Cannot {action}: {exc}") from exc
    except bex.ClientError as exc:
        code = error_code(exc)
        message = _plain(exc)
        if code in ACCESS_DENIED_CODES:
            iam_action = denied_action(exc) or "an action"
            raise AccessDeniedError(
                f"Access denied: not allowed to call {iam_action} (to {action}): {message}",
                hint=f"Grant {iam_action} to the role CI uses: `ecs-migrate policy generate` "
                "prints the least-privilege policy, `ecs-migrate doctor` shows what is "
                "missing.",
            ) from exc
        if code in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"}:
            raise CredentialsError(f"AWS credentials were rejected ({code}): {message}") from exc
        if code == "ClusterNotFoundException":
            raise TargetError(
                f"Cannot {action}: {message}", hint="List the clusters: aws ecs list-clusters"
            ) from exc
        if code == "ServiceNotFoundException":
            raise TargetError(f"Cannot {action}: {message}") from exc
        raise AwsApiError(f"AWS error while trying to {action}: {code}: {message}") from exc
    except bex.BotoCoreError as exc:
        raise AwsApiError(f"AWS call failed while trying to {action}: {exc}") from exc
