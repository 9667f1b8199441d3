"""The fixes doctor's own checks give in a broken sandbox world paste into bash as printed, at
80 and 200 columns (issue 27, item 7; the unit test builds each fix from its function, this
one drives the checks).

Two worlds, each failing many checks at once: a task definition without a task role, with an
AWS key in its plain environment, a read-only root filesystem, ECS Exec off and no Session
Manager plugin on the client; and a VPC without its NAT route, with the database's security
group closed. doctor runs in-process (its results keep their fixes as data); each fix is
rendered as the report prints it, and checked as the unit test checks it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.aws import AwsSettings, Clients
from ecs_migrate.commands.doctor import DoctorOptions, doctor
from ecs_migrate.render import doctor as render
from ecs_migrate.render.fix_script import has_script
from tests.conftest import Env
from tests.doctor_support import REGION, private_route_table
from tests.e2e.test_doctor_exec import deploy, register_without_task_role

LONE_URL = r"\s*(?:fix: )?(?:# )?https?://\S+"
KEY = "AKIAPASTECANARY00001"


def broken_task_definition(sandbox: Env) -> None:
    arn = register_without_task_role(sandbox)
    spec = sandbox.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    container = spec["containerDefinitions"][0]
    container["readonlyRootFilesystem"] = True
    container["environment"] = [
        *container.get("environment", []),
        {"name": "AWS_ACCESS_KEY_ID", "value": KEY},
    ]
    keys = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory",
            "executionRoleArn", "containerDefinitions")  # fmt: skip
    answer = sandbox.client("ecs").register_task_definition(
        **{k: spec[k] for k in keys if k in spec}
    )
    deploy(sandbox, answer["taskDefinition"]["taskDefinitionArn"], enable=False)


def broken_network(sandbox: Env) -> None:
    world, ec2 = sandbox.world, sandbox.client("ec2")
    ec2.delete_route(RouteTableId=private_route_table(sandbox), DestinationCidrBlock="0.0.0.0/0")
    rule = {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": world.security_group}],
    }
    ec2.revoke_security_group_ingress(GroupId=world.db_security_group, IpPermissions=[rule])


WORLDS: dict[str, tuple[Callable[[Env], None], dict[str, Any]]] = {
    "task definition": (broken_task_definition, {"exec": True, "deploy": True}),
    "network": (broken_network, {"db_instance": "app-db"}),
}


def fixes_of(sandbox: Env, world: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    breaks, options = WORLDS[world]
    breaks(sandbox)
    for key, value in sandbox.sandbox.env(sandbox.world).items():
        monkeypatch.setenv(key, value)
    path = os.environ.get("PATH", "")
    monkeypatch.setenv("PATH", str(tmp_path))  # no session-manager-plugin here
    opts = DoctorOptions(cluster=sandbox.world.cluster, service=sandbox.world.service, **options)
    report = doctor(Clients(AwsSettings(region=REGION)), opts)
    monkeypatch.setenv("PATH", path)
    return [r for r in report.results if r.fix]


@pytest.mark.parametrize("world", WORLDS)
def test_every_fix_the_checks_give_pastes_at_80_and_200_columns(
    sandbox: Env, world: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = fixes_of(sandbox, world, monkeypatch, tmp_path)
    scripts = [r for r in results if has_script(r.fix)]
    assert len(scripts) >= 3, [(r.id, r.fix.text) for r in results]
    for r in results:
        for width, first, rest in ((80, "      fix: ", "           "), (200, "  ", "  ")):
            lines = render.fix_lines(r.fix, width, first, rest)
            long = [x for x in lines if len(x) > width and not re.fullmatch(LONE_URL, x)]
            assert not long, (r.id, lines)
            assert KEY not in "\n".join(lines)
            if not has_script(r.fix):
                continue
            text = "\n".join([lines[0][len(first) :], *lines[1:]]) + "\n"
            done = subprocess.run(
                ["/bin/bash", "--noprofile", "--norc", "-n"],
                input=text, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, (r.id, done.stderr, text)
