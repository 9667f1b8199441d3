"""The revision `deploy` rolls out: the service's task definition with new images.

The pure part works on the plain dicts DescribeTaskDefinition returns: :func:`parse_images`
reads ``--image [CONTAINER=]IMAGE``, :func:`image_changes` decides which container gets which
image (a container that is not there, or an ambiguous ``--image IMAGE``, is a UsageError
naming the containers there are), and :func:`registration` builds the RegisterTaskDefinition
request: everything the current revision has that RegisterTaskDefinition accepts, tags
included, with only the named images replaced. :func:`register_revision` makes the two
calls. Nothing here shows a value of the task definition: its environment may hold secrets.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.common.redact import MIN_LENGTH, Redactor
from ecs_migrate.errors import EcsMigrateError, UsageError
from ecs_migrate.tasks.target import describe_task_definition

# What RegisterTaskDefinition accepts (botocore's model is asked first, so a field a newer
# botocore knows is kept too); what DescribeTaskDefinition adds is never sent back.
REGISTER_FIELDS = frozenset(
    {
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "containerDefinitions",
        "volumes",
        "placementConstraints",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "tags",
        "pidMode",
        "ipcMode",
        "proxyConfiguration",
        "inferenceAccelerators",
        "ephemeralStorage",
        "runtimePlatform",
        "enableFaultInjection",
    }
)
READ_ONLY = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)
IMAGE_FORM = "[CONTAINER=]IMAGE"


@dataclass(frozen=True)
class ImageSpec:
    """One ``--image``: the container it names (None: the only essential one) and the image."""

    container: str | None
    image: str


@dataclass
class Revision:
    """The revision to roll out: its ARN, whether `deploy` registered it, the images changed
    (container -> image), and the values of its environment (hidden in every message)."""

    arn: str
    registered: bool
    images: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def parse_images(values: Iterable[str]) -> list[ImageSpec]:
    """``["app=repo/app:2", "repo/x:1"]`` -> specs; an empty container or image is a
    UsageError (exit 2)."""
    specs: list[ImageSpec] = []
    for value in values:
        name, sep, image = value.partition("=")
        container = name.strip() if sep else None
        image = (image if sep else name).strip()
        if not image or (sep and not container) or any(c.isspace() for c in image):
            raise UsageError(
                f"--image {value!r} is not {IMAGE_FORM}.",
                hint="e.g. --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v42 or "
                "--image app=ghcr.io/acme/api@sha256:...",
            )
        specs.append(ImageSpec(container, image))
    return specs


def image_changes(taskdef: Mapping[str, Any], specs: list[ImageSpec]) -> dict[str, str]:
    """Pure: container name -> new image. ``--image IMAGE`` names the only essential container;
    a container that is not there, an ambiguous bare image, or a container named twice is a
    UsageError (exit 2) that names the containers there are."""
    containers = [c for c in taskdef.get("containerDefinitions") or [] if isinstance(c, dict)]
    names = [str(c.get("name")) for c in containers]
    family = taskdef.get("family")
    listed = ", ".join(names) or "(none)"
    changes: dict[str, str] = {}
    for spec in specs:
        name = spec.container
        if name is None:
            essential = [str(c.get("name")) for c in containers if c.get("essential", True)]
            if len(essential) != 1:
                raise UsageError(
                    f"--image {spec.image!r} names no container, and task definition "
                    f"{family!r} has {len(essential)} essential containers "
                    f"({', '.join(essential) or 'none'}).",
                    hint=f"Say which: --image CONTAINER={spec.image} (containers: {listed}).",
                )
            name = essential[0]
        elif name not in names:
            raise UsageError(
                f"--image: container {name!r} is not in task definition {family!r}.",
                hint=f"Its containers: {listed}.",
            )
        if name in changes:
            raise UsageError(f"--image: container {name!r} is given more than once.")
        changes[name] = spec.image
    return changes


def registration(
    taskdef: Mapping[str, Any],
    tags: list[dict[str, str]],
    images: Mapping[str, str],
    accepted: Collection[str] = REGISTER_FIELDS,
) -> dict[str, Any]:
    """Pure: the RegisterTaskDefinition request for a copy of ``taskdef`` with ``images``
    replaced: only the fields RegisterTaskDefinition accepts (``accepted``), none of those
    DescribeTaskDefinition adds, and the tags (but AWS's own ``aws:`` ones, which no one may
    set)."""
    request = {
        key: copy.deepcopy(value)
        for key, value in taskdef.items()
        if key in accepted and key not in READ_ONLY and key != "tags" and value is not None
    }
    for container in request.get("containerDefinitions") or []:
        if container.get("name") in images:
            container["image"] = images[container["name"]]
    kept = [dict(t) for t in tags if not str(t.get("key", "")).lower().startswith("aws:")]
    if kept and "tags" in accepted:
        request["tags"] = kept
    return request


def environment_values(taskdef: Mapping[str, Any]) -> list[str]:
    """The environment values of the task definition's containers, hidden in messages (as
    :mod:`ecs_migrate.common.redact` does, those long enough to mean something)."""
    values = []
    for container in taskdef.get("containerDefinitions") or []:
        for pair in container.get("environment") or []:
            value = pair.get("value")
            if isinstance(value, str) and len(value) >= MIN_LENGTH:
                values.append(value)
    return values


def accepted_fields(clients: Clients) -> frozenset[str]:
    """RegisterTaskDefinition's request members, from botocore's model (no call is made)."""
    try:
        shape = clients.ecs.meta.service_model.operation_model("RegisterTaskDefinition")
        return frozenset(shape.input_shape.members)
    except Exception:  # a model botocore cannot read: the fields this version knows
        return REGISTER_FIELDS


def describe_with_tags(clients: Clients, ref: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """DescribeTaskDefinition with its tags."""
    with translate_errors(f"describe task definition {ref!r} with its tags"):
        answer = clients.ecs.describe_task_definition(taskDefinition=ref, include=["TAGS"])
    return dict(answer["taskDefinition"]), list(answer.get("tags") or [])


def register_revision(clients: Clients, current: str, specs: list[ImageSpec]) -> Revision:
    """Register a copy of the task definition ``current`` with the images of ``specs``."""
    taskdef, tags = describe_with_tags(clients, current)
    secrets = environment_values(taskdef)
    images = image_changes(taskdef, specs)
    request = registration(taskdef, tags, images, accepted_fields(clients))
    try:
        with translate_errors(f"register a new revision of {taskdef.get('family')!r}"):
            answer = clients.ecs.register_task_definition(**request)
    except EcsMigrateError as exc:
        hidden(exc, secrets)
        raise
    arn = str(answer["taskDefinition"]["taskDefinitionArn"])
    return Revision(arn=arn, registered=True, images=images, secrets=secrets)


def existing_revision(clients: Clients, ref: str) -> Revision:
    """``--task-definition``: the revision as it is (a family names its latest ACTIVE one)."""
    taskdef = describe_task_definition(clients, ref)
    return Revision(str(taskdef["taskDefinitionArn"]), False, {}, environment_values(taskdef))


def hidden(exc: EcsMigrateError, secrets: list[str]) -> None:
    """``exc`` with the task definition's environment values masked in its message and hint
    (an AWS error may quote a container definition)."""
    redactor = Redactor(secrets)
    exc.message = redactor.text(exc.message)
    exc.args = (exc.message,)
    exc.hint = redactor.text(exc.hint) if exc.hint else exc.hint
