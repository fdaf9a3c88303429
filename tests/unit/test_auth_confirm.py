"""POST /auth/confirm through the Cognito adapter: Cognito's answers, recorded with botocore's Stubber
(moto accepts any code, so the refusals are checked here)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from driveway_hub.auth.errors import InvalidConfirmationCode
from driveway_hub.auth.identity import CognitoIdentityProvider
from driveway_hub.errors import NotAllowed, RateLimited

EMAIL = "dana.driver@example.com"
EXPECTED = {"ClientId": "client-1", "Username": EMAIL, "ConfirmationCode": "123456"}


@pytest.fixture
def stubbed() -> Iterator[tuple[CognitoIdentityProvider, Stubber]]:
    client = boto3.client("cognito-idp", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield CognitoIdentityProvider(client, "us-east-1_pool", "client-1"), stubber
        stubber.assert_no_pending_responses()


def _refuse(stubber: Stubber, code: str, message: str = "", status: int = 400) -> None:
    stubber.add_client_error("confirm_sign_up", service_error_code=code, service_message=message,
                             http_status_code=status, expected_params=EXPECTED)


def test_the_right_code_confirms(stubbed: tuple[CognitoIdentityProvider, Stubber]) -> None:
    identity, stubber = stubbed
    stubber.add_response("confirm_sign_up", {}, EXPECTED)
    identity.confirm_email(EMAIL, "123456")


@pytest.mark.parametrize("code", ["CodeMismatchException", "ExpiredCodeException", "UserNotFoundException"])
def test_a_wrong_or_expired_code_or_unknown_email_is_one_400_on_the_code(
    stubbed: tuple[CognitoIdentityProvider, Stubber], code: str
) -> None:
    identity, stubber = stubbed
    _refuse(stubber, code)
    with pytest.raises(InvalidConfirmationCode) as raised:
        identity.confirm_email(EMAIL, "123456")
    assert raised.value.field == "code" and raised.value.code == "invalid_confirmation_code"


def test_confirming_an_already_confirmed_account_is_not_an_error(
    stubbed: tuple[CognitoIdentityProvider, Stubber]
) -> None:
    identity, stubber = stubbed
    _refuse(stubber, "NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED")
    identity.confirm_email(EMAIL, "123456")


def test_other_refusals_are_not_swallowed(stubbed: tuple[CognitoIdentityProvider, Stubber]) -> None:
    identity, stubber = stubbed
    _refuse(stubber, "TooManyRequestsException", "Rate exceeded")
    with pytest.raises(RateLimited):
        identity.confirm_email(EMAIL, "123456")
    _refuse(stubber, "NotAuthorizedException", "User is disabled.")
    with pytest.raises(NotAllowed):
        identity.confirm_email(EMAIL, "123456")
