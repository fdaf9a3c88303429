"""Account and privacy services with in-memory fakes for the identity provider and the profile store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driveway_hub.auth.accounts import AccountService, LoginThrottle, UserProfile, epoch_second
from driveway_hub.auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidResetCode,
    TooManyLoginAttempts,
    WeakPassword,
)
from driveway_hub.auth.identity import PASSWORD_POLICY, SignUp, TokenSet
from driveway_hub.auth.permissions import Principal, Role
from driveway_hub.auth.privacy import RETENTION_RULES, PrivacyService
from driveway_hub.data.tables import TABLES
from driveway_hub.errors import InvalidInput, NotAllowed, NotFound, UpstreamUnavailable

DOCS = Path(__file__).resolve().parents[2] / "docs"
GOOD_PASSWORD = "Correct-Horse-42"


@dataclass
class FakeIdentity:
    """An in-memory Cognito: users by email, with a call log."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)
    issued: int = 0

    def _maybe_fail(self, operation: str) -> None:
        if operation in self.fail_on:
            raise UpstreamUnavailable(f"{operation} failed")

    def _by_id(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self.users.values() if u["sub"] == user_id), None)

    def sign_up(self, email: str, password: str, name: str) -> SignUp:
        self.calls.append(("sign_up", email))
        if email in self.users:
            raise EmailTaken("taken")
        self.users[email] = {"sub": f"sub-{len(self.users) + 1}", "password": password, "name": name,
                             "confirmed": False, "groups": set(), "signed_out": 0}
        return SignUp(self.users[email]["sub"], confirmed=False)

    def confirm_sign_up(self, user_id: str) -> None:
        self.calls.append(("confirm_sign_up", user_id))
        user = self._by_id(user_id)
        assert user is not None
        user["confirmed"] = True

    def add_to_group(self, user_id: str, group: str) -> None:
        self.calls.append(("add_to_group", group))
        self._maybe_fail("add_to_group")
        user = self._by_id(user_id)
        assert user is not None
        user["groups"].add(group)

    def authenticate(self, email: str, password: str) -> TokenSet:
        self.calls.append(("authenticate", email))
        user = self.users.get(email)
        if user is None or user["password"] != password:
            raise InvalidCredentials("Incorrect email or password.")
        self.issued += 1
        return TokenSet(f"access-{self.issued}", f"id-{self.issued}", 3600, f"refresh-{self.issued}")

    def refresh(self, refresh_token: str) -> TokenSet:
        return TokenSet("access-r", "id-r", 3600)

    def sign_out_everywhere(self, email: str) -> None:
        self.calls.append(("sign_out_everywhere", email))
        self._maybe_fail("sign_out_everywhere")
        if email in self.users:
            self.users[email]["signed_out"] += 1

    def send_password_reset_code(self, email: str) -> None:
        self.calls.append(("send_password_reset_code", email))

    def reset_password(self, email: str, code: str, new_password: str) -> None:
        self.calls.append(("reset_password", email))
        if email not in self.users or code != "123456":
            raise InvalidResetCode()
        self.users[email]["password"] = new_password

    def delete_user(self, user_id: str) -> None:
        self.calls.append(("delete_user", user_id))
        self._maybe_fail("delete_user")
        self.users = {e: u for e, u in self.users.items() if u["sub"] != user_id}

    def describe_user(self, user_id: str) -> dict[str, Any] | None:
        user = self._by_id(user_id)
        return None if user is None else {"attributes": {"sub": user_id, "name": user["name"]}}


@dataclass
class FakeUsers:
    profiles: dict[str, UserProfile] = field(default_factory=dict)
    fail_create: bool = False

    def get(self, user_id: str) -> UserProfile | None:
        return self.profiles.get(user_id)

    def find_by_email(self, email: str) -> UserProfile | None:
        return next((p for p in self.profiles.values() if p.email == email), None)

    def create(self, profile: UserProfile) -> None:
        if self.fail_create:
            raise UpstreamUnavailable("DynamoDB is down")
        self.profiles[profile.user_id] = profile

    def add_role(self, user_id: str, role: Role) -> UserProfile:
        profile = self.profiles[user_id]
        if role not in profile.roles:
            profile = self.profiles[user_id] = replace(profile, roles=(*profile.roles, role))
        return profile

    def revoke_tokens_before(self, user_id: str, second: int) -> None:
        profile = self.profiles[user_id]
        if profile.revoked_before is None or profile.revoked_before < second:
            self.profiles[user_id] = replace(profile, revoked_before=second)

    def record_failed_login(self, user_id: str, now_second: int, window_seconds: int) -> int:
        profile = self.profiles[user_id]
        start = profile.failed_login_window_start
        if start is not None and start > now_second - window_seconds:
            profile = replace(profile, failed_login_count=profile.failed_login_count + 1)
        else:
            profile = replace(profile, failed_login_count=1, failed_login_window_start=now_second)
        self.profiles[user_id] = profile
        return profile.failed_login_count

    def clear_failed_logins(self, user_id: str) -> None:
        self.profiles[user_id] = replace(self.profiles[user_id], failed_login_count=0, failed_login_window_start=None)

    def anonymize(self, user_id: str, deleted_at: str, revoked_before: int) -> None:
        self.profiles[user_id] = replace(self.profiles[user_id], email=None, name=None, status="deleted",
                                         deleted_at=deleted_at, revoked_before=revoked_before)


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 24, 10, 0, 0, 250_000, tzinfo=UTC))


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()


@pytest.fixture
def accounts(identity: FakeIdentity, users: FakeUsers, clock: FakeClock) -> AccountService:
    return AccountService(identity=identity, users=users, clock=clock, sleep=clock.sleep, auto_confirm=True)


def register_driver(accounts: AccountService, email: str = "dana@example.com") -> Principal:
    account = accounts.register(email, GOOD_PASSWORD, "Dana Driver", "driver")
    return Principal.for_roles(account.user_id, [account.role])


# ---- registration -------------------------------------------------------------------------------------


def test_register_confirms_groups_and_writes_the_profile(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers
) -> None:
    account = accounts.register("  Dana@Example.com ", GOOD_PASSWORD, "Dana  Driver", "driver")

    assert account.as_response() == {"user_id": account.user_id, "email": "dana@example.com", "role": "driver",
                                     "roles": ["driver"], "email_verification_required": False}
    assert identity.users["dana@example.com"]["confirmed"] is True
    assert identity.users["dana@example.com"]["groups"] == {"driver"}
    profile = users.profiles[account.user_id]
    assert (profile.email, profile.name, profile.roles, profile.tesla_linked) == (
        "dana@example.com", "Dana Driver", ("driver",), False)
    assert profile.revoked_before is None


def test_register_outside_auto_confirm_stages_leaves_email_verification_to_cognito(
    identity: FakeIdentity, users: FakeUsers, clock: FakeClock
) -> None:
    prod = AccountService(identity=identity, users=users, clock=clock, auto_confirm=False)

    account = prod.register("hank@example.com", GOOD_PASSWORD, "Hank Host", "host")

    assert account.email_verification_required is True
    assert identity.users["hank@example.com"]["confirmed"] is False


def test_register_with_a_taken_email_is_a_conflict(accounts: AccountService, users: FakeUsers) -> None:
    register_driver(accounts)

    with pytest.raises(EmailTaken):
        accounts.register("DANA@example.com", GOOD_PASSWORD, "Other Dana", "host")
    assert len(users.profiles) == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt", "Password not long enough"),
        ("alllowercase-42", "Password must have uppercase characters"),
        ("ALLUPPERCASE-42", "Password must have lowercase characters"),
        ("No-Digits-Here-At-All", "Password must have numeric characters"),
    ],
)
def test_register_with_a_weak_password_names_the_rule_and_calls_no_one(
    accounts: AccountService, identity: FakeIdentity, password: str, reason: str
) -> None:
    with pytest.raises(WeakPassword) as excinfo:
        accounts.register("dana@example.com", password, "Dana", "driver")

    assert reason in excinfo.value.message
    assert excinfo.value.details == [{"field": "password", "message": excinfo.value.message}]
    assert identity.calls == []


def test_register_cannot_pick_admin(accounts: AccountService) -> None:
    with pytest.raises(InvalidInput):
        accounts.register("eve@example.com", GOOD_PASSWORD, "Eve", "admin")


def test_a_failed_registration_deletes_the_identity_it_created(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers
) -> None:
    users.fail_create = True

    with pytest.raises(UpstreamUnavailable):
        register_driver(accounts)

    assert identity.users == {}
    assert identity.calls[-1][0] == "delete_user"


# ---- sign-in and brute force -------------------------------------------------------------------------


def test_login_returns_tokens(accounts: AccountService) -> None:
    register_driver(accounts)

    tokens = accounts.login("dana@example.com", GOOD_PASSWORD)

    assert tokens.as_response()["token_type"] == "Bearer"
    assert tokens.refresh_token


def test_wrong_password_is_401_and_counted(accounts: AccountService, users: FakeUsers) -> None:
    principal = register_driver(accounts)

    with pytest.raises(InvalidCredentials):
        accounts.login("dana@example.com", "Wrong-Password-1")

    assert users.profiles[principal.user_id].failed_login_count == 1


def test_unknown_email_is_the_same_401(accounts: AccountService) -> None:
    with pytest.raises(InvalidCredentials):
        accounts.login("nobody@example.com", GOOD_PASSWORD)


def test_too_many_failures_lock_the_account_for_the_window_even_with_the_right_password(
    accounts: AccountService, clock: FakeClock
) -> None:
    register_driver(accounts)
    throttle = LoginThrottle()
    for _ in range(throttle.max_failures):
        with pytest.raises(InvalidCredentials):
            accounts.login("dana@example.com", "Wrong-Password-1")
        clock.advance(10)

    with pytest.raises(TooManyLoginAttempts) as excinfo:
        accounts.login("dana@example.com", GOOD_PASSWORD)

    assert 0 < excinfo.value.retry_after_seconds <= throttle.window_seconds
    clock.advance(excinfo.value.retry_after_seconds)
    assert accounts.login("dana@example.com", GOOD_PASSWORD).access_token


def test_a_successful_login_clears_the_failure_count(accounts: AccountService, users: FakeUsers) -> None:
    principal = register_driver(accounts)
    with pytest.raises(InvalidCredentials):
        accounts.login("dana@example.com", "Wrong-Password-1")

    accounts.login("dana@example.com", GOOD_PASSWORD)

    assert users.profiles[principal.user_id].failed_login_count == 0


# ---- logout and revocation -----------------------------------------------------------------------------


def test_logout_refuses_tokens_up_to_the_logout_second_and_signs_out_everywhere(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers, clock: FakeClock
) -> None:
    principal = register_driver(accounts)

    accounts.logout(principal)

    profile = users.profiles[principal.user_id]
    assert profile.revoked_before == epoch_second(clock())
    assert profile.token_revoked(epoch_second(clock()))
    assert not profile.token_revoked(epoch_second(clock()) + 1)
    assert identity.users["dana@example.com"]["signed_out"] == 1


def test_login_in_the_logout_second_waits_for_the_next_second(
    accounts: AccountService, clock: FakeClock
) -> None:
    principal = register_driver(accounts)
    accounts.logout(principal)

    accounts.login("dana@example.com", GOOD_PASSWORD)

    assert clock.slept == [pytest.approx(0.75)]  # from .250 to the next whole second
    assert epoch_second(clock()) == epoch_second(clock() - timedelta(seconds=0.75)) + 1


def test_login_a_second_after_logout_does_not_wait(accounts: AccountService, clock: FakeClock) -> None:
    principal = register_driver(accounts)
    accounts.logout(principal)
    clock.advance(1)

    accounts.login("dana@example.com", GOOD_PASSWORD)

    assert clock.slept == []


# ---- the caller's account -----------------------------------------------------------------------------


def test_me_shows_profile_role_and_permissions(accounts: AccountService) -> None:
    principal = register_driver(accounts)

    me = accounts.me(principal)

    assert me["role"] == "driver" and me["roles"] == ["driver"]
    assert "booking:create" in me["permissions"] and "driveway:create" not in me["permissions"]
    assert me["tesla_linked"] is False


def test_a_driver_adds_host_and_holds_both(accounts: AccountService, identity: FakeIdentity) -> None:
    principal = register_driver(accounts)

    me = accounts.add_role(principal, "host")

    assert me["role"] == "driver" and me["roles"] == ["driver", "host"]
    assert {"booking:create", "driveway:create"} <= set(me["permissions"])
    assert identity.users["dana@example.com"]["groups"] == {"driver", "host"}
    assert accounts.add_role(principal, "host")["roles"] == ["driver", "host"]  # idempotent


def test_nobody_makes_themselves_admin(accounts: AccountService) -> None:
    principal = register_driver(accounts)

    with pytest.raises(NotAllowed):
        accounts.add_role(principal, "admin")


# ---- password reset -----------------------------------------------------------------------------------


def test_reset_password_signs_out_everywhere_and_lifts_the_lockout(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers, clock: FakeClock
) -> None:
    principal = register_driver(accounts)
    with pytest.raises(InvalidCredentials):
        accounts.login("dana@example.com", "Wrong-Password-1")

    accounts.reset_password("dana@example.com", "123456", "Battery-Staple-77")

    profile = users.profiles[principal.user_id]
    assert profile.revoked_before == epoch_second(clock())
    assert profile.failed_login_count == 0
    assert identity.users["dana@example.com"]["signed_out"] == 1
    clock.advance(1)
    assert accounts.login("dana@example.com", "Battery-Staple-77").access_token


def test_reset_password_checks_the_policy_before_the_code(accounts: AccountService) -> None:
    register_driver(accounts)

    with pytest.raises(WeakPassword):
        accounts.reset_password("dana@example.com", "123456", "weak")


def test_reset_password_with_a_wrong_code_is_400(accounts: AccountService) -> None:
    register_driver(accounts)

    with pytest.raises(InvalidResetCode):
        accounts.reset_password("dana@example.com", "000000", "Battery-Staple-77")


# ---- privacy -----------------------------------------------------------------------------------------


@dataclass
class FakeStore:
    section: str
    data: dict[str, Any] = field(default_factory=dict)
    erased: list[str] = field(default_factory=list)

    def export(self, user_id: str) -> Any:
        return self.data.get(user_id, [])

    def erase(self, user_id: str, erased_at: datetime) -> None:
        self.erased.append(user_id)
        self.data.pop(user_id, None)


def privacy(identity: FakeIdentity, users: FakeUsers, clock: FakeClock, store: FakeStore) -> PrivacyService:
    return PrivacyService(users=users, identity=identity, stores=[store], clock=clock)


def test_export_holds_profile_identity_and_every_store(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers, clock: FakeClock
) -> None:
    principal = register_driver(accounts)
    store = FakeStore("bookings", {principal.user_id: [{"booking_id": "b1"}]})

    export = privacy(identity, users, clock, store).export(principal)

    assert export["user_id"] == principal.user_id
    assert export["data"]["profile"]["email"] == "dana@example.com"
    assert export["data"]["identity"]["attributes"]["name"] == "Dana Driver"
    assert export["data"]["bookings"] == [{"booking_id": "b1"}]


def test_erase_runs_stores_then_identity_then_anonymizes_the_profile(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers, clock: FakeClock
) -> None:
    principal = register_driver(accounts)
    store = FakeStore("bookings", {principal.user_id: [{"booking_id": "b1"}]})

    outcome = privacy(identity, users, clock, store).erase(principal)

    assert outcome["status"] == "erased" and "payments" in outcome["kept"]
    assert store.erased == [principal.user_id]
    assert [c[0] for c in identity.calls[-2:]] == ["sign_out_everywhere", "delete_user"]
    assert identity.users == {}
    profile = users.profiles[principal.user_id]
    assert (profile.email, profile.name, profile.status) == (None, None, "deleted")
    assert profile.revoked_before == epoch_second(clock())


def test_erase_that_fails_half_way_can_be_retried(
    accounts: AccountService, identity: FakeIdentity, users: FakeUsers, clock: FakeClock
) -> None:
    principal = register_driver(accounts)
    service = privacy(identity, users, clock, FakeStore("bookings"))
    identity.fail_on.add("delete_user")

    with pytest.raises(UpstreamUnavailable):
        service.erase(principal)
    assert users.profiles[principal.user_id].status == "active"  # the token still works for a retry

    identity.fail_on.clear()
    service.erase(principal)
    assert users.profiles[principal.user_id].status == "deleted"
    with pytest.raises(NotFound):
        service.erase(principal)


def test_every_table_has_exactly_one_retention_rule_and_docs_cover_it() -> None:
    ruled = [rule.table for rule in RETENTION_RULES]
    docs = (DOCS / "retention.md").read_text()

    assert sorted(ruled) == sorted(spec.logical_id for spec in TABLES)
    for table in ruled:
        assert re.search(rf"`{table}`", docs), f"docs/retention.md does not mention `{table}`"


def test_password_policy_matches_what_the_pool_is_given() -> None:
    assert PASSWORD_POLICY.as_cognito_policy()["MinimumLength"] == PASSWORD_POLICY.min_length
    assert PASSWORD_POLICY.violation(GOOD_PASSWORD) is None
