"""Condition checks: operators, the types of their values and keys, and whether a key applies
to any of the statement's actions (per the catalogue)."""

from __future__ import annotations

import difflib
import ipaddress
import re
from datetime import datetime
from typing import Any

from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.rules import Ctx, Finding

_COMPARISONS = (
    "Equals",
    "NotEquals",
    "LessThan",
    "LessThanEquals",
    "GreaterThan",
    "GreaterThanEquals",
)
# Operator family -> its operators (IAM's condition operators, without the set and IfExists forms).
FAMILIES: dict[str, tuple[str, ...]] = {
    "String": (
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
    ),
    "Numeric": tuple(f"Numeric{c}" for c in _COMPARISONS),
    "Date": tuple(f"Date{c}" for c in _COMPARISONS),
    "Bool": ("Bool",),
    "Binary": ("BinaryEquals",),
    "IpAddress": ("IpAddress", "NotIpAddress"),
    "Arn": ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"),
    "Null": ("Null",),
}
_FAMILY = {op: family for family, ops in FAMILIES.items() for op in ops}
SET_PREFIXES = ("ForAllValues:", "ForAnyValue:")
# Key types (the catalogue's) each family may test; Null tests any key.
_FITS = {
    "String": {"String", "ArrayOfString", "ARN", "ArrayOfARN"},
    "Arn": {"ARN", "ArrayOfARN"},
    "Numeric": {"Numeric", "ArrayOfNumeric"},
    "Date": {"Date", "Numeric"},
    "Bool": {"Bool", "ArrayOfBool"},
    "IpAddress": {"IPAddress"},
    "Binary": {"Binary", "String"},
}
_NEGATED = re.compile(r"^(String|Numeric|Date|Arn)Not|^NotIpAddress")


def base_operator(operator: str) -> tuple[str, bool] | None:
    """(the operator without ForAllValues:/ForAnyValue: and IfExists, whether it had a set
    prefix), or None when IAM has no such operator."""
    base = operator
    prefixed = base.startswith(SET_PREFIXES)
    base = base.split(":", 1)[1] if prefixed else base
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    family = _FAMILY.get(base)
    if family is None or (family == "Null" and (if_exists or prefixed)):
        return None
    return base, prefixed


def _spellings() -> list[str]:
    """Every operator IAM accepts, in each of its forms (for a did-you-mean)."""
    forms = [*_FAMILY, *(f"{op}IfExists" for op in _FAMILY if op != "Null")]
    return forms + [p + op for p in SET_PREFIXES for op in forms if op != "Null"]


def is_negated(operator: str) -> bool:
    """StringNotEquals and its kind hold when the key is absent from the request."""
    parsed = base_operator(operator)
    return parsed is not None and bool(_NEGATED.match(parsed[0]))


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


def _is_date(value: Any) -> bool:
    if _is_number(value):  # epoch seconds
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or (
        isinstance(value, str) and value.lower() in ("true", "false")
    )


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (ValueError, TypeError):
        return False
    return isinstance(value, str)


def _is_arn(value: Any) -> bool:
    return isinstance(value, str) and (
        value == "*" or value.startswith("${") or len(value.split(":", 5)) == 6
    )


_VALUE_CHECKS = {
    "Numeric": (_is_number, "a number"),
    "Date": (_is_date, "an ISO 8601 date or epoch seconds"),
    "Bool": (_is_bool, "true or false"),
    "Null": (_is_bool, "true or false"),
    "IpAddress": (_is_ip, "an IP address or CIDR range"),
    "Arn": (_is_arn, "an ARN"),
}


def condition_pairs(condition: Any) -> list[tuple[str, str, list[Any]]]:
    """(operator, key, values) of a well-formed Condition."""
    out = []
    for operator, pairs in condition.items() if isinstance(condition, dict) else ():
        for key, values in pairs.items() if isinstance(pairs, dict) else ():
            out.append((operator, key, values if isinstance(values, list) else [values]))
    return out


def check_operators_and_values(ctx: Ctx) -> list[Finding]:
    findings = []
    for operator, key, values in condition_pairs(ctx.statement.get("Condition")):
        parsed = base_operator(operator)
        if parsed is None:
            near = difflib.get_close_matches(operator, _spellings(), n=1, cutoff=0.6)
            findings.append(
                ctx.finding(
                    "condition-unknown-operator",
                    f"{operator} is not a condition operator; IAM refuses the policy.",
                    f"Did you mean {near[0]}?"
                    if near
                    else "Use an operator from the IAM docs (StringEquals, ArnLike, Bool, ...).",
                )
            )
            continue
        family = _FAMILY[parsed[0]]
        check = _VALUE_CHECKS.get(family)
        bad = [v for v in values if check and not check[0](v)]
        if check and bad:
            findings.append(
                ctx.finding(
                    "condition-value-type",
                    f"{operator} {key} is given {bad[0]!r}, which is not {check[1]}.",
                    f"Give {operator} {check[1]}, or use the operator for that value's type.",
                )
            )
        kind = catalog.condition_key_type(key)
        if kind and family in _FITS and kind not in _FITS[family]:
            findings.append(
                ctx.finding(
                    "condition-operator-mismatch",
                    f"{key} is of type {kind}, but {operator} compares {family} values.",
                    f"Use an operator for {kind} keys.",
                )
            )
    return findings


def check_key_applicability(ctx: Ctx) -> list[Finding]:
    """Keys that none of the statement's actions has: the request never carries them."""
    statement = ctx.statement
    patterns = statement.get("Action")
    if "NotAction" in statement or not isinstance(patterns, str | list):
        return []
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if "*" in patterns or not all(isinstance(p, str) for p in patterns):
        return []
    infos = [
        info
        for pattern in patterns
        for name in catalog.expand(pattern)
        if (info := catalog.action(name)) is not None
    ]
    if not infos:
        return []  # unknown actions are reported as such
    findings = []
    for operator, key, _values in condition_pairs(statement.get("Condition")):
        if (
            catalog.is_global_key(key)
            or not catalog.condition_key_exists(key)  # unknown-condition-key says it
            or any(info.has_condition_key(key) for info in infos)
        ):
            continue
        names = ", ".join(sorted({i.full_name for i in infos})[:3])
        matches_nothing = (
            ctx.allow and not is_negated(operator) and not operator.endswith("IfExists")
        )
        effect = (
            " The request never has it, so this Allow matches nothing."
            if matches_nothing
            else " The request never has it."
        )
        findings.append(
            ctx.finding(
                "condition-key-not-applicable",
                f"{key} applies to none of the statement's actions ({names}).{effect}",
                "Use a key the actions have (see the Service Authorization Reference), "
                "or move the condition to a statement of the actions it applies to.",
            )
        )
    return findings
