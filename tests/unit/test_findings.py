"""common/findings.py: a fix stays structured until a renderer prints it, and its text is the
line --output json and SARIF carry."""

from __future__ import annotations

import shlex

from ecs_migrate.common.findings import Command, Document, Fix, FixKind, Prose, as_fix
from ecs_migrate.render.doctor import fix_lines


def test_a_command_is_its_argv_quoted_where_the_shell_needs_it() -> None:
    fix = Fix.command("aws", "s3api", "put-bucket-policy", "--policy", '{"a": "b c"}')
    assert fix.kind is FixKind.COMMAND
    assert fix.text == 'aws s3api put-bucket-policy --policy \'{"a": "b c"}\''
    assert shlex.split(fix.text)[-1] == '{"a": "b c"}'


def test_variables_substitutions_and_placeholders_are_left_as_they_are() -> None:
    fix = Fix.command("SG=$(aws ec2 x --query GroupId)", "&&", "echo", "$SG", "<group-id>")
    assert fix.text == "SG=$(aws ec2 x --query GroupId) && echo $SG <group-id>"


def test_chained_commands_become_one_line_and_prose_stays_prose() -> None:
    one, two = Fix.command("aws", "a"), Fix.command("aws", "b", comment="then look")
    chained = Fix.chain([one, two])
    assert chained.steps == (Command(("aws", "a", "&&", "aws", "b"), "then look"),)
    assert chained.text == "aws a && aws b   # then look"
    mixed = Fix.chain([Fix.prose("Do it by hand"), one], ";")
    assert mixed.text == "Do it by hand ; aws a" and mixed.kind is FixKind.PROSE


def test_a_document_is_json_and_a_fix_of_parts_joins_their_texts() -> None:
    doc = Document({"Version": "2012-10-17"}, compact=True)
    fix = Fix.of("Attach: ", doc, "  (or generate it)")
    assert fix.text == 'Attach: {"Version":"2012-10-17"}  (or generate it)'
    assert fix.steps[0] == Prose("Attach: ") and "2012-10-17" in fix
    assert as_fix("Pass --container NAME.") == Fix.prose("Pass --container NAME.")
    assert as_fix(None) is None and as_fix(fix) is fix


def test_a_fix_that_starts_with_a_command_wraps_between_its_arguments() -> None:
    fix = Fix.of(
        Fix.command("aws", "secretsmanager", "create-secret", "--name", "app/url"),
        ", then point valueFrom at the ARN it prints",
    )
    lines = fix_lines(fix, 40, "", "")
    assert lines[0].endswith(" \\") and "--name app/url" in "\n".join(lines)
    assert fix_lines(Fix.prose(fix.text), 200, "", "") == [fix.text]  # prose: one line
