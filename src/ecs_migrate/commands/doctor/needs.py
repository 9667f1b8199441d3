"""What a task needs to reach over the network to start, read from its task definition.

Pure: the image's registry (ECR API, ECR registry, S3 for the layers), CloudWatch Logs for the
awslogs driver, Secrets Manager or SSM for ``secrets``, S3 for ``environmentFiles``; each with
the VPC endpoint that can serve it in the task's region, or none when only the internet can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
)


@dataclass(frozen=True)
class Need:
    """A service the task must reach at startup, and the VPC endpoint that can serve it."""

    label: str
    endpoint: str | None  # "ecr.api", "logs", ...; None: only through the internet
    gateway: bool = False  # S3: a gateway endpoint on the route table


def _ecr_needs(region: str, image: str) -> list[Need]:
    match = _ECR_IMAGE.match(image)
    if match is None:
        registry = image.split("/", 1)[0] if "/" in image else "docker.io"
        if "." not in registry and ":" not in registry and registry != "localhost":
            registry = "docker.io"
        return [Need(f"the image registry {registry}", None)]
    if match["region"] != region:
        return [Need(f"ECR in {match['region']}", None)]
    return [Need("ECR API", "ecr.api"), Need("ECR registry", "ecr.dkr"), Need("S3", "s3", True)]


def _secret_region(value_from: str) -> str | None:
    parts = value_from.split(":")
    return parts[3] if value_from.startswith("arn:") and len(parts) > 3 else None


def needs_of(taskdef: Mapping[str, Any], region: str) -> list[Need]:
    """What every container of the task definition needs to reach to start, deduplicated."""
    found: list[Need] = []
    for cdef in taskdef.get("containerDefinitions") or []:
        if cdef.get("image"):
            found += _ecr_needs(region, str(cdef["image"]))
        log = cdef.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs":
            log_region = (log.get("options") or {}).get("awslogs-region") or region
            found.append(
                Need("CloudWatch Logs", "logs")
                if log_region == region
                else Need(f"CloudWatch Logs in {log_region}", None)
            )
        for secret in cdef.get("secrets") or []:
            value_from = str(secret.get("valueFrom", ""))
            is_sm = ":secretsmanager:" in value_from
            label, endpoint = ("Secrets Manager", "secretsmanager") if is_sm else ("SSM", "ssm")
            other = _secret_region(value_from)
            if other and other != region:
                found.append(Need(f"{label} in {other}", None))
            else:
                found.append(Need(label, endpoint))
        if cdef.get("environmentFiles"):
            found.append(Need("S3", "s3", True))
    unique: dict[str, Need] = {}
    for need in found:
        unique.setdefault(need.label, need)
    return list(unique.values())
