"""docs/tools.md's table is tests/tools/matrix.py's, and each tested cell has a test (issue 23)."""

from __future__ import annotations

import re

from tests.tools import matrix

ISSUE_ROWS = [
    "Alembic (sync)", "Alembic (asyncpg)", "Django", "Rails", "knex", "node-pg-migrate",
    "Sequelize", "TypeORM", "Prisma", "dbmate", "sqitch", "psql", "yoyo", "Flyway",
    "Liquibase", "golang-migrate", "goose",
]  # fmt: skip


def test_the_docs_table_is_the_matrix() -> None:
    doc = matrix.DOC.read_text()
    assert doc == matrix.with_table(doc), (
        "docs/tools.md's table differs from tests/tools/matrix.py: "
        "run `python -m tests.tools.matrix --write`"
    )


def test_the_rows_are_the_issues_tools_with_the_issues_columns() -> None:
    assert [r.tool for r in matrix.ROWS] == ISSUE_ROWS
    assert len({r.key for r in matrix.ROWS}) == len(matrix.ROWS)
    header = matrix.render().splitlines()[0]
    assert [h.strip() for h in header.strip("|").split("|")][1:] == [
        "`PGOPTIONS` honoured",
        "migrations in a transaction",
        "guard effective",
        "retry safe",
        "offline SQL for `lint-sql`",
    ]


def test_every_cell_is_a_known_value_for_each_variant_or_not_tested() -> None:
    for row in matrix.ROWS:
        for fact in matrix.FACTS:
            cell = row.cell(fact)
            if isinstance(cell.expect, str):
                assert cell.expect in matrix.VALUES[fact], (row.tool, fact)
            elif cell.expect is not None:
                assert set(cell.expect) == set(row.variants), (row.tool, fact)
                assert set(cell.expect.values()) <= set(matrix.VALUES[fact]), (row.tool, fact)
            assert "|" not in cell.note, (row.tool, fact)


def test_every_tested_row_names_a_test_module_that_takes_its_cases_from_the_matrix() -> None:
    for row in matrix.ROWS:
        if not row.tested:
            assert row.evidence is None, row.tool
            continue
        assert row.evidence is not None, f"{row.tool}: tested cells need an evidence module"
        module = matrix.ROOT / row.evidence
        assert module.is_file(), f"{row.tool}: {row.evidence} is missing"
        text = module.read_text()
        assert re.search(r"matrix\.(offline_)?cases\(", text), (row.tool, row.evidence)
        covered = {c.row.key for c in matrix.cases(row.evidence)} | {
            c.row.key for c in matrix.offline_cases(row.evidence)
        }
        assert row.key in covered, row.tool


def test_a_case_reports_each_fact_that_differs() -> None:
    case = matrix.cases(matrix.PYTHON)[0]
    right = dict(case.expected)
    assert matrix.mismatches(case, right) == []
    wrong = {**right, "guard": "no"}
    said = matrix.mismatches(case, wrong)
    assert len(said) == 1
    assert "guard effective is 'yes', observed 'no'" in said[0]


def test_psql_is_run_with_and_without_single_transaction() -> None:
    psql = [c for c in matrix.cases(matrix.PYTHON) if c.row.key == "psql"]
    assert {c.variant: c.expected["guard"] for c in psql} == {"-1": "yes", "plain": "waits"}
    assert "with `-1`: yes; without: no, it waits as unguarded" in matrix.show(
        matrix.row("psql"), "guard"
    )
