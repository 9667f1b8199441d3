"""Every doctor fix pastes into bash as printed, at 80 and at 200 columns (issue 27, item 7).

The fixes are built by the checks' own fix functions (and, for the fixes a check builds
inline, with the same steps it uses), then rendered as doctor prints them: in the plain
report (``fix:`` under the finding) and under a rich table (a fixed-width rich Console).
Each rendered fix must pass ``bash -n``, and no line may be longer than the terminal: the
terminal never wraps a fix, ecs-migrate does. A fix that writes JSON to a file is run in a
bash without AWS (every command but ``cat`` is unknown, and does nothing) to show that the
file holds the document.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ecs_migrate.commands.doctor import checks_database as cdb
from ecs_migrate.commands.doctor import checks_exec as ce
from ecs_migrate.commands.doctor import checks_exec_access as access
from ecs_migrate.commands.doctor import checks_network as net
from ecs_migrate.commands.doctor import checks_secrets as secrets
from ecs_migrate.commands.doctor import checks_security as security
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.exec_logging import exec_logging_fix
from ecs_migrate.commands.doctor.model import CheckResult, Status
from ecs_migrate.commands.doctor.needs import Need
from ecs_migrate.commands.doctor.permissions import policy_statement, put_role_policy
from ecs_migrate.common.findings import Command, Document, Fix, Prose
from ecs_migrate.iampolicy import Request
from ecs_migrate.render import doctor as render
from ecs_migrate.render.fix_script import has_script

ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/app/database-url-AbCdEf"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
GROUPS = ["sg-0a1b2c3d4e5f60001", "sg-0a1b2c3d4e5f60002"]
WIDTHS = (80, 200)
# A line that is only a URL (prose: a link to read, never cut) may be wider: a terminal that
# wraps it wraps no command.
LONE_URL = re.compile(r"\s*(?:fix: )?(?:# )?https?://\S+")
NEEDS = [Need("ECR API", "ecr.api"), Need("ECR registry", "ecr.dkr"), Need("S3", "s3", True)]


def fake_context() -> Context:
    """What the fix functions read of a Context: options, region, account, the service."""
    ctx = SimpleNamespace(
        opts=SimpleNamespace(
            cluster="production-cluster",
            service="billing-api",
            database_url_var="DATABASE_URL",
        ),
        region="eu-west-1",
        partition=lambda: "aws",
        account=lambda: ACCOUNT,
        service_name=lambda: "billing-api",
        container=lambda: {"name": "billing-api"},
        taskdef=lambda: {"family": "billing-api"},
        network=lambda: {"subnets": SUBNETS, "securityGroups": GROUPS},
    )
    return cast(Context, ctx)


def vpc_facts(owner: str | None = None) -> access.VpcFacts:
    return access.VpcFacts(
        vpc="vpc-0a1b2c3d4e5f60001",
        subnets=[{"SubnetId": s} for s in SUBNETS],
        endpoints=[],
        egress={},
        task_groups=GROUPS,
        owner=owner,
    )


def network_facts(nat: bool) -> net.NetworkFacts:
    return net.NetworkFacts(
        vpc_id="vpc-0a1b2c3d4e5f60001",
        subnet_map={s: {"SubnetId": s} for s in SUBNETS},
        tables=[{"RouteTableId": "rtb-0a1b2c3d4e5f60001", "Routes": []}],
        endpoints=[],
        nat_states={},
        nat_ids=["nat-0a1b2c3d4e5f60001"] if nat else [],
        security_groups=GROUPS,
        public_ip=False,
    )


def secret_requests() -> list[Request]:
    return [Request("secretsmanager:GetSecretValue", SECRET_ARN), Request("kms:Decrypt", KEY_ARN)]


def catalog() -> dict[str, Fix]:
    """A fix of every kind doctor gives, each from the function that builds it."""
    ctx = fake_context()
    tables = ["rtb-0a1b2c3d4e5f60001", "rtb-0a1b2c3d4e5f60002"]
    routes = cdb._PublicRoutes(
        subnets={"rtb-0a1b2c3d4e5f60001": SUBNETS[:2]},
        associations={SUBNETS[0]: "rtbassoc-0a1b2c3d4e5f60001"},
    )
    route_tables = [
        {"RouteTableId": "rtb-0a1b2c3d4e5f60001", "Associations": [], "Routes": []},
        {"RouteTableId": "rtb-0a1b2c3d4e5f60009", "Associations": [], "Routes": []},
    ]
    source = secrets.SecretSource("DATABASE_URL", SECRET_ARN, SECRET_ARN, "secretsmanager:Get")
    parameter = secrets.SecretSource(
        "API_TOKEN",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/app/api-token",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/app/api-token",
        "ssm:GetParameters",
    )
    return {
        "iam.caller put-role-policy": put_role_policy(
            "ci-deployer-role", "ecs-migrate-run", secret_requests()
        ),
        "iam.caller document": Fix.of(
            "Attach to arn:aws:iam::123456789012:role/ci-deployer-role: ",
            policy_statement(secret_requests()),
            "  (or `ecs-migrate policy generate` for the whole least-privilege policy)",
        ),
        "exec.task-role create": ce._create_role("billing-api-task"),
        "exec.enabled update-service": ce.update_service(
            ctx, "--enable-execute-command", "--force-new-deployment"
        ),
        "exec.agent redeploy": Fix.of(
            "Fix what the other exec.* checks report, then: ",
            ce.update_service(ctx, "--force-new-deployment"),
        ),
        "exec.ssm-condition": Fix.of(
            "Make sure the condition holds for the SSM agent, or grant: ", ce.ssm_policy()
        ),
        "exec.plugin deb": access.install_fix("Linux"),
        "exec.plugin mac": access.install_fix("Darwin"),
        "exec.plugin windows": access.install_fix("Windows"),
        "exec.vpc-endpoint create": access.create_endpoint_fix(ctx, vpc_facts()),
        "exec.vpc-endpoint admit": access.admit_fix("sg-0a1b2c3d4e5f60009", GROUPS),
        "exec.vpc-endpoint shared": access.owner_endpoint_check(
            ctx, vpc_facts("210987654321"), ["ssmmessages", "kms", "logs"]
        ),
        "exec.kms-logging": exec_logging_fix(ctx, "/ecs/production-cluster/exec-sessions"),
        "exec.log-encryption": Fix.chain(
            [
                Fix.command(
                    *("aws", "kms", "describe-key", "--key-id", "alias/exec-sessions"),
                    comment="wrong key? point the cluster at an existing one: aws ecs "
                    "update-cluster --cluster production-cluster --configuration "
                    "'executeCommandConfiguration={kmsKeyId=KEY_ARN}'",
                ),
                Fix.command("aws", "kms", "enable-key", "--key-id", KEY_ARN),
                Fix.command("aws", "logs", "create-log-group", "--log-group-name", "/ecs/x"),
            ],
            ";",
        ),
        "exec.session-network gateway": Fix.command(
            *("aws", "ec2", "create-vpc-endpoint", "--vpc-id", "vpc-0a1b2c3d4e5f60001"),
            *("--vpc-endpoint-type", "Gateway", "--service-name", "com.amazonaws.eu-west-1.s3"),
            *("--route-table-ids", *tables),
        ),
        "network nat": net._nat_fix(network_facts(nat=False), tables),
        "network nat existing": net._nat_fix(network_facts(nat=True), tables),
        "network endpoints": net._endpoint_fix(ctx, network_facts(nat=True), NEEDS, tables),
        "db.private-subnets": cdb._private_subnets_fix(routes, route_tables, SUBNETS[:2]),
        "db.url-defined": cdb._secrets_snippet(ctx, "DATABASE_URL"),
        "secrets.execution-role put": secrets._put_policy("billing-api-exec", secret_requests()),
        "secrets.execution-role create": secrets._create_role(
            "billing-api-exec", secret_requests()
        ),
        "secrets.missing secret": secrets._missing_fix(source),
        "secrets.missing parameter": secrets._missing_fix(parameter),
        "secrets.kms": Fix.of("Make sure it may: ", secrets.policy_document(secret_requests())),
        "security.long-lived-keys": security.oidc_fix(ctx, "ci-deployer"),
        "security.long-lived-keys role": security.oidc_fix(ctx, None),
        "security.cloudtrail": security.create_trail_fix(ctx),
        "security.task-role": Fix.of(
            'Set "taskRoleArn" in the task definition to a role with: ',
            Document({"Version": "2012-10-17", "Statement": [{"Effect": "Deny"}]}),
        ),
        "target.cluster": Fix.command(
            "aws", "ecs", "create-cluster", "--cluster-name", "production-cluster"
        ),
    }


FIXES = catalog()


def aws_keys_fix() -> Fix:
    """security.aws-keys-in-env's fix, from the check itself (a context that finds keys)."""
    ctx = SimpleNamespace(**vars(fake_context()))
    ctx.taskdef = lambda: {
        "family": "billing-api",
        "containerDefinitions": [
            {"name": "app", "environment": [{"name": "AWS_ACCESS_KEY_ID", "value": "AKIA1"}]}
        ],
    }
    ctx.revision = lambda: "billing-api:7"
    ctx.role_name = lambda arn: None
    verdict = security.aws_keys_in_env(cast(Context, ctx))
    assert verdict.status is Status.FAIL and verdict.fix is not None
    return verdict.fix


FIXES["security.aws-keys-in-env"] = aws_keys_fix()


def rendered(fix: Fix, width: int, first: str, rest: str) -> list[str]:
    return render.fix_lines(fix, width, first, rest)


def script(lines: list[str], first: str) -> str:
    """What the user copies: the lines, without the ``fix:`` label of the first."""
    return "\n".join([lines[0][len(first) :], *lines[1:]]) + "\n"


def bash_n(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-n"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )


LAYOUTS = {  # (first, rest): the plain report's, narrow and wide; under a rich table
    "plain-narrow": ("      fix: ", "           "),
    "plain-wide": (" " * 33 + "fix: ", " " * 38),
    "rich": ("  ", "  "),
}


# Narrower than 100 columns, the plain report puts the fix under the check: no wide layout.
CASES = [(w, layout) for w in WIDTHS for layout in LAYOUTS if w >= 100 or layout != "plain-wide"]


@pytest.mark.parametrize(("width", "layout"), CASES)
@pytest.mark.parametrize("name", FIXES)
def test_every_fix_parses_in_bash_and_fits_the_width(name: str, width: int, layout: str) -> None:
    fix = FIXES[name]
    first, rest = LAYOUTS[layout]
    lines = rendered(fix, width, first, rest)
    too_long = [line for line in lines if len(line) > width and not LONE_URL.fullmatch(line)]
    assert not too_long, "\n".join(lines)
    if not has_script(fix):
        return  # prose: a sentence to read, not a command
    done = bash_n(script(lines, first))
    assert done.returncode == 0, done.stderr + "\n" + "\n".join(lines)
    assert not any(line.rstrip() != line for line in lines)  # nothing after a `\`


def test_the_catalog_holds_commands_documents_and_prose() -> None:
    kinds = {type(step) for fix in FIXES.values() for step in fix.steps}
    assert kinds == {Command, Document, Prose}
    assert len(FIXES) >= 30


def json_documents(fix: Fix) -> list[Any]:
    """The JSON documents a fix holds: its Document steps, and its commands' JSON words."""
    found: list[Any] = []
    for step in fix.steps:
        if isinstance(step, Document):
            found.append(step.document)
        elif isinstance(step, Command):
            for word in step.argv:
                if word[:1] in "{[" and len(word) >= 40:
                    found.append(json.loads(word))
    return found


WITH_JSON = [name for name, fix in FIXES.items() if json_documents(fix)]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", WITH_JSON)
def test_a_json_document_is_written_to_a_file_that_holds_it(
    name: str, width: int, tmp_path: Path
) -> None:
    fix = FIXES[name]
    lines = rendered(fix, width, "  ", "  ")
    assert not any(re.search(r"'[{\[]", line) for line in lines)  # no JSON on a command line
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cat").symlink_to("/bin/cat")
    run = "command_not_found_handle() { return 0; }\n" + script(lines, "  ")
    done = subprocess.run(
        ["/bin/bash", "--noprofile", "--norc", "-e"],
        input=run,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    written = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    assert sorted(map(json.dumps, written)) == sorted(map(json.dumps, json_documents(fix)))
    for line in lines:
        if "file://" in line and ".json" in line:
            named = re.findall(r"file://([\w.-]+\.json)", line)
            assert all((tmp_path / n).exists() for n in named)


def test_a_long_json_line_goes_on_after_a_backslash_and_reads_back_whole(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + "x" * 90 + "$HOME`id`\\"
    fix = Fix.of(Document({"Statement": [{"Resource": arn}]}))
    lines = rendered(fix, 80, "  ", "  ")
    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == "  cat > policy.json <<EOF"  # unquoted: the `\` goes on
    done = subprocess.run(
        ["/bin/bash", "--noprofile", "--norc", "-e"],
        input=script(lines, "  "),
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "policy.json").read_text())["Statement"][0]["Resource"] == arn


def test_a_placeholder_is_quoted_so_the_line_parses() -> None:
    fix = Fix.command("aws", "iam", "update-access-key", "--access-key-id", "<AccessKeyId>")
    (line,) = rendered(fix, 200, "", "")
    assert line == "aws iam update-access-key --access-key-id '<AccessKeyId>'"


def test_exec_plugin_fix_is_a_command_and_the_guide_is_in_the_finding() -> None:
    fix = access.install_fix("Linux")
    assert fix.kind == "command" and "(see" not in fix.text
    lines = rendered(fix, 80, "  ", "  ")
    assert bash_n(script(lines, "  ")).returncode == 0


def result(fix: Fix, check: str = "exec.start-session-denied") -> CheckResult:
    return CheckResult(check, "Exec", Status.FAIL, "The caller may not ssm:StartSession. " * 3, fix)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_rich_report_fits_the_terminal(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table, the fixes under it: no line wider than the terminal (rich's Console at a
    fixed width), the check's column narrow at 80."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    monkeypatch.setattr("rich.console.Console", lambda *a, **k: console)
    monkeypatch.setattr(render, "echo", lambda text="", err=False: out.write(f"{text}\n"))
    monkeypatch.setattr(render, "style", lambda text, **kw: text)
    results = [result(FIXES["iam.caller put-role-policy"]), result(FIXES["exec.plugin deb"])]
    render._rich_table(results, [])
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    header = next(line for line in lines if "status" in line)
    if width < render.NARROW:
        assert "check / finding" in header  # the name above its finding: one text column
    fixes = out.getvalue().split("Fixes:\n", 1)[1]
    assert bash_n(fixes).returncode == 0  # the whole section pastes: headers are comments


@pytest.mark.parametrize("width", WIDTHS)
def test_the_plain_report_fits_the_terminal(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    report = render_report([result(fix, name.split()[0]) for name, fix in FIXES.items()])
    render.render_doctor(report, "text", {})
    lines = capsys.readouterr().out.splitlines()
    too_long = [x for x in lines if len(x) > width and not LONE_URL.fullmatch(x)]
    assert not too_long
    if width < render.NARROW:
        assert re.fullmatch(r"FAIL  [\w.-]+", lines[0])  # the finding goes under it


def render_report(results: list[CheckResult]) -> Any:
    from ecs_migrate.commands.doctor import DoctorReport

    return DoctorReport(results=results, notes=[])


def test_bash_is_what_runs_the_checks() -> None:
    assert os.path.exists("/bin/cat")
    assert bash_n("echo ok\n").returncode == 0 and bash_n("echo <x>\n").returncode != 0
