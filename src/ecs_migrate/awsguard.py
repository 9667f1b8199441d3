"""What keeps AWS settings and credentials out of trouble: checks of a region and a profile
before a session reads them, a refusal of a request header that http.client would quote in its
error (the Authorization header), and :func:`scrub`, which takes credentials out of an error's
text. :mod:`ecs_migrate.aws` applies them where sessions, clients and errors are made.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ecs_migrate.errors import AwsConfigError

# botocore's own check of a region name (botocore.utils.validate_region_name), matched whole:
# with `re.match` and `$`, "us-east-1\n" passed, and its newline reached the signature.
REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?")


def check_region(value: str, name: str) -> None:
    """A region name as botocore accepts one (letters, digits and hyphens; no space, newline
    or other control character, which would reach the request's signature), else exit 3."""
    if not REGION.fullmatch(value):
        raise AwsConfigError(
            f"{name} {value!r} is not a region name.",
            hint="Use a region name such as eu-west-1 (letters, digits and hyphens only).",
        )


def check_profile(value: str, name: str) -> None:
    """A profile name: not empty, no space or control character (exit 3)."""
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise AwsConfigError(
            f"{name} {value!r} is not a profile name: it is empty or has spaces or control "
            "characters.",
            hint="List your profiles with `aws configure list-profiles`.",
        )


def check_environment_settings() -> None:
    """AWS_REGION, AWS_DEFAULT_REGION and AWS_PROFILE as --region and --profile are checked
    (exit 3), before a session reads them."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            check_region(os.environ[name], name)
    if os.environ.get("AWS_PROFILE"):
        check_profile(os.environ["AWS_PROFILE"], "AWS_PROFILE")


# What http.client refuses in a header value (and so would echo in its error): a line break,
# or any other control character. The value is never shown: it may be a signature or token.
_BAD_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def refuse_bad_headers(request: Any, **_: Any) -> None:
    """before-send: a header with a control character (a region or a credential with a
    newline) is refused here, naming the header only, instead of by http.client, whose
    error quotes the whole value (the Authorization header: access key ID and signature)."""
    for name, value in request.headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if _BAD_HEADER.search(text):
            raise AwsConfigError(
                f"The AWS request's {name} header would contain a control character (a "
                "newline?), so it was not sent. It comes from an AWS setting: the region, "
                "the profile, or the credentials (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN).",
                hint="Check those settings for a stray newline or space.",
            )


# Text that must never reach a message: a signed request's Authorization value, signatures,
# access key IDs, security tokens, the password of a URL.
_SECRET_TEXT = (
    (re.compile(r"Invalid header value .*", re.S), "Invalid header value (not shown)"),
    (re.compile(r"AWS4-HMAC-SHA256[^'\"\n]*"), "[request signature not shown]"),
    (re.compile(r"(?i)(signature|x-amz-security-token|x-amz-credential)=[^\s&'\",]+"), r"\1=…"),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), "[access key ID]"),
    (re.compile(r"(?i)(://)[^/@\s]+@"), r"\1***@"),
)
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


def scrub(text: str) -> str:
    """``text`` (an AWS or botocore error) without credentials: the patterns above, and the
    values of the AWS credential variables, whatever their form."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    for name in _SECRET_VARIABLES:
        value = os.environ.get(name, "").strip()
        if len(value) >= 8:
            text = text.replace(value, "***")
    return text


def check_credentials(credentials: Any) -> None:
    """Credentials whose parts have a space, a line break or a control character (a stray
    newline pasted into AWS_ACCESS_KEY_ID) are AwsConfigError (exit 3), named, never shown:
    every request would carry them in a header."""
    for part, label in (
        ("access_key", "access key ID (AWS_ACCESS_KEY_ID)"),
        ("secret_key", "secret access key (AWS_SECRET_ACCESS_KEY)"),
        ("token", "session token (AWS_SESSION_TOKEN)"),
    ):
        value = getattr(credentials, part, None)
        if isinstance(value, str) and any(c.isspace() or not c.isprintable() for c in value):
            raise AwsConfigError(
                f"The AWS {label} contains a space, a line break or a control character.",
                hint="Check the variable, or the profile's credentials, for a stray newline.",
            )
