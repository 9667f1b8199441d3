"""The one place that builds the AWS clients (botocore).

Everything AWS goes through :class:`Clients`: one session (credential chain, profile, region,
``AWS_ENDPOINT_URL``), one retry configuration, and one counter of the API calls made, which
the benchmarks and the policy model read. botocore is imported lazily so ``--help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ecs_migrate.awsguard import (
    REGION,
    check_credentials,
    check_environment_settings,
    check_profile,
    check_region,
    refuse_bad_headers,
    scrub,
)
from ecs_migrate.errors import (
    AccessDeniedError,
    AwsApiError,
    AwsConfigError,
    CredentialsError,
    TargetError,
    UsageError,
)
from ecs_migrate.validate import check_fields, has_methods
from ecs_migrate.version import __version__

if TYPE_CHECKING:
    import botocore.session

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


RETRY_MODES = ("legacy", "standard", "adaptive")
_CONFIGURE = (
    "Configure credentials: AWS_PROFILE, `aws sso login`, or OIDC in CI "
    "(aws-actions/configure-aws-credentials)."
)

ActionLookup = Callable[[str, str], str]
"""(IAM service prefix, API operation) -> the IAM action that authorises the call."""


def same_name_action(prefix: str, operation: str) -> str:
    """The IAM action named like the operation (``logs:FilterLogEvents``): right for almost
    every call; the policy model knows the exceptions (``s3:HeadBucket`` is ``s3:ListBucket``)."""
    return f"{prefix}:{operation}"


# arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE
_ARN = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|):(.+)$")


# The sandbox (ecs_migrate.sandbox) names, on every answer, the APIs it cannot serve (moto's
# gaps, e.g. ExecuteCommand), so a command can say so before it relies on one.
UNSUPPORTED_HEADER = "x-ecs-migrate-sandbox-unsupported"

# The env file the sandbox's docs and --help name (`ecs-migrate sandbox --detach` writes it).
SANDBOX_ENV_FILE = ".sandbox.env"
_SANDBOX_START = "ecs-migrate sandbox --detach --env-file .sandbox.env"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def sandbox_hint(targets: Iterable[str | None] = (), otherwise: str = "") -> str | None:
    """What to say first when the AWS settings are missing here: the directory has the
    sandbox's env file (source it), or a target is named `sandbox` (start the sandbox and
    source it); None when neither. ``otherwise``: the advice for AWS, said after it."""
    then = f" For AWS instead: {otherwise[:1].lower()}{otherwise[1:]}" if otherwise else ""
    if os.path.isfile(SANDBOX_ENV_FILE):
        return (
            f"This directory has the sandbox's exports, {SANDBOX_ENV_FILE}: "
            f"set them in this shell first with `. ./{SANDBOX_ENV_FILE}`.{then}"
        )
    if "sandbox" in tuple(targets):
        return (
            "--cluster sandbox is the local sandbox's: start it, then set its exports, with "
            f"`{_SANDBOX_START}` and `. ./{SANDBOX_ENV_FILE}`.{then}"
        )
    return None


def is_loopback(url: str | None) -> bool:
    """An endpoint on this machine (127.0.0.1, localhost, ::1): the sandbox's, or another
    local emulator's."""
    try:
        return bool(url) and urllib.parse.urlsplit(str(url)).hostname in _LOOPBACK
    except ValueError:
        return False


def configured_endpoint(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The endpoint ``environ`` (this process's by default) sets for ``service``
    (AWS_ENDPOINT_URL_ECS, else AWS_ENDPOINT_URL)."""
    env = os.environ if environ is None else environ
    own = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    return env.get(own) or env.get("AWS_ENDPOINT_URL") or None


def _fail_fast_on_loopback(caught_exception: Any = None, **_: Any) -> None:
    """needs-retry, for a loopback endpoint: nothing listening there is not a transient
    failure (the sandbox is not running), so it is raised at once instead of being retried
    for seconds."""
    import botocore.exceptions as bex

    if isinstance(caught_exception, bex.EndpointConnectionError | bex.ConnectTimeoutError):
        raise caught_exception


def _unreachable_hint() -> str:
    return (
        f"Is the sandbox running? Start it with `{_SANDBOX_START}`, then `. ./{SANDBOX_ENV_FILE}`"
        " (its endpoint changes at each start). For AWS instead, unset AWS_ENDPOINT_URL."
    )


@dataclass
class AwsSettings:
    """What the user chose on the command line; everything else comes from botocore's chain.

    ``region`` and ``profile`` that are not a region name or a profile name (a newline, a
    space, a control character) are AwsConfigError (exit 3), raised here before any client
    is built; a value of the wrong type is a UsageError (exit 2).

    ``targets``: the --cluster, --service, --task, --task-definition values. An ARN among
    them names its region, which the clients then use; a different --region, or ARNs of two
    regions, is a usage error (exit 2), raised here before any AWS call.
    """

    region: str | None = None
    profile: str | None = None
    targets: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        check_fields(self)
        if self.region is not None:
            check_region(self.region, "--region")
        if self.profile is not None:
            check_profile(self.profile, "--profile")
        self.region = region_for(self.region, self.targets)


def region_for(
    region: str | None, targets: Iterable[str | None], flag: str = "--region"
) -> str | None:
    """The region a run of ``targets`` (cluster, service, task definition...) must use: the
    one their ARNs name, else ``region``. A malformed ``region``, ARNs of two regions, or an
    ARN of another region than ``region`` is a UsageError (exit 2), before any AWS call.
    ``flag`` names where ``region`` came from (`run --region`, a run-many target's key)."""
    if region is not None and not REGION.fullmatch(region):
        raise UsageError(
            f"{flag} {region!r} is not a region name.",
            hint=f"Example: {flag} eu-west-1",
        )
    regions = {r: ref for ref in targets if ref and (r := arn_region(ref))}
    if len(regions) > 1:
        (a, ref_a), (b, ref_b) = list(regions.items())[:2]
        raise UsageError(f"{ref_a} is in {a} but {ref_b} is in {b}: give one region's.")
    if regions:
        arn_in, ref = next(iter(regions.items()))
        if region and region != arn_in:
            raise UsageError(
                f"{flag} {region} does not match {ref}, which is in {arn_in}.",
                hint=f"Drop {flag}, or give {flag} {arn_in}.",
            )
        return arn_in
    return region


def arn_region(value: str) -> str | None:
    """The region of an ARN (``arn:aws:ecs:eu-west-1:...``); None for a name or a global ARN."""
    match = _ARN.match(value.strip())
    return match.group(3) or None if match else None


def check_endpoint_url(name: str, value: str) -> None:
    """An endpoint URL botocore can use (http or https, a host, a valid port), else exit 3."""
    problem = ""
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        problem = "it contains spaces or control characters"
    else:
        try:
            parts = urllib.parse.urlsplit(value)
            _ = parts.port  # raises on a bad port
        except ValueError as exc:
            problem = str(exc)
        else:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problem = "it is not an http:// or https:// URL with a host"
    if problem:
        raise AwsConfigError(
            f"{name}={scrub(repr(value))} is not a usable endpoint URL: {problem}.",
            hint=f"Unset {name}, or set it to a URL such as http://127.0.0.1:5000.",
        )


def check_aws_config(core: Any) -> tuple[str, int]:
    """The retry mode and attempts, after refusing invalid AWS settings (exit 3).

    ``core``: a botocore session (environment and config file). Checked before any client is
    built, so each bad value is named instead of failing deep in botocore.
    """
    for name, value in sorted(os.environ.items()):
        if (name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_")) and value:
            check_endpoint_url(name, value)
    with _config_errors():
        mode = core.get_config_variable("retry_mode") or DEFAULT_RETRY_MODE
    if mode not in RETRY_MODES:
        raise AwsConfigError(
            f"AWS_RETRY_MODE (or retry_mode in the AWS config) is {mode!r}, "
            f"not one of {', '.join(RETRY_MODES)}.",
            hint="Unset it to use the standard mode.",
        )
    try:
        attempts = core.get_config_variable("max_attempts")
    except ValueError:
        attempts = os.environ.get("AWS_MAX_ATTEMPTS", "?")
    if attempts is None:
        return str(mode), DEFAULT_MAX_ATTEMPTS
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        raise AwsConfigError(
            f"AWS_MAX_ATTEMPTS (or max_attempts in the AWS config) is {attempts!r}, "
            "not a whole number from 1 to 1000.",
            hint=f"Unset it to use {DEFAULT_MAX_ATTEMPTS} attempts.",
        )
    return str(mode), attempts


@contextmanager
def _config_errors() -> Iterator[None]:
    """botocore's complaints about its configuration become AwsConfigError (exit 3)."""
    import botocore.exceptions as bex

    try:
        yield
    except (bex.ProfileNotFound, bex.NoRegionError, bex.NoCredentialsError):
        raise
    except (ValueError, bex.BotoCoreError) as exc:
        raise AwsConfigError(
            f"Invalid AWS configuration: {scrub(str(exc))}",
            hint="Check the AWS_* variables and the profile in ~/.aws/config.",
        ) from exc


@dataclass
class Clients:
    """Lazily built botocore clients sharing one session and one retry policy.

    ``calls`` counts API operations as ``(service, operation)``; ``attempts`` counts HTTP
    attempts, so retries are visible.

    ``action_for``: how an access-denied answer names the IAM action that was denied. The CLI
    injects the policy model's lookup (``commands.policy.model.action_for_operation``); this
    module does not import the model, which sits in a layer above it.
    """

    settings: AwsSettings = field(default_factory=AwsSettings)
    action_for: ActionLookup = field(default=same_name_action, kw_only=True, repr=False)
    # The command these clients serve ("deploy", "policy generate"), written beside each
    # call to the trace file (ECS_MIGRATE_TRACE_AWS_CALLS), so a test can check each policy
    # feature against the calls its command really makes.
    command: str = field(default="", kw_only=True)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    # The API operations the endpoint said it does not serve (UNSUPPORTED_HEADER): only the
    # sandbox says so; empty until an answer has come.
    unsupported: frozenset[str] = field(default=frozenset(), kw_only=True)
    _session: botocore.session.Session | None = field(default=None, repr=False)
    _retries: tuple[str, int] = field(
        default=(DEFAULT_RETRY_MODE, DEFAULT_MAX_ATTEMPTS), repr=False
    )
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _trace_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        check_fields(self)

    def in_region(self, region: str) -> Clients:
        """Clients for ``region``: this one's profile, access-denied lookup and call counters,
        a session and clients of their own."""
        settings = AwsSettings(region, self.settings.profile)
        return dataclasses.replace(
            self, settings=settings, _session=None, _clients={}, _lock=threading.Lock()
        )

    @property
    def session(self) -> botocore.session.Session:
        """botocore's session, not boto3's: boto3 adds resources, which ecs-migrate does not
        use, and importing it (s3transfer with it) costs every command about 0.1 s."""
        if self._session is None:
            import botocore.exceptions
            import botocore.session

            check_environment_settings()
            try:
                # botocore reads AWS_DEFAULT_REGION only; AWS_REGION is the newer name.
                region = self.settings.region or os.environ.get("AWS_REGION") or None
                with _config_errors():
                    session = botocore.session.Session(profile=self.settings.profile)
                    if region is not None:
                        session.set_config_variable("region", region)
                    session.get_scoped_config()  # an unknown profile fails here, once
            except botocore.exceptions.ProfileNotFound as exc:
                raise CredentialsError(
                    str(exc), hint="List your profiles with `aws configure list-profiles`."
                ) from exc
            self._retries = check_aws_config(session)
            self._session = session
        return self._session

    @property
    def region(self) -> str:
        region: str | None = self.session.get_config_variable("region")
        if not region:
            aws = "Pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION)."
            raise CredentialsError(
                "No AWS region is configured.",
                hint=sandbox_hint(self.settings.targets, aws) or aws,
            )
        if not REGION.fullmatch(region):
            raise AwsConfigError(
                f"The configured AWS region {region!r} is not a region name.",
                hint="Set AWS_REGION (or the profile's region) to one such as eu-west-1.",
            )
        return region

    def require_credentials(self) -> None:
        """Fail early (exit 3) without a region or credentials, instead of per call."""
        _ = self.region
        with _config_errors():
            credentials = self.session.get_credentials()
            _ = self.ecs  # builds the client: a bad setting fails here, once
        if credentials is None:
            raise CredentialsError(
                "No AWS credentials found.",
                hint=sandbox_hint(self.settings.targets, _CONFIGURE) or _CONFIGURE,
            )
        with _config_errors():
            check_credentials(credentials)

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
        mode, attempts = self._retries
        config = Config(
            retries={"mode": mode, "total_max_attempts": attempts},
            user_agent_appid=f"ecs-migrate-{__version__}",
            # On this machine a connection is made at once or not at all.
            connect_timeout=1 if is_loopback(configured_endpoint(service)) else 10,
            read_timeout=30,
        )
        region = region or self.region
        with _config_errors():
            client = session.create_client(service, region_name=region, config=config)
        events = client.meta.events
        if is_loopback(client.meta.endpoint_url):
            events.register_first("needs-retry", _fail_fast_on_loopback)
        events.register("before-call", self._count_call)
        events.register("before-send", self._count_attempt)
        events.register("before-send", refuse_bad_headers)
        events.register("after-call", self._name_denied_action)
        events.register("after-call", self._note_unsupported)
        return client

    def _count_call(self, model: Any, **_: Any) -> None:
        key = (model.service_model.service_name, model.name)
        self.calls[key] += 1
        trace = os.environ.get(TRACE_ENV)
        if trace:
            prefix = model.service_model.signing_name or key[0]
            with self._trace_lock, open(trace, "a", encoding="utf-8") as out:
                out.write(f"{prefix}:{model.name}\t{self.command}\n")

    def _count_attempt(self, event_name: str, **_: Any) -> None:
        # event_name is "before-send.<service-id>.<Operation>"
        parts = [*event_name.split(".", 2), "?", "?"]
        self.attempts[(parts[1], parts[2])] += 1

    def _note_unsupported(self, http_response: Any = None, **_: Any) -> None:
        said = getattr(http_response, "headers", {}).get(UNSUPPORTED_HEADER)
        if said is not None:
            self.unsupported = frozenset(n.strip() for n in str(said).split(",") if n.strip())

    def _name_denied_action(self, parsed: Any, model: Any, **_: Any) -> None:
        """Record on an access-denied answer which IAM action was denied.

        Not every service names it (moto's ECS answers a bare 403), and ``ClientError`` keeps
        the operation but not the service, so the answer is annotated while both are known.
        """
        error = parsed.get("Error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and str(error.get("Code", "")) in ACCESS_DENIED_CODES:
            prefix = model.service_model.signing_name or model.service_model.service_name
            error["IamAction"] = self.action_for(prefix, model.name)

    @property
    def ecs(self) -> Any:
        return self.client("ecs")

    @property
    def logs(self) -> Any:
        return self.client("logs")


def is_clients(value: object) -> bool:
    """A Clients, or an object with its interface (a test's stand-in)."""
    return isinstance(value, Clients) or has_methods(
        value, "client", "require_credentials", "region", on_class=True
    )


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
    message = scrub(str(exc.response.get("Error", {}).get("Message") or exc))
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
            hint=sandbox_hint((), _CONFIGURE) or _CONFIGURE,
        ) from exc
    except (bex.NoRegionError, bex.ProfileNotFound, bex.PartialCredentialsError) as exc:
        raise CredentialsError(f"Cannot {action}: {scrub(str(exc))}") from exc
    except (bex.ConfigParseError, bex.InvalidConfigError, bex.InvalidRegionError) as exc:
        raise AwsConfigError(f"Invalid AWS configuration (to {action}): {scrub(str(exc))}") from exc
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
            # Beside the sandbox's env file but not pointed at it: the exports were forgotten.
            here = None if is_loopback(os.environ.get("AWS_ENDPOINT_URL")) else sandbox_hint()
            raise TargetError(
                f"Cannot {action}: {message}",
                hint=here or "List the clusters: aws ecs list-clusters",
            ) from exc
        if code == "ServiceNotFoundException":
            raise TargetError(f"Cannot {action}: {message}") from exc
        raise AwsApiError(f"AWS error while trying to {action}: {code}: {message}") from exc
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError) as exc:
        url = str(exc.kwargs.get("endpoint_url") or "")
        if not is_loopback(url):
            raise AwsApiError(
                f"AWS call failed while trying to {action}: {scrub(str(exc))}"
            ) from exc
        raise AwsApiError(
            f"Nothing answers at {scrub(url)} (AWS_ENDPOINT_URL), so ecs-migrate could not "
            f"{action}.",
            hint=_unreachable_hint(),
        ) from exc
    except bex.BotoCoreError as exc:
        raise AwsApiError(f"AWS call failed while trying to {action}: {scrub(str(exc))}") from exc
