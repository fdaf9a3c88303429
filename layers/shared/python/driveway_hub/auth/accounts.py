"""Accounts: registration, sign-in with brute-force protection, refresh, logout, roles, password reset.

Plain Python. Collaborators come in as arguments: the identity provider (Cognito), the user profile
repository (DynamoDB), a clock and a sleep. Handlers wire the real ones (``driveway_hub.auth.runtime``);
tests hand in fakes.

Token revocation. Cognito access tokens cannot be revoked, so logout stores ``revoked_before`` on the
profile: the logout second, in epoch seconds, and the authorizer refuses every access token whose ``iat``
is *at or before* it. ``iat`` has one-second resolution, so a token minted later in the logout second
cannot be told apart from one minted earlier: refusing both is the safe choice. The price is that a
sign-in in the same second as a logout would get a dead token, so ``login`` waits for the next second in
that (rare) case. Times here come from the wall clock, like Cognito's ``iat`` (see ``runtime``).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from driveway_hub.auth.errors import InvalidCredentials, TooManyLoginAttempts
from driveway_hub.auth.identity import PASSWORD_POLICY, IdentityProvider, PasswordPolicy, TokenSet
from driveway_hub.auth.permissions import SELF_SERVICE_ROLES, Principal, Role, known_roles, permissions_for
from driveway_hub.errors import DomainError, InvalidInput, NotAllowed, NotFound

Clock = Callable[[], datetime]
ProfileStatus = Literal["active", "deleted"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
# The longest we ever wait for the logout second to pass (a little over one second; more would mean the
# clocks of two Lambda hosts disagree badly, and the login answers with a token that may be refused).
MAX_REVOCATION_WAIT_SECONDS = 2.0


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased (the pool is case-insensitive); InvalidInput if it is not an email."""
    cleaned = email.strip().lower()
    if len(cleaned) > MAX_EMAIL_LENGTH or not _EMAIL.match(cleaned):
        raise InvalidInput("Enter a valid email address.", field="email")
    return cleaned


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Enter a name of 1 to {MAX_NAME_LENGTH} characters.", field="name")
    return cleaned


def epoch_second(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded down: the resolution of a JWT's ``iat``."""
    return math.floor(moment.timestamp())


@dataclass(frozen=True)
class UserProfile:
    """What we hold about a user besides Cognito's identity. ``user_id`` is Cognito's ``sub``."""

    user_id: str
    email: str | None
    name: str | None
    roles: tuple[Role, ...]
    created_at: str
    tesla_linked: bool = False
    status: ProfileStatus = "active"
    revoked_before: int | None = None
    failed_login_count: int = 0
    failed_login_window_start: int | None = None
    deleted_at: str | None = None

    @property
    def primary_role(self) -> Role | None:
        """The role picked at registration."""
        return self.roles[0] if self.roles else None

    @property
    def is_deleted(self) -> bool:
        return self.status == "deleted"

    def token_revoked(self, issued_at: int) -> bool:
        """True for a token issued at or before the last logout second (module docstring)."""
        return self.revoked_before is not None and issued_at <= self.revoked_before

    def export(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "email": self.email,
            "name": self.name,
            "roles": list(self.roles),
            "tesla_linked": self.tesla_linked,
            "status": self.status,
            "created_at": self.created_at,
            "revoked_before": self.revoked_before,
            "failed_login_count": self.failed_login_count,
            "failed_login_window_start": self.failed_login_window_start,
        }


class UserRepository(Protocol):
    """User profiles (``driveway_hub.data.users.DynamoUserRepository`` in production)."""

    def get(self, user_id: str) -> UserProfile | None: ...

    def find_by_email(self, email: str) -> UserProfile | None: ...

    def create(self, profile: UserProfile) -> None: ...

    def add_role(self, user_id: str, role: Role) -> UserProfile: ...

    def revoke_tokens_before(self, user_id: str, second: int) -> None:
        """Set ``revoked_before`` to ``second`` unless it is already later (it never moves back)."""

    def record_failed_login(self, user_id: str, now_second: int, window_seconds: int) -> int:
        """Count one failure in the current window (a new window if the last one ended); return the count."""

    def clear_failed_logins(self, user_id: str) -> None: ...

    def anonymize(self, user_id: str, deleted_at: str, revoked_before: int) -> None:
        """Remove the personal fields, mark the profile deleted and refuse every existing token."""


@dataclass(frozen=True)
class LoginThrottle:
    """At most ``max_failures`` failed sign-ins per account per ``window_seconds``; then 429 until the
    window ends, even with the right password (an online guesser gets 5 tries per 15 minutes)."""

    max_failures: int = 5
    window_seconds: int = 15 * 60

    def retry_after(self, profile: UserProfile, now_second: int) -> int | None:
        start = profile.failed_login_window_start
        if start is None or profile.failed_login_count < self.max_failures:
            return None
        remaining = start + self.window_seconds - now_second
        return remaining if remaining > 0 else None


@dataclass(frozen=True)
class RegisteredAccount:
    user_id: str
    email: str
    role: Role
    email_verification_required: bool

    def as_response(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "email": self.email,
            "role": self.role,
            "roles": [self.role],
            "email_verification_required": self.email_verification_required,
        }


def account_view(profile: UserProfile) -> dict[str, Any]:
    """The contract's ``/v1/auth/me`` answer."""
    return {
        "user_id": profile.user_id,
        "email": profile.email,
        "name": profile.name,
        "role": profile.primary_role,
        "roles": list(profile.roles),
        "permissions": sorted(permissions_for(profile.roles)),
        "tesla_linked": profile.tesla_linked,
    }


@dataclass
class AccountService:
    identity: IdentityProvider
    users: UserRepository
    clock: Clock
    auto_confirm: bool
    sleep: Callable[[float], None] = time.sleep
    password_policy: PasswordPolicy = PASSWORD_POLICY
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)

    # ---- registration ------------------------------------------------------------------------------
    def register(self, email: str, password: str, name: str, role: str) -> RegisteredAccount:
        email, name = normalize_email(email), clean_name(name)
        chosen = self._self_service_role(role)
        self.password_policy.check(password)
        signed_up = self.identity.sign_up(email, password, name)
        try:
            confirmed = signed_up.confirmed
            if self.auto_confirm and not confirmed:
                self.identity.confirm_sign_up(signed_up.user_id)
                confirmed = True
            self.identity.add_to_group(signed_up.user_id, chosen)
            self.users.create(UserProfile(
                user_id=signed_up.user_id, email=email, name=name, roles=(chosen,),
                created_at=self.clock().isoformat(),
            ))
        except Exception:
            # Undo the sign-up: an identity without a profile would hold the email hostage (409 on every
            # new attempt, and tokens our authorizer refuses).
            with contextlib.suppress(DomainError):
                self.identity.delete_user(signed_up.user_id)
            raise
        return RegisteredAccount(signed_up.user_id, email, chosen, email_verification_required=not confirmed)

    @staticmethod
    def _self_service_role(role: str) -> Role:
        chosen = known_roles([role])
        if not chosen or chosen[0] not in SELF_SERVICE_ROLES:
            raise InvalidInput(f"role must be one of: {', '.join(SELF_SERVICE_ROLES)}.", field="role")
        return chosen[0]

    # ---- sign-in -----------------------------------------------------------------------------------
    def login(self, email: str, password: str) -> TokenSet:
        email = normalize_email(email)
        profile = self.users.find_by_email(email)
        if profile is not None:
            wait = self.login_throttle.retry_after(profile, epoch_second(self.clock()))
            if wait is not None:
                raise TooManyLoginAttempts(retry_after_seconds=wait)
            self._wait_past_revocation(profile)
        try:
            tokens = self.identity.authenticate(email, password)
        except InvalidCredentials:
            if profile is not None:
                self.users.record_failed_login(
                    profile.user_id, epoch_second(self.clock()), self.login_throttle.window_seconds
                )
            raise
        if profile is not None and profile.failed_login_count:
            self.users.clear_failed_logins(profile.user_id)
        return tokens

    def _wait_past_revocation(self, profile: UserProfile) -> None:
        # A token minted in the logout second would be refused (module docstring): let that second pass.
        if profile.revoked_before is None:
            return
        remaining = profile.revoked_before + 1 - self.clock().timestamp()
        if remaining > 0:
            self.sleep(min(remaining, MAX_REVOCATION_WAIT_SECONDS))

    def refresh(self, refresh_token: str) -> TokenSet:
        return self.identity.refresh(refresh_token)

    def logout(self, principal: Principal) -> None:
        profile = self._profile(principal)
        # Our refusal first: it takes effect even if Cognito is unreachable for the second step.
        self.users.revoke_tokens_before(profile.user_id, epoch_second(self.clock()))
        if profile.email:
            self.identity.sign_out_everywhere(profile.email)

    # ---- the caller's account ----------------------------------------------------------------------
    def me(self, principal: Principal) -> dict[str, Any]:
        return account_view(self._profile(principal))

    def add_role(self, principal: Principal, role: str) -> dict[str, Any]:
        if role == "admin":
            raise NotAllowed("The admin role is granted by operators only.")
        chosen = self._self_service_role(role)
        profile = self._profile(principal)
        if chosen in profile.roles:
            return account_view(profile)  # idempotent: adding a role twice is not an error
        # Cognito first: a failure there leaves the profile (which the authorizer trusts) unchanged.
        self.identity.add_to_group(profile.user_id, chosen)
        return account_view(self.users.add_role(profile.user_id, chosen))

    def _profile(self, principal: Principal) -> UserProfile:
        profile = self.users.get(principal.user_id)
        if profile is None or profile.is_deleted:
            raise NotFound("No such account.")
        return profile

    # ---- email confirmation (stages without auto-confirm: the code Cognito emails at sign-up) ----------
    def confirm_email(self, email: str, code: str) -> None:
        self.identity.confirm_email(normalize_email(email), code)

    # ---- password reset ----------------------------------------------------------------------------
    def forgot_password(self, email: str) -> None:
        self.identity.send_password_reset_code(normalize_email(email))

    def reset_password(self, email: str, code: str, new_password: str) -> None:
        email = normalize_email(email)
        self.password_policy.check(new_password)
        self.identity.reset_password(email, code, new_password)
        profile = self.users.find_by_email(email)
        if profile is None:
            return
        # Whoever knew the old password is signed out everywhere, and the lockout no longer applies.
        self.users.revoke_tokens_before(profile.user_id, epoch_second(self.clock()))
        self.identity.sign_out_everywhere(email)
        if profile.failed_login_count:
            self.users.clear_failed_logins(profile.user_id)

