"""`ecs-migrate doctor` end to end: the real CLI (a subprocess) against the sandbox.

The sandbox world is healthy (see tests/conftest.py); each scenario breaks one thing and
asserts that doctor names it, root cause first, with a fix that carries the real names, and
that nothing unrelated fails. The CLI runs with the seeded CI user's keys, so the caller
checks judge a real IAM user (moto does not enforce its policy, but doctor reads it).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from ecs_migrate.commands.doctor import DoctorOptions, selected_checks
from ecs_migrate.commands.doctor.permissions import LOCAL_CAVEAT
from tests.conftest import BIN, Env, assert_no_secrets
from tests.doctor_support import Checks, account, by_id, doctor_cli, doctor_json, failing

TARGET_IDS = ("cluster.active", "service.active", "taskdef.container", "taskdef.log-driver")
IAM_IDS = ("iam.caller",)
CAVEAT = "judged from identity policies only"  # the mark; the note says what it did not see


# -- helpers --------------------------------------------------------------------------------
def taskdef_pattern(sandbox: Env) -> str:
    return f"arn:aws:ecs:us-east-1:{account(sandbox)}:task-definition/{sandbox.world.family}:*"


def cluster_arn(sandbox: Env) -> str:
    return f"arn:aws:ecs:us-east-1:{account(sandbox)}:cluster/{sandbox.world.cluster}"


def ci_user_arn(sandbox: Env) -> str:
    return f"arn:aws:iam::{account(sandbox)}:user/{sandbox.world.ci_user}"


def ci_policy(sandbox: Env) -> tuple[str, dict[str, Any]]:
    iam = sandbox.client("iam")
    (name,) = iam.list_user_policies(UserName=sandbox.world.ci_user)["PolicyNames"]
    document = iam.get_user_policy(UserName=sandbox.world.ci_user, PolicyName=name)[
        "PolicyDocument"
    ]
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return name, document


def put_ci_policy(sandbox: Env, name: str, document: dict[str, Any]) -> None:
    sandbox.client("iam").put_user_policy(
        UserName=sandbox.world.ci_user, PolicyName=name, PolicyDocument=json.dumps(document)
    )


def attached_statement(fix: str) -> dict[str, Any]:
    """The policy JSON in iam.caller's fix ("Attach to it: {...}  (or ...)")."""
    start = fix.index("{")
    document, _ = json.JSONDecoder().raw_decode(fix[start:])
    assert isinstance(document, dict)
    return document


# -- the healthy world ----------------------------------------------------------------------
def test_healthy_world_passes(sandbox: Env) -> None:
    result, data = doctor_json(sandbox)
    assert result.returncode == 0, result.output
    checks = by_id(data)
    assert failing(checks) == set()
    for check_id in TARGET_IDS + IAM_IDS:
        assert checks[check_id]["status"] == "pass", checks[check_id]
        assert checks[check_id]["fix"] is None
    # moto lacks SimulatePrincipalPolicy: judged locally from the user's identity policies,
    # and the finding says what that cannot see.
    caller = checks["iam.caller"]
    assert ci_user_arn(sandbox) in caller["message"]
    assert CAVEAT in caller["message"]
    assert checks["cluster.active"]["area"] == "Target"
    assert data["summary"]["fail"] == 0
    assert data["summary"]["total"] == len(data["checks"])
    assert "0 fail" in result.stderr


def test_exec_adds_execute_command_to_what_the_caller_needs(sandbox: Env) -> None:
    # The seeded CI user may do what `run` needs, not ECS Exec.
    _, data = doctor_json(sandbox, "--exec")
    caller = by_id(data)["iam.caller"]
    assert caller["status"] == "fail", caller
    assert "ecs:ExecuteCommand" in caller["message"]
    ecs = f"arn:aws:ecs:us-east-1:{account(sandbox)}"
    cluster, tasks = (
        f"{ecs}:cluster/{sandbox.world.cluster}",
        f"{ecs}:task/{sandbox.world.cluster}/*",
    )
    statement = attached_statement(caller["fix"])
    # ExecuteCommand is authorised on both the cluster and the task, in this cluster only.
    assert statement["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["ecs:ExecuteCommand"],
            "Resource": resource,
            "Condition": {"StringEquals": {"ecs:cluster": cluster}},
        }
        for resource in (cluster, tasks)
    ]
    # Other exec checks are not this file's subject: only iam.caller is asserted here.
    name, document = ci_policy(sandbox)
    put_ci_policy(
        sandbox, name, {**document, "Statement": document["Statement"] + statement["Statement"]}
    )
    _, data = doctor_json(sandbox, "--exec")
    caller = by_id(data)["iam.caller"]
    assert caller["status"] == "pass", caller
    assert "ExecuteCommand" in caller["message"]


# -- the target -----------------------------------------------------------------------------
def fails_first_and_alone(
    sandbox: Env, check_id: str, **target: str
) -> tuple[dict[str, Any], Checks]:
    """doctor against a wrong target: exit 3, ``check_id`` failing first and alone."""
    result, data = doctor_json(sandbox, **target)
    assert result.returncode == 3, result.output
    first = data["checks"][0]
    assert (first["id"], first["status"]) == (check_id, "fail")
    checks = by_id(data)
    assert failing(checks) == {check_id}
    return first, checks


def test_unknown_cluster_exits_3_and_everything_below_it_is_skipped(sandbox: Env) -> None:
    first, checks = fails_first_and_alone(sandbox, "cluster.active", cluster="no-such-cluster")
    assert "no-such-cluster" in first["message"]
    assert "us-east-1" in first["fix"]
    assert checks["service.active"]["status"] == "skip"
    assert checks["service.active"]["message"] == "skipped: cluster.active did not pass (fail)"
    # Every check that depends on the cluster, directly or not, is skipped naming the check
    # it waited for, and the chain of names leads back to cluster.active.
    needs = {c.id: c.needs for c in selected_checks(DoctorOptions("x", "y"))}
    dependents = [i for i in needs if "cluster.active" in ancestors(i, needs)]
    assert "iam.caller" in dependents
    for check_id in dependents:
        node = check_id
        while node != "cluster.active":
            assert checks[node]["status"] == "skip", checks[node]
            named = checks[node]["message"].removeprefix("skipped: ").split(" did not pass")[0]
            assert named in needs[node], checks[node]
            node = named


def ancestors(check_id: str, needs: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    todo = list(needs.get(check_id, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += needs.get(node, ())
    return seen


def test_unknown_service_exits_3(sandbox: Env) -> None:
    first, checks = fails_first_and_alone(sandbox, "service.active", service="no-such-service")
    assert "no-such-service" in first["message"]
    assert f"--cluster {sandbox.world.cluster}" in first["fix"]
    assert checks["cluster.active"]["status"] == "pass"
    assert checks["taskdef.container"]["message"] == "skipped: service.active did not pass (fail)"


def delete_log_group(sandbox: Env) -> None:
    sandbox.client("logs").delete_log_group(logGroupName=sandbox.world.log_group)


def test_missing_log_group_fails_with_the_create_command(sandbox: Env) -> None:
    delete_log_group(sandbox)
    result, data = doctor_json(sandbox)
    assert result.returncode == 1, result.output
    checks = by_id(data)
    assert failing(checks) == {"taskdef.log-driver"}
    check = data["checks"][0]
    assert check["id"] == "taskdef.log-driver"
    assert check["fix"] == "aws logs create-log-group --log-group-name /ecs/app"
    assert "/ecs/app" in check["message"]
    assert checks["iam.caller"]["status"] == "pass"


def test_text_output_lists_the_failing_check_first(sandbox: Env) -> None:
    delete_log_group(sandbox)
    result = doctor_cli(sandbox)  # stdout is a pipe: plain text, not the rich table
    assert result.returncode == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["FAIL", "taskdef.log-driver"], result.stdout
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("fix:"))
    fix = lines[at]  # under the finding; a long one goes on under it, each line ending in \
    while fix.endswith(" \\"):
        at += 1
        fix = fix[:-2] + " " + lines[at].strip()
    assert fix.split() == ["fix:", "aws", "logs", "create-log-group", "--log-group-name",
                           "/ecs/app"]  # fmt: skip
    statuses = [line.split()[0] for line in lines if not line.startswith(" ")]  # not wrapped
    assert statuses.count("FAIL") == 1
    assert "PASS" in statuses
    assert "1 fail" in result.stderr


# -- the caller's permissions, judged locally ------------------------------------------------
def test_caller_without_run_task_fails_with_the_statement_to_attach(sandbox: Env) -> None:
    name, document = ci_policy(sandbox)
    kept = [s for s in document["Statement"] if s["Action"] != ["ecs:RunTask"]]
    assert len(kept) == len(document["Statement"]) - 1, document
    put_ci_policy(sandbox, name, {**document, "Statement": kept})

    result, data = doctor_json(sandbox)
    assert result.returncode == 1, result.output
    checks = by_id(data)
    assert failing(checks) == {"iam.caller"}
    caller = checks["iam.caller"]
    assert ci_user_arn(sandbox) in caller["message"]
    assert "ecs:RunTask" in caller["message"]
    assert CAVEAT in caller["message"]
    assert "ecs:RunTask" in caller["fix"]
    assert taskdef_pattern(sandbox) in caller["fix"]
    statement = attached_statement(caller["fix"])
    # Narrowed as the model narrows it: RunTask in this cluster only.
    in_cluster = {"StringEquals": {"ecs:cluster": cluster_arn(sandbox)}}
    assert statement["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["ecs:RunTask"],
            "Resource": taskdef_pattern(sandbox),
            "Condition": in_cluster,
        }
    ]

    # Attaching exactly what the fix says makes the check pass again.
    put_ci_policy(
        sandbox, name, {**document, "Statement": kept + statement["Statement"]}
    )  # fmt: skip
    result, data = doctor_json(sandbox)
    assert result.returncode == 0, result.output
    assert by_id(data)["iam.caller"]["status"] == "pass"


def test_caller_explicitly_denied_pass_role_fails(sandbox: Env) -> None:
    name, document = ci_policy(sandbox)
    guard = {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}
    put_ci_policy(sandbox, name, {**document, "Statement": [*document["Statement"], guard]})
    result, data = doctor_json(sandbox)
    checks = by_id(data)
    assert failing(checks) == {"iam.caller"}, result.output
    caller = checks["iam.caller"]
    assert "iam:PassRole" in caller["message"]
    assert sandbox.world.task_role_arn in caller["fix"]
    assert sandbox.world.execution_role_arn in caller["fix"]


# -- the caller's permissions, simulated ------------------------------------------------------
IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
Decide = Callable[[str, str], str]


class SimulatePrincipalPolicyStub:
    """WSGI middleware answering iam:SimulatePrincipalPolicy; everything else goes to moto.

    This stub stands in for the one API moto lacks (moto answers it with an unparseable 500,
    which makes doctor fall back to local evaluation). IAM speaks the query protocol (a form
    body with ``Action=SimulatePrincipalPolicy``, an XML answer), which the sandbox's
    FaultInjector.script cannot answer: it only scripts JSON-protocol (X-Amz-Target)
    operations. ``decide(action, resource)`` gives each EvalDecision ("allowed",
    "implicitDeny", "explicitDeny").
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], decide: Decide) -> None:
        self.app = app
        self.decide = decide
        self.requests: list[dict[str, list[str]]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)  # leave it readable for moto
        form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
        if form.get("Action") != ["SimulatePrincipalPolicy"]:
            return self.app(environ, start_response)
        with self._lock:
            self.requests.append(form)
        actions = members(form, "ActionNames")
        resources = members(form, "ResourceArns") or ["*"]
        results = "".join(
            "<member>"
            f"<EvalActionName>{escape(action)}</EvalActionName>"
            f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
            f"<EvalDecision>{self.decide(action, resource)}</EvalDecision>"
            "<MatchedStatements/><MissingContextValues/>"
            "</member>"
            for action in actions
            for resource in resources
        )
        body = (
            f'<SimulatePrincipalPolicyResponse xmlns="{IAM_XMLNS}">'
            "<SimulatePrincipalPolicyResult>"
            f"<EvaluationResults>{results}</EvaluationResults>"
            "<IsTruncated>false</IsTruncated>"
            "</SimulatePrincipalPolicyResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</SimulatePrincipalPolicyResponse>"
        ).encode()
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]


def members(form: dict[str, list[str]], name: str) -> list[str]:
    """A query-protocol list: Name.member.1, Name.member.2, ... in order."""
    found = []
    n = 1
    while f"{name}.member.{n}" in form:
        found.append(form[f"{name}.member.{n}"][0])
        n += 1
    return found


@pytest.fixture
def simulate(sandbox: Env) -> Iterator[Callable[[Decide], SimulatePrincipalPolicyStub]]:
    """Install the stub around the fault injector's inner app for this test, then restore."""
    faults = sandbox.sandbox.faults
    assert faults is not None
    original = faults.app

    def install(decide: Decide) -> SimulatePrincipalPolicyStub:
        stub = SimulatePrincipalPolicyStub(original, decide)
        faults.app = stub
        return stub

    try:
        yield install
    finally:
        faults.app = original


def test_caller_passes_by_simulation_without_the_caveat(
    sandbox: Env, simulate: Callable[[Decide], SimulatePrincipalPolicyStub]
) -> None:
    stub = simulate(lambda action, resource: "allowed")
    result, data = doctor_json(sandbox)
    assert result.returncode == 0, result.output
    caller = by_id(data)["iam.caller"]
    assert caller["status"] == "pass", caller
    assert CAVEAT not in caller["message"]
    assert LOCAL_CAVEAT not in caller["message"]
    assert ci_user_arn(sandbox) in caller["message"]
    # The simulation was really asked, for the CI user, with the request's context.
    # (Other checks may simulate the task's roles too: only the CI user's requests count.)
    mine = [r for r in stub.requests if r["PolicySourceArn"] == [ci_user_arn(sandbox)]]
    asked = {a for r in mine for a in members(r, "ActionNames")}
    assert {"ecs:RunTask", "iam:PassRole", "logs:GetLogEvents"} <= asked
    run_task = next(r for r in mine if members(r, "ActionNames") == ["ecs:RunTask"])
    assert members(run_task, "ResourceArns") == [taskdef_pattern(sandbox)]
    assert run_task["ContextEntries.member.1.ContextKeyName"] == ["ecs:cluster"]


def test_caller_denied_by_simulation_fails_naming_the_action(
    sandbox: Env, simulate: Callable[[Decide], SimulatePrincipalPolicyStub]
) -> None:
    # The user's own policy allows RunTask: only the simulation (which sees boundaries and
    # SCPs) can say no, so a failure here proves its answer is the one used.
    simulate(lambda action, resource: "implicitDeny" if action == "ecs:RunTask" else "allowed")
    result, data = doctor_json(sandbox)
    assert result.returncode == 1, result.output
    checks = by_id(data)
    assert failing(checks) == {"iam.caller"}
    caller = checks["iam.caller"]
    assert "ecs:RunTask" in caller["message"]
    assert "iam:PassRole" not in caller["message"]
    assert CAVEAT not in caller["message"]
    assert taskdef_pattern(sandbox) in caller["fix"]


# -- the command line -----------------------------------------------------------------------
def doctor_with_env_only(sandbox: Env, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """doctor with exactly ``env`` (sandbox.cli would add the sandbox's region back)."""
    done = subprocess.run(
        [BIN, "doctor", "--cluster", "sandbox", "--service", "app", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert_no_secrets(done.stdout + done.stderr, sandbox.secrets)
    return done


def test_no_region_exits_3(sandbox: Env, tmp_path: Path) -> None:
    env = {k: v for k, v in sandbox.env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
    )
    done = doctor_with_env_only(sandbox, env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "region" in done.stderr.lower()
    assert "AWS_REGION" in done.stderr
    assert "Traceback" not in done.stderr


def test_aws_region_alone_is_enough(sandbox: Env, tmp_path: Path) -> None:
    env = {k: v for k, v in sandbox.env.items() if k != "AWS_DEFAULT_REGION"}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "no-config"))
    done = doctor_with_env_only(sandbox, env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_db_instance_and_db_cluster_together_exit_2(sandbox: Env) -> None:
    result = doctor_cli(sandbox, "--db-instance", "x", "--db-cluster", "y")
    assert result.returncode == 2, result.output
    assert "--db-instance" in result.stderr and "--db-cluster" in result.stderr
    assert result.stdout == ""


def test_github_actions_step_summary_lists_every_check(sandbox: Env, tmp_path: Path) -> None:
    delete_log_group(sandbox)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result, data = doctor_json(sandbox, env=env)
    assert result.returncode == 1, result.output
    text = summary.read_text()
    assert "ecs-migrate doctor" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(data["checks"])  # header, rule, a row per check
    for check in data["checks"]:
        assert f"`{check['id']}`" in text
    failing_row = next(line for line in table if "`taskdef.log-driver`" in line)
    assert "aws logs create-log-group --log-group-name /ecs/app" in failing_row
    assert "::error" in result.stderr and "taskdef.log-driver" in result.stderr
    assert_no_secrets(text, sandbox.secrets)


def test_help_shows_an_example() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [BIN, "doctor", "--help"], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Example" in done.stdout
    examples = [line.strip() for line in done.stdout.splitlines() if "ecs-migrate doctor" in line]
    assert any("--cluster" in line and "--service" in line for line in examples), done.stdout
