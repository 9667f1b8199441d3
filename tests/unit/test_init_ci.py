"""`ecs-migrate init <ci>` offline, through the CLI: each CI's pipeline is valid YAML that
reads every value from a variable (hostile values stay data), its trust policy is linted
clean by `policy lint`, flags of another CI are refused, and the subcommand's flags agree
with the options dataclass."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from ecs_migrate.cli.main import cli
from ecs_migrate.commands.initci import PIPELINES, InitCiOptions
from ecs_migrate.errors import UsageError

SHA = "0123456789abcdef0123456789abcdef01234567"
OFFLINE = (
    *("--offline", "--account", "123456789012", "--region", "eu-west-1"),
    *("--ecr-repository", "acme/api", "--container", "web"),
    *("--task-role-arn", "arn:aws:iam::123456789012:role/api-task"),
    *("--execution-role-arn", "arn:aws:iam::123456789012:role/api-execution"),
    *("--source", f"acme/ecs-migrate@{SHA}"),
)
# Each CI's own trust flags.
TRUST = {
    "gitlab": ("--repo", "acme/api"),
    "bitbucket": (
        *("--workspace", "acme", "--workspace-uuid", "9f1c2d3e-0000-4000-8000-000000000001"),
        *("--repo-id", "{5d2e6f7a-0000-4000-8000-000000000002}"),
    ),
    "circleci": (
        *("--org-id", "1b2c3d4e-0000-4000-8000-000000000001"),
        *("--project", "7e8f9a0b-0000-4000-8000-000000000002"),
    ),
    "buildkite": ("--org", "acme", "--pipeline", "api-deploy"),
    "azure": (
        *("--org", "acme", "--org-id", "3a4b5c6d-0000-4000-8000-000000000001"),
        *("--project", "Platform", "--service-connection", "aws-prod"),
    ),
}
CANARY = "canary-init-ci-5e1f"


def init(tmp: Path, ci: str, *args: str) -> Any:
    out = tmp / PIPELINES[ci][0]
    return CliRunner().invoke(
        cli,
        [
            "init",
            ci,
            "--cluster",
            "prod",
            "--service",
            "api",
            *TRUST[ci],
            *OFFLINE,
            "--out",
            str(out),
            *args,
        ],
        prog_name="ecs-migrate",
    )


@pytest.mark.parametrize("ci", sorted(TRUST))
def test_the_pipeline_and_both_policies_are_written(ci: str, tmp_path: Path) -> None:
    done = init(tmp_path, ci)
    assert done.exit_code == 0, done.output
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 3, files
    pipeline = (tmp_path / PIPELINES[ci][0]).read_text()
    assert yaml.safe_load(pipeline)
    assert "ecs-migrate deploy" in pipeline and "AWS_WEB_IDENTITY_TOKEN_FILE" in pipeline
    assert "AWS_ACCESS_KEY_ID" not in pipeline and "AWS_SECRET" not in pipeline
    assert f"git+https://github.com/acme/ecs-migrate@{SHA}" in pipeline
    assert "aws iam create-role --role-name ecs-migrate-deploy-api" in done.stdout


@pytest.mark.parametrize("ci", sorted(TRUST))
def test_the_trust_policy_is_linted_clean(ci: str, tmp_path: Path) -> None:
    assert init(tmp_path, ci).exit_code == 0
    (trust,) = tmp_path.rglob("*.trust-policy.json")
    linted = CliRunner().invoke(cli, ["policy", "lint", "--output", "json", str(trust)])
    assert linted.exit_code == 0, linted.output
    assert json.loads(linted.stdout)["findings"] == []
    (permission,) = tmp_path.rglob("*.role-policy.json")
    linted = CliRunner().invoke(
        cli, ["policy", "lint", "--features", "run,deploy", str(permission)]
    )
    assert linted.exit_code == 0, linted.output


@pytest.mark.parametrize("ci", sorted(TRUST))
def test_hostile_values_stay_data(ci: str, tmp_path: Path) -> None:
    """A migrate command with shell, variable and YAML syntax reaches the job as one JSON
    value, never as code; a canary in it is in the file only inside that value."""
    hostile = (
        f"sh -c 'echo $CI_JOB_TOKEN ${{HOME}} `id` <<x \"{CANARY}\" ${{{{ x }}}}; exit 3'"
        " # :\n- x: y"
    )
    done = init(tmp_path, ci, "--migrate-command", hostile, "--dockerfile", "a b/$HOME")
    assert done.exit_code == 0, done.output
    text = (tmp_path / PIPELINES[ci][0]).read_text()
    loaded = yaml.safe_load(text)
    found = _variables(ci, loaded)
    assert json.loads(found["MIGRATE_COMMAND"]) == shlex.split(hostile)
    assert found["DOCKERFILE"] == "a b/$HOME"
    lines = text.splitlines()
    with_canary = [i for i, line in enumerate(lines) if CANARY in line]
    assert with_canary  # only in MIGRATE_COMMAND's value(s) (the header shows no values)
    assert all("MIGRATE_COMMAND" in lines[i] + lines[i - 1] for i in with_canary)


def _variables(ci: str, loaded: dict[str, Any]) -> dict[str, str]:
    """The values each job gets, as the CI reads the file (its own escapes undone)."""
    if ci == "gitlab":  # expand: false on each
        assert all(v["expand"] is False for v in loaded["variables"].values())
        return {k: v["value"] for k, v in loaded["variables"].items()}
    if ci == "bitbucket":  # the deploy step's exports, as the shell reads them
        (deploy,) = [s["step"] for s in loaded["pipelines"]["branches"]["main"]][-1:]
        words = [shlex.split(line) for line in deploy["script"] if line.startswith("export ")]
        return dict(w[1].split("=", 1) for w in words)
    if ci == "circleci":  # '\\<<' is CircleCI's escape of '<<'
        env = loaded["jobs"]["deploy"]["environment"]
        return {k: v.replace("\\<<", "<<") for k, v in env.items()}
    if ci == "buildkite":  # '$$' is Buildkite's escape of '$'
        return {k: v.replace("$$", "$") for k, v in loaded["env"].items()}
    if ci == "azure":
        return {v["name"]: v["value"] for v in loaded["variables"]}
    raise AssertionError(ci)


def test_azure_refuses_a_macro_in_a_value(tmp_path: Path) -> None:
    """Azure Pipelines expands $(NAME) in variables: $(System.AccessToken) would reach the
    task. Refused, and nothing is written."""
    done = init(tmp_path, "azure", "--migrate-command", "sh -c 'echo $(System.AccessToken)'")
    assert isinstance(done.exception, UsageError), done.output
    assert "macro" in str(done.exception)
    assert not list(tmp_path.rglob("*.yml"))


@pytest.mark.parametrize(("ci", "branch"), [("bitbucket", "a{b,c}"), ("buildkite", "!main")])
def test_a_branch_the_filter_reads_as_a_pattern_is_refused(
    ci: str, branch: str, tmp_path: Path
) -> None:
    done = init(tmp_path, ci, "--branch", branch)
    assert isinstance(done.exception, UsageError), done.output
    assert "pattern" in str(done.exception)


def test_a_trust_flag_of_another_ci_is_refused_by_the_library(tmp_path: Path) -> None:
    from ecs_migrate.commands.initci import init_ci

    opts = InitCiOptions(
        cluster="prod", service="api", repo="acme/api", workspace="acme", offline=True
    )
    with pytest.raises(UsageError, match="--workspace does not apply to init gitlab"):
        init_ci(None, "gitlab", opts)


def test_a_flag_of_another_ci_is_refused(tmp_path: Path) -> None:
    done = init(tmp_path, "gitlab", "--workspace", "acme")
    # click 8.2 says "No such option: --workspace", 8.5 "No such option '--workspace'".
    assert done.exit_code == 2 and "No such option" in done.output
    assert "--workspace" in done.output.split("No such option", 1)[1]
    done = init(tmp_path, "gitlab", "--branch", "ma in")
    assert isinstance(done.exception, UsageError) and "--branch" in str(done.exception)
    assert not list(tmp_path.iterdir())


def test_nothing_is_overwritten_without_force(tmp_path: Path) -> None:
    assert init(tmp_path, "gitlab").exit_code == 0
    again = init(tmp_path, "gitlab")
    assert isinstance(again.exception, UsageError) and "nothing was written" in str(again.exception)
    assert init(tmp_path, "gitlab", "--force").exit_code == 0


def test_gitlabs_trust_names_the_instance_and_branch(tmp_path: Path) -> None:
    done = init(tmp_path, "gitlab", "--gitlab-url", "https://gitlab.example.com", "--branch", "rel")
    assert done.exit_code == 0, done.output
    (trust,) = tmp_path.rglob("*.trust-policy.json")
    statement = json.loads(trust.read_text())["Statement"][0]
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/gitlab.example.com")
    sub = statement["Condition"]["StringEquals"]["gitlab.example.com:sub"]
    assert sub == "project_path:acme/api:ref_type:branch:ref:rel"
    assert "--url https://gitlab.example.com --client-id-list sts.amazonaws.com" in done.stdout
    pipeline = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert pipeline["variables"]["DEPLOY_BRANCH"]["value"] == "rel"


@pytest.mark.parametrize("ci", sorted(TRUST))
def test_the_flags_agree_with_the_options(ci: str) -> None:
    """Each flag of `init CI` is a field of InitCiOptions, with the field's default."""
    command = cli.get_command(None, "init").get_command(None, ci)  # type: ignore[union-attr]
    fields = {f.name: f for f in dataclasses.fields(InitCiOptions)}
    for param in command.params:
        if param.name in {"output", "region", "profile", "help"}:
            continue
        assert param.name in fields, param.name
        default = fields[param.name].default
        if default is not dataclasses.MISSING and default is not None:
            assert param.default == default, param.name


@pytest.mark.parametrize("ci", sorted(TRUST))
def test_the_ci_page_names_only_real_flags(ci: str) -> None:
    """docs/ci/<ci>.md exists, shows `ecs-migrate init <ci>`, and every --flag it names is a
    flag of that command (or of the printed aws commands)."""
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "ci" / f"{ci}.md").read_text()
    assert f"ecs-migrate init {ci} " in page
    command = cli.get_command(None, "init").get_command(None, ci)  # type: ignore[union-attr]
    flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
    aws = {"--url", "--client-id-list", "--role-name", "--max-session-duration"}
    aws |= {"--assume-role-policy-document", "--policy-name", "--policy-document", "--sql"}
    aws |= {"--features", "--provider", "--audience", "--role"}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", page))
    assert named - flags - aws == set()
