"""Identity errors: each is a domain error with its own stable code, so ``driveway_hub.http`` maps it
through the class it extends (409, 400, 401, 403, 429) with no extra mapping."""

from __future__ import annotations

from driveway_hub.errors import Conflict, InvalidInput, NotAllowed, NotAuthenticated, RateLimited


class EmailTaken(Conflict):
    code = "email_taken"


class WeakPassword(InvalidInput):
    """The password breaks the pool's policy; the message says which rule (Cognito's reason)."""

    def __init__(self, reason: str):
        super().__init__(reason, field="password", code="weak_password")


class InvalidCredentials(NotAuthenticated):
    """Wrong email or password. Deliberately the same answer for an unknown email."""

    code = "invalid_credentials"


class InvalidToken(NotAuthenticated):
    """A bearer or refresh token that is missing, malformed, forged, expired or revoked."""

    code = "unauthorized"


class EmailNotVerified(NotAllowed):
    code = "email_not_verified"


class InvalidResetCode(InvalidInput):
    def __init__(self, message: str = "The reset code is wrong or has expired; request a new one."):
        super().__init__(message, field="code", code="invalid_reset_code")


class InvalidConfirmationCode(InvalidInput):
    def __init__(self, message: str = "The confirmation code is wrong or has expired."):
        super().__init__(message, field="code", code="invalid_confirmation_code")


class TooManyLoginAttempts(RateLimited):
    """Too many failed sign-ins for one account in the window; carries when to try again."""

    code = "too_many_attempts"

    def __init__(self, retry_after_seconds: int):
        super().__init__(
            "Too many failed sign-in attempts. Try again later.",
            details=[{"retry_after_seconds": retry_after_seconds}],
        )
        self.retry_after_seconds = retry_after_seconds
