"""The release workflow (.github/workflows/release-binary.yml) cannot run here; it passes
actionlint, and zizmor finds nothing in it in its default and pedantic personas (offline, no
configuration, no ignore comments honoured), as the workflows `init github` writes."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.action_support import ROOT
from tests.e2e.test_init_github import ACTIONLINT
from tests.e2e.test_zizmor import PERSONAS, summary, zizmor

WORKFLOW = ROOT / ".github" / "workflows" / "release-binary.yml"


def test_actionlint_passes() -> None:
    done = subprocess.run(
        [ACTIONLINT, "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("persona", PERSONAS)
def test_zizmor_finds_nothing(persona: str) -> None:
    findings = zizmor(WORKFLOW, persona)
    assert not findings, summary(findings)


def test_both_architectures_are_built_and_published_with_checksums() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    matrix = flow["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert {(m["runner"], m["arch"]) for m in matrix} == {
        ("ubuntu-24.04", "x86_64"),
        ("ubuntu-24.04-arm", "aarch64"),
    }
    steps = "\n".join(str(step) for step in flow["jobs"]["build"]["steps"])
    assert "./scripts/build-binary" in steps and "sha256sum" in steps
    assert flow["permissions"] == {}
    assert flow["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert flow["jobs"]["publish"]["permissions"] == {"contents": "write"}


def test_the_carrier_image_takes_both_checked_files_and_only_may_push_packages() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    job = flow["jobs"]["image"]
    assert job["needs"] == "build" and job["permissions"] == {"packages": "write"}
    steps = [str(step.get("run", "")) for step in job["steps"]]
    assert any("sha256sum --check --strict" in run for run in steps)
    script = steps[-1]
    assert "--platform linux/amd64,linux/arm64" in script and "--push" in script
    for arch, platform in (("x86_64", "amd64"), ("aarch64", "arm64")):
        assert f"dist/ecs-migrate-linux-{arch} context/ecs-migrate-linux-{platform}" in script
    assert "FROM scratch" in script and "--password-stdin" in script
