"""User profiles in the ``users`` table, keyed by Cognito ``sub``, with the ``by_email`` index.

Cognito owns identities and passwords; this table holds the profile the app needs (name, roles,
``tesla_linked``), the logout timestamp the authorizer checks (``revoked_before``) and the failed
sign-in counter behind the brute-force limit.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from driveway_hub.auth.accounts import UserProfile
from driveway_hub.auth.permissions import Role, known_roles
from driveway_hub.data.base import TableModel
from driveway_hub.errors import Conflict, NotFound

_CONDITION_FAILED = "ConditionalCheckFailedException"


class UsersByEmail(GlobalSecondaryIndex["UserRecord"]):
    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    email = UnicodeAttribute(hash_key=True)


class UserRecord(TableModel):
    logical_id = "users"

    user_id = UnicodeAttribute(hash_key=True)
    # Absent once the account is erased (the index is sparse: erased profiles leave it).
    email = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    # Ordered: the first is the role picked at registration.
    roles = ListAttribute(of=UnicodeAttribute, default=list)
    tesla_linked = BooleanAttribute(default=False)
    status = UnicodeAttribute(default="active")
    created_at = UnicodeAttribute()
    revoked_before = NumberAttribute(null=True)
    failed_login_count = NumberAttribute(null=True)
    failed_login_window_start = NumberAttribute(null=True)
    deleted_at = UnicodeAttribute(null=True)

    by_email = UsersByEmail()

    def to_profile(self) -> UserProfile:
        return UserProfile(
            user_id=self.user_id,
            email=self.email,
            name=self.name,
            roles=known_roles(str(role) for role in self.roles or []),
            created_at=self.created_at,
            tesla_linked=bool(self.tesla_linked),
            status="deleted" if self.status == "deleted" else "active",
            revoked_before=_int_or_none(self.revoked_before),
            failed_login_count=int(self.failed_login_count or 0),
            failed_login_window_start=_int_or_none(self.failed_login_window_start),
            deleted_at=self.deleted_at,
        )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _condition_failed(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == _CONDITION_FAILED


class DynamoUserRepository:
    """``UserRepository`` on DynamoDB. Call ``bind_models(settings)`` before using it."""

    def get(self, user_id: str) -> UserProfile | None:
        try:
            # Strongly consistent: a logout must be seen by the very next authorization.
            return UserRecord.get(user_id, consistent_read=True).to_profile()
        except DoesNotExist:
            return None

    def find_by_email(self, email: str) -> UserProfile | None:
        for record in UserRecord.by_email.query(email, limit=1):
            return record.to_profile()
        return None

    def create(self, profile: UserProfile) -> None:
        record = UserRecord(
            profile.user_id,
            email=profile.email,
            name=profile.name,
            roles=list(profile.roles),
            tesla_linked=profile.tesla_linked,
            status=profile.status,
            created_at=profile.created_at,
        )
        try:
            record.save(condition=UserRecord.user_id.does_not_exist())
        except PutError as exc:
            if _condition_failed(exc):
                raise Conflict("A profile already exists for this user.") from exc
            raise

    def add_role(self, user_id: str, role: Role) -> UserProfile:
        record = UserRecord(user_id)
        try:
            record.update(
                actions=[UserRecord.roles.set(UserRecord.roles.append([role]))],
                condition=UserRecord.user_id.exists() & ~UserRecord.roles.contains(role),
            )
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise
            # Either the role is already there (a concurrent add) or the profile is gone.
            current = self.get(user_id)
            if current is None:
                raise NotFound("No such account.") from exc
            return current
        return record.to_profile()

    def revoke_tokens_before(self, user_id: str, second: int) -> None:
        try:
            UserRecord(user_id).update(
                actions=[UserRecord.revoked_before.set(second)],
                condition=UserRecord.user_id.exists()
                & (UserRecord.revoked_before.does_not_exist() | (UserRecord.revoked_before < second)),
            )
        except UpdateError as exc:
            # Already revoked at or after this second (or no such profile): nothing to move.
            if not _condition_failed(exc):
                raise

    def record_failed_login(self, user_id: str, now_second: int, window_seconds: int) -> int:
        record = UserRecord(user_id)
        try:
            # Inside the current window: an atomic increment, so concurrent guesses all count.
            record.update(
                actions=[UserRecord.failed_login_count.add(1)],
                condition=UserRecord.user_id.exists()
                & (UserRecord.failed_login_window_start > now_second - window_seconds),
            )
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise
            # No window yet or it ended: open a new one with this failure.
            record.update(
                actions=[UserRecord.failed_login_count.set(1), UserRecord.failed_login_window_start.set(now_second)],
                condition=UserRecord.user_id.exists(),
            )
        return int(record.failed_login_count or 0)

    def clear_failed_logins(self, user_id: str) -> None:
        self._update_existing(
            user_id, [UserRecord.failed_login_count.remove(), UserRecord.failed_login_window_start.remove()]
        )

    def set_tesla_linked(self, user_id: str, linked: bool) -> None:
        """For the Tesla integration: the ``tesla_linked`` claim and ``/v1/auth/me`` read this."""
        self._update_existing(user_id, [UserRecord.tesla_linked.set(linked)])

    @staticmethod
    def _update_existing(user_id: str, actions: list[Any]) -> None:
        # UpdateItem creates a missing item; the condition keeps an erased-then-purged profile from
        # coming back as a key-only ghost.
        try:
            UserRecord(user_id).update(actions=actions, condition=UserRecord.user_id.exists())
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise

    def anonymize(self, user_id: str, deleted_at: str, revoked_before: int) -> None:
        try:
            UserRecord(user_id).update(
                actions=[
                    UserRecord.email.remove(),
                    UserRecord.name.remove(),
                    UserRecord.tesla_linked.set(False),
                    UserRecord.status.set("deleted"),
                    UserRecord.deleted_at.set(deleted_at),
                    UserRecord.revoked_before.set(revoked_before),
                    UserRecord.failed_login_count.remove(),
                    UserRecord.failed_login_window_start.remove(),
                ],
                condition=UserRecord.user_id.exists(),
            )
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise
