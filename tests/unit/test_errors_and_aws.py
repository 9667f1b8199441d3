"""The error hierarchy's exit statuses, and aws.translate_errors / Clients failures."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import pytest

from ecs_migrate import errors
from ecs_migrate.aws import AwsSettings, Clients, error_code, is_access_denied, translate_errors
from ecs_migrate.errors import (
    AccessDeniedError,
    AlreadyRunningError,
    AwsApiError,
    CredentialsError,
    EcsMigrateError,
    TargetError,
    TaskNotRunError,
    UsageError,
)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (UsageError, 2),
        (TargetError, 3),
        (CredentialsError, 3),
        (AccessDeniedError, 3),
        (AlreadyRunningError, 3),
        (TaskNotRunError, 4),
        (AwsApiError, 4),
    ],
)
def test_exit_codes(cls: type[EcsMigrateError], code: int) -> None:
    assert cls.exit_code == code
    exc = cls("something happened", hint="do this")
    assert exc.exit_code == code
    assert isinstance(exc, EcsMigrateError)
    assert str(exc) == "something happened"
    assert exc.hint == "do this"


def test_exit_code_constants_match_the_classes() -> None:
    assert UsageError.exit_code == errors.EXIT_USAGE
    assert TargetError.exit_code == errors.EXIT_TARGET
    assert TaskNotRunError.exit_code == errors.EXIT_NOT_RUN
    assert (errors.EXIT_OK, errors.EXIT_COMMAND_FAILED, errors.EXIT_TIMEOUT) == (0, 1, 5)
    assert errors.EXIT_INTERRUPTED == 130


def client_error(code: str, message: str = "message from AWS") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, "DescribeTasks"
    )


def translate(exc: BaseException) -> EcsMigrateError:
    with pytest.raises(EcsMigrateError) as info, translate_errors("describe task abc"):
        raise exc
    assert info.value.__cause__ is exc
    return info.value


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "AccessDenied", "403", "UnauthorizedOperation"]
)
def test_access_denied_codes(code: str) -> None:
    exc = translate(client_error(code, "User: x is not authorized to perform: ecs:DescribeTasks"))
    assert type(exc) is AccessDeniedError
    assert exc.exit_code == 3
    assert "describe task abc" in exc.message
    assert "ecs:DescribeTasks" in exc.message
    assert exc.hint


@pytest.mark.parametrize("code", ["ClusterNotFoundException", "ServiceNotFoundException"])
def test_not_found_is_a_target_error(code: str) -> None:
    exc = translate(client_error(code, "Cluster not found."))
    assert type(exc) is TargetError
    assert exc.exit_code == 3
    assert "Cluster not found." in exc.message


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ServiceUnavailableException", "ServerException"]
)
def test_throttling_after_retries_is_an_api_error(code: str) -> None:
    exc = translate(client_error(code, "Rate exceeded"))
    assert type(exc) is AwsApiError
    assert exc.exit_code == 4
    assert code in exc.message
    assert "Rate exceeded" in exc.message


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"])
def test_rejected_credentials(code: str) -> None:
    exc = translate(client_error(code, "The security token included in the request is expired"))
    assert type(exc) is CredentialsError
    assert exc.exit_code == 3


def test_no_credentials() -> None:
    exc = translate(botocore.exceptions.NoCredentialsError())
    assert type(exc) is CredentialsError
    assert exc.exit_code == 3
    assert "describe task abc" in exc.message
    assert exc.hint


def test_no_region_and_unknown_profile_are_credentials_errors() -> None:
    assert type(translate(botocore.exceptions.NoRegionError())) is CredentialsError
    missing = botocore.exceptions.ProfileNotFound(profile="nope")
    assert type(translate(missing)) is CredentialsError


def test_connection_failure_is_an_api_error() -> None:
    exc = translate(botocore.exceptions.EndpointConnectionError(endpoint_url="https://ecs"))
    assert type(exc) is AwsApiError
    assert exc.exit_code == 4


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), translate_errors("anything"):
        raise KeyError("not AWS")


def test_error_code_helpers() -> None:
    assert error_code(client_error("ThrottlingException")) == "ThrottlingException"
    assert error_code(ValueError("x")) == ""
    assert is_access_denied(client_error("AccessDeniedException"))
    assert not is_access_denied(client_error("ThrottlingException"))


# -- Clients --------------------------------------------------------------------------------


@pytest.fixture
def no_aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No profiles, no region, no credentials from this machine."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("no_aws_config")
def test_unknown_profile_is_a_credentials_error() -> None:
    clients = Clients(AwsSettings(profile="does-not-exist"))
    with pytest.raises(CredentialsError) as info:
        _ = clients.session
    assert "does-not-exist" in info.value.message
    assert info.value.exit_code == 3
    assert info.value.hint


@pytest.mark.usefixtures("no_aws_config")
def test_missing_region_is_a_credentials_error() -> None:
    clients = Clients(AwsSettings())
    with pytest.raises(CredentialsError) as info:
        _ = clients.region
    assert "region" in info.value.message.lower()


@pytest.mark.usefixtures("no_aws_config")
def test_region_from_settings() -> None:
    assert Clients(AwsSettings(region="eu-central-1")).region == "eu-central-1"
