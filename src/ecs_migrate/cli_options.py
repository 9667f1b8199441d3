"""Options every command shares, with the same meaning everywhere (click only: no heavy imports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def aws_options(func: F) -> F:
    """--region and --profile, with the same meaning on every command."""
    func = click.option(
        "--profile", envvar="AWS_PROFILE", show_envvar=True, help="AWS profile to use."
    )(func)
    return click.option(
        "--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)."
    )(func)


def output_option(func: F) -> F:
    """--output text|json, with the same meaning on every command."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="text for people; json for scripts (one object on stdout).",
    )(func)


def database_url_var_option(func: F) -> F:
    """--database-url-var: the variable holding the database URL, in the container."""
    return click.option(
        "--database-url-var",
        default="DATABASE_URL",
        show_default=True,
        metavar="VAR",
        help="Variable holding the database URL in the container (never printed).",
    )(func)
