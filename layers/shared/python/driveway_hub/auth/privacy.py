"""The caller's right to a copy of their data (``GET /v1/me/export``) and to erasure (``DELETE /v1/me``).

Each place that holds personal data about a user is a ``PersonalDataStore``: it exports its part and
erases (or anonymizes) it. Later features plug theirs in through ``driveway_hub.auth.runtime
.personal_data_stores`` (bookings: cancel future ones per policy and anonymize; vehicles and Tesla
accounts: delete; positions: delete). ``RETENTION_RULES`` says, for every table, what erasure does to
it and why; docs/retention.md is its long form and a test keeps the two complete.

Erasure order, chosen so a failure half-way can be retried by the same user with the same token:
1. every store erases its part (each idempotent);
2. the identity provider's user is signed out everywhere and deleted (idempotent);
3. last, the profile is anonymized and ``revoked_before`` set, which is what makes the token stop
   working. Until step 3 succeeds, ``DELETE /v1/me`` can simply be called again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from driveway_hub.auth.accounts import UserProfile, UserRepository, epoch_second
from driveway_hub.auth.identity import IdentityProvider
from driveway_hub.auth.permissions import Principal
from driveway_hub.errors import NotFound

RetentionAction = Literal["anonymize", "delete", "keep", "expire", "not_personal"]


@dataclass(frozen=True)
class RetentionRule:
    table: str
    on_erasure: RetentionAction
    why: str


# One rule per table in driveway_hub.data.tables.TABLES (a test checks). Long form: docs/retention.md.
RETENTION_RULES: tuple[RetentionRule, ...] = (
    RetentionRule("users", "anonymize", "Email and name removed; the record stays under the pseudonymous "
                  "Cognito sub so kept payments still resolve and the erased account's tokens stay refused."),
    RetentionRule("driveways", "anonymize", "A host's listings are deactivated and their address and "
                  "photos removed once no kept booking needs them."),
    RetentionRule("bookings", "anonymize", "Future bookings are cancelled per policy; past ones keep times "
                  "and amounts (accounting) under pseudonymous ids, with free text removed."),
    RetentionRule("calendars", "not_personal", "Per-driveway booking intervals keyed by opaque booking "
                  "ids; cancelling a booking removes its interval."),
    RetentionRule("booking_history", "anonymize", "Status changes stay for the booking's audit trail; "
                  "free-text reasons are removed."),
    RetentionRule("payments", "keep", "Payment and refund records are kept for the legal accounting "
                  "period; they hold amounts and Stripe ids, never card data."),
    RetentionRule("vehicles", "delete", "Vehicle names and VINs are deleted."),
    RetentionRule("tesla_accounts", "delete", "Tesla tokens are revoked and deleted."),
    RetentionRule("connections", "delete", "Open WebSocket connections are deleted (they also expire "
                  "after 3 h)."),
    RetentionRule("subscriptions", "delete", "Live-update subscriptions are deleted (they also expire)."),
    RetentionRule("webhook_events", "not_personal", "Only Stripe/Tesla event ids, expiring after 30 days."),
    RetentionRule("idempotency", "expire", "Request fingerprints and cached answers expire by TTL "
                  "within a day."),
    RetentionRule("positions", "delete", "Vehicle positions are deleted at once (otherwise they expire "
                  "after 30 days)."),
)


class PersonalDataStore(Protocol):
    """One place holding personal data about users."""

    @property
    def section(self) -> str:
        """The key of this store's part in the export, e.g. "bookings"."""

    def export(self, user_id: str) -> Any:
        """Everything this store holds about the user, JSON-serialisable."""

    def erase(self, user_id: str, erased_at: datetime) -> None:
        """Delete or anonymize it per RETENTION_RULES; idempotent (erasure may be retried)."""


@dataclass
class PrivacyService:
    users: UserRepository
    identity: IdentityProvider
    stores: Sequence[PersonalDataStore]
    clock: Callable[[], datetime]

    def export(self, principal: Principal) -> dict[str, Any]:
        profile = self._profile(principal)
        data: dict[str, Any] = {
            "profile": profile.export(),
            "identity": self.identity.describe_user(profile.user_id),
        }
        for store in self.stores:
            data[store.section] = store.export(profile.user_id)
        return {"user_id": profile.user_id, "exported_at": self.clock().isoformat(), "data": data}

    def erase(self, principal: Principal) -> dict[str, Any]:
        profile = self._profile(principal)
        now = self.clock()
        for store in self.stores:
            store.erase(profile.user_id, now)
        if profile.email:
            self.identity.sign_out_everywhere(profile.email)
        self.identity.delete_user(profile.user_id)
        self.users.anonymize(profile.user_id, deleted_at=now.isoformat(), revoked_before=epoch_second(now))
        return {
            "user_id": profile.user_id,
            "status": "erased",
            "kept": sorted(rule.table for rule in RETENTION_RULES if rule.on_erasure == "keep"),
        }

    def _profile(self, principal: Principal) -> UserProfile:
        profile = self.users.get(principal.user_id)
        if profile is None or profile.is_deleted:
            raise NotFound("No such account.")
        return profile
