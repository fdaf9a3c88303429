"""The identity provider port, its Cognito adapter, and the user pool's configuration.

Cognito holds identities and passwords (we never store or hash one). The domain talks to the
``IdentityProvider`` protocol; ``CognitoIdentityProvider`` maps Cognito's answers and errors onto
domain results and errors. The pool settings below are shared by CDK and the local cloud
(``local/cognito.py``) so the two pools behave alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from driveway_hub.auth.errors import (
    EmailNotVerified,
    EmailTaken,
    InvalidConfirmationCode,
    InvalidCredentials,
    InvalidResetCode,
    InvalidToken,
    TooManyLoginAttempts,
    WeakPassword,
)
from driveway_hub.auth.permissions import ROLES
from driveway_hub.errors import InvalidInput, NotAllowed, NotAuthenticated, RateLimited, UpstreamUnavailable
from driveway_hub.observability import logger

# ---------------------------------------------------------------------------------- pool settings

USER_POOL_GROUPS = ROLES
ACCESS_TOKEN_VALIDITY_MINUTES = 60
ID_TOKEN_VALIDITY_MINUTES = 60
REFRESH_TOKEN_VALIDITY_DAYS = 30
# Stages where sign-up is confirmed by the backend (no email round trip). Elsewhere Cognito emails a code.
AUTO_CONFIRM_STAGES = frozenset({"local", "dev"})
# Stages where a password-reset code the identity provider hands back may be logged for developers.
# Only the local cloud's moto hands one back; real Cognito emails it.
LOG_RESET_CODE_STAGES = frozenset({"local", "dev"})

# Cognito actions each function's role needs on the user pool (least privilege for CDK). SignUp,
# InitiateAuth, ForgotPassword and ConfirmForgotPassword are public Cognito APIs and need none.
COGNITO_ACTIONS_BY_ROUTE: Mapping[str, tuple[str, ...]] = {
    "auth_register": ("cognito-idp:AdminConfirmSignUp", "cognito-idp:AdminUpdateUserAttributes",
                      "cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminDeleteUser"),
    "auth_logout": ("cognito-idp:AdminUserGlobalSignOut",),
    "auth_add_role": ("cognito-idp:AdminAddUserToGroup",),
    "auth_reset_password": ("cognito-idp:AdminUserGlobalSignOut",),
    "me_export": ("cognito-idp:AdminGetUser",),
    "me_delete": ("cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminDeleteUser"),
}


@dataclass(frozen=True)
class PasswordPolicy:
    """The user pool's password policy.

    Cognito enforces it; we also check it first, because moto (the local cloud) answers every
    violation with the same generic message while Cognito names the rule broken. ``violation`` uses
    Cognito's own wording so both clouds give the same reason.
    """

    min_length: int = 12
    require_lowercase: bool = True
    require_uppercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = False
    max_length: int = 256  # Cognito's hard limit

    def violation(self, password: str) -> str | None:
        if len(password) < self.min_length:
            return "Password did not conform with policy: Password not long enough"
        if len(password) > self.max_length:
            return "Password did not conform with policy: Password too long"
        if self.require_uppercase and not re.search(r"[A-Z]", password):
            return "Password did not conform with policy: Password must have uppercase characters"
        if self.require_lowercase and not re.search(r"[a-z]", password):
            return "Password did not conform with policy: Password must have lowercase characters"
        if self.require_numbers and not re.search(r"[0-9]", password):
            return "Password did not conform with policy: Password must have numeric characters"
        if self.require_symbols and not re.search(r"[^A-Za-z0-9]", password):
            return "Password did not conform with policy: Password must have symbol characters"
        return None

    def check(self, password: str) -> None:
        reason = self.violation(password)
        if reason is not None:
            raise WeakPassword(reason)

    def as_cognito_policy(self) -> dict[str, Any]:
        """``Policies.PasswordPolicy`` for CreateUserPool (CDK's PasswordPolicy takes the same values)."""
        return {
            "MinimumLength": self.min_length,
            "RequireUppercase": self.require_uppercase,
            "RequireLowercase": self.require_lowercase,
            "RequireNumbers": self.require_numbers,
            "RequireSymbols": self.require_symbols,
            "TemporaryPasswordValidityDays": 7,
        }


# Length first: NIST 800-63B favours length; three character classes keep Cognito's defaults familiar.
PASSWORD_POLICY = PasswordPolicy()


# Answers that carry tokens must never be stored by a browser or proxy (RFC 6749 section 5.1).
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# ------------------------------------------------------------------------------------------- port


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    id_token: str
    expires_in: int
    refresh_token: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret

    def as_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "id_token": self.id_token,
            "expires_in": self.expires_in,
            "token_type": self.token_type,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass(frozen=True)
class SignUp:
    user_id: str
    confirmed: bool


class IdentityProvider(Protocol):
    """What the account and privacy services need from the identity provider."""

    def sign_up(self, email: str, password: str, name: str) -> SignUp: ...

    def confirm_sign_up(self, user_id: str) -> None:
        """Confirm without the email round trip and mark the email verified (auto-confirm stages)."""

    def add_to_group(self, user_id: str, group: str) -> None: ...

    def authenticate(self, email: str, password: str) -> TokenSet: ...

    def refresh(self, refresh_token: str) -> TokenSet: ...

    def sign_out_everywhere(self, email: str) -> None:
        """Revoke every refresh token of the user (idempotent; an unknown user is not an error)."""

    def send_password_reset_code(self, email: str) -> None:
        """Start a reset; silent for an unknown email so the answer reveals nothing."""

    def reset_password(self, email: str, code: str, new_password: str) -> None: ...

    def confirm_email(self, email: str, code: str) -> None:
        """Confirm a sign-up with the emailed code; an account already confirmed is not an error."""

    def delete_user(self, user_id: str) -> None:
        """Delete the identity (idempotent)."""

    def describe_user(self, user_id: str) -> dict[str, Any] | None:
        """What the provider holds about the user (for export), or None."""


# ---------------------------------------------------------------------------------------- adapter


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")).strip()


_THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"})
# UserLambdaValidationException: our pre-token-generation trigger failed (e.g. a DynamoDB blip); the
# caller did nothing wrong and may retry.
_UNAVAILABLE = frozenset({"InternalErrorException", "ServiceUnavailable", "InternalServerError",
                          "CodeDeliveryFailureException", "UserLambdaValidationException"})


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


class CognitoIdentityProvider:
    """``IdentityProvider`` on a Cognito user pool whose username attribute is the email.

    ``cognito`` is a boto3 ``cognito-idp`` client. Errors this class does not recognise are re-raised
    unchanged: they are our faults (configuration, permissions), not the caller's.
    """

    def __init__(self, cognito: Any, user_pool_id: str, client_id: str, *, log_reset_codes: bool = False):
        self._cognito = cognito
        self._pool = user_pool_id
        self._client = client_id
        self._log_reset_codes = log_reset_codes

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._cognito, operation)(**params)
        except BotoCoreError as exc:  # no answer at all: connection refused, timeout
            raise UpstreamUnavailable("The identity provider is unreachable; try again shortly.") from exc
        return answer

    def _translate(self, exc: ClientError) -> Exception:
        code = _error_code(exc)
        if code in _THROTTLED:
            return RateLimited("The identity provider is throttling requests; try again shortly.")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _UNAVAILABLE or status >= 500:
            return UpstreamUnavailable("The identity provider is unavailable; try again shortly.")
        return exc

    def sign_up(self, email: str, password: str, name: str) -> SignUp:
        try:
            answer = self._call(
                "sign_up",
                ClientId=self._client, Username=email, Password=password,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": name}],
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code in {"UsernameExistsException", "AliasExistsException"}:
                raise EmailTaken("An account with this email already exists.") from exc
            if code == "InvalidPasswordException":
                raise WeakPassword(_error_message(exc) or "The password does not meet the policy.") from exc
            if code == "InvalidParameterException":
                raise InvalidInput(_error_message(exc) or "Invalid sign-up details.") from exc
            raise self._translate(exc) from exc
        return SignUp(user_id=answer["UserSub"], confirmed=bool(answer.get("UserConfirmed")))

    def confirm_sign_up(self, user_id: str) -> None:
        try:
            self._call("admin_confirm_sign_up", UserPoolId=self._pool, Username=user_id)
            # Without a verified email Cognito refuses ForgotPassword, so auto-confirmed users could never
            # reset their password.
            self._call(
                "admin_update_user_attributes",
                UserPoolId=self._pool, Username=user_id,
                UserAttributes=[{"Name": "email_verified", "Value": "true"}],
            )
        except ClientError as exc:
            raise self._translate(exc) from exc

    def add_to_group(self, user_id: str, group: str) -> None:
        try:
            self._call("admin_add_user_to_group", UserPoolId=self._pool, Username=user_id, GroupName=group)
        except ClientError as exc:
            raise self._translate(exc) from exc

    def authenticate(self, email: str, password: str) -> TokenSet:
        try:
            answer = self._call(
                "initiate_auth",
                ClientId=self._client, AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code == "NotAuthorizedException" and "attempts exceeded" in _error_message(exc).lower():
                # Cognito's own lockout; its back-off is not disclosed, a minute is a fair hint.
                raise TooManyLoginAttempts(retry_after_seconds=60) from exc
            if code in {"NotAuthorizedException", "UserNotFoundException"}:
                raise InvalidCredentials("Incorrect email or password.") from exc
            if code == "UserNotConfirmedException":
                raise EmailNotVerified("Confirm your email address before signing in.") from exc
            if code == "PasswordResetRequiredException":
                raise NotAuthenticated("A password reset is required.", code="password_reset_required") from exc
            raise self._translate(exc) from exc
        return self._tokens(answer)

    def refresh(self, refresh_token: str) -> TokenSet:
        try:
            answer = self._call(
                "initiate_auth",
                ClientId=self._client, AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except ClientError as exc:
            if _error_code(exc) in {"NotAuthorizedException", "UserNotFoundException", "ResourceNotFoundException"}:
                raise InvalidToken("The refresh token is invalid, expired or revoked.") from exc
            raise self._translate(exc) from exc
        return self._tokens(answer)

    @staticmethod
    def _tokens(answer: Mapping[str, Any]) -> TokenSet:
        result = answer.get("AuthenticationResult")
        if not result:
            # A challenge (MFA, new password): none is configured on our pool, so this is unexpected.
            raise NotAuthenticated("An additional sign-in step is required.", code="challenge_required")
        return TokenSet(
            access_token=result["AccessToken"],
            id_token=result["IdToken"],
            expires_in=int(result["ExpiresIn"]),
            refresh_token=result.get("RefreshToken"),
            token_type=result.get("TokenType", "Bearer"),
        )

    def sign_out_everywhere(self, email: str) -> None:
        # By email rather than sub: Cognito accepts either (email is the username attribute), and moto
        # only revokes refresh tokens recorded under the name used at sign-in, which is the email.
        try:
            self._call("admin_user_global_sign_out", UserPoolId=self._pool, Username=email)
        except ClientError as exc:
            if _error_code(exc) == "UserNotFoundException":
                return
            raise self._translate(exc) from exc

    def send_password_reset_code(self, email: str) -> None:
        try:
            answer = self._call("forgot_password", ClientId=self._client, Username=email)
        except ClientError as exc:
            code = _error_code(exc)
            if code in {"UserNotFoundException", "InvalidParameterException", "NotAuthorizedException"}:
                # Unknown or unverified email: say nothing different, so the endpoint cannot be used to
                # find out who has an account.
                logger.info("password reset not started", extra={"reason": code})
                return
            raise self._translate(exc) from exc
        headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        code_sent = headers.get("x-moto-forgot-password-confirmation-code")
        if code_sent and self._log_reset_codes:
            # The local cloud's "mail": moto hands the code back in a header instead of emailing it.
            logger.warning("password reset code (local cloud only)",
                           extra={"email": _mask_email(email), "reset_code": code_sent})

    def reset_password(self, email: str, code: str, new_password: str) -> None:
        try:
            self._call(
                "confirm_forgot_password",
                ClientId=self._client, Username=email, ConfirmationCode=code, Password=new_password
            )
        except ClientError as exc:
            error = _error_code(exc)
            if error in {"CodeMismatchException", "ExpiredCodeException", "UserNotFoundException",
                         "ResourceNotFoundException"}:
                raise InvalidResetCode() from exc
            if error == "InvalidPasswordException":
                raise WeakPassword(_error_message(exc) or "The password does not meet the policy.") from exc
            raise self._translate(exc) from exc

    def confirm_email(self, email: str, code: str) -> None:
        try:
            self._call("confirm_sign_up", ClientId=self._client, Username=email, ConfirmationCode=code)
        except ClientError as exc:
            error = _error_code(exc)
            if error == "NotAuthorizedException" and "CONFIRMED" in (_error_message(exc) or "").upper():
                return  # "User cannot be confirmed. Current status is CONFIRMED": a repeated confirm
            if error in {"CodeMismatchException", "ExpiredCodeException", "UserNotFoundException"}:
                raise InvalidConfirmationCode() from exc
            if error == "NotAuthorizedException":  # e.g. a disabled account
                raise NotAllowed("This account cannot be confirmed.") from exc
            raise self._translate(exc) from exc

    def delete_user(self, user_id: str) -> None:
        try:
            self._call("admin_delete_user", UserPoolId=self._pool, Username=user_id)
        except ClientError as exc:
            if _error_code(exc) == "UserNotFoundException":
                return
            raise self._translate(exc) from exc

    def describe_user(self, user_id: str) -> dict[str, Any] | None:
        try:
            answer = self._call("admin_get_user", UserPoolId=self._pool, Username=user_id)
        except ClientError as exc:
            if _error_code(exc) == "UserNotFoundException":
                return None
            raise self._translate(exc) from exc
        created = answer.get("UserCreateDate")
        return {
            "attributes": {a["Name"]: a["Value"] for a in answer.get("UserAttributes", [])},
            "status": answer.get("UserStatus"),
            "enabled": answer.get("Enabled"),
            "created_at": created.isoformat() if isinstance(created, datetime) else created,
        }
