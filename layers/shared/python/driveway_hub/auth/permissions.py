"""Roles, permissions and the principal a request acts as.

The role -> permission table is the seed's RBAC (architecture.md, Security rules). Every authenticated
route declares one permission in ``driveway_hub.routes``; ``driveway_hub.http`` checks it before the
handler runs. Ownership ("is this booking yours?") is a separate, domain-level check:
``require_owner``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from driveway_hub.errors import NotAllowed, NotAuthenticated, NotOwner

Role = Literal["driver", "host", "admin"]
ROLES: tuple[Role, ...] = ("driver", "host", "admin")
# Roles a user may pick at registration or add to themselves; admin is granted by operators only.
SELF_SERVICE_ROLES: tuple[Role, ...] = ("driver", "host")

BOOKING_CREATE = "booking:create"
BOOKING_VIEW = "booking:view"
BOOKING_CANCEL = "booking:cancel"
VEHICLE_CONTROL = "vehicle:control"
PAYMENT_CREATE = "payment:create"
DRIVEWAY_CREATE = "driveway:create"
DRIVEWAY_MANAGE = "driveway:manage"
PAYOUT_VIEW = "payout:view"
# Every signed-in user may see, export, sign out of and erase their own account, whatever their role.
ACCOUNT_MANAGE = "account:manage"

# The catalogue: a route may only declare a permission listed here (a test checks the route table).
ALL_PERMISSIONS: frozenset[str] = frozenset({
    ACCOUNT_MANAGE, BOOKING_CREATE, BOOKING_VIEW, BOOKING_CANCEL, VEHICLE_CONTROL, PAYMENT_CREATE,
    DRIVEWAY_CREATE, DRIVEWAY_MANAGE, PAYOUT_VIEW,
})

ROLE_PERMISSIONS: Mapping[Role, frozenset[str]] = {
    "driver": frozenset(
        {ACCOUNT_MANAGE, BOOKING_CREATE, BOOKING_VIEW, BOOKING_CANCEL, VEHICLE_CONTROL, PAYMENT_CREATE}
    ),
    "host": frozenset({ACCOUNT_MANAGE, DRIVEWAY_CREATE, DRIVEWAY_MANAGE, BOOKING_VIEW, PAYOUT_VIEW}),
    # Admin holds the whole catalogue, so a permission added later reaches admins without an edit here.
    "admin": ALL_PERMISSIONS,
}


def known_roles(names: Iterable[str]) -> tuple[Role, ...]:
    """The recognised roles among ``names``, in their given order, without duplicates."""
    seen: list[Role] = []
    for name in names:
        for role in ROLES:
            if name == role and role not in seen:
                seen.append(role)
    return tuple(seen)


def permissions_for(roles: Iterable[str]) -> frozenset[str]:
    """The union of the roles' permissions; unknown role names grant nothing."""
    granted: set[str] = set()
    for role in known_roles(roles):
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the Cognito ``sub`` and what they may do.

    Built by the authorizer from a verified access token and the user's profile; handlers read it back
    from the authorizer context, which API Gateway only lets carry strings, numbers and booleans.
    """

    user_id: str
    roles: tuple[Role, ...]
    permissions: frozenset[str]
    token_issued_at: int = 0

    @classmethod
    def for_roles(cls, user_id: str, roles: Iterable[str], token_issued_at: int = 0) -> Principal:
        checked = known_roles(roles)
        return cls(user_id, checked, permissions_for(checked), token_issued_at)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def to_authorizer_context(self) -> dict[str, str]:
        """The flat context an API Gateway Lambda authorizer may return (strings only, see from_context)."""
        return {
            "user_id": self.user_id,
            "roles": ",".join(self.roles),
            "permissions": " ".join(sorted(self.permissions)),
            "token_issued_at": str(self.token_issued_at),
        }

    @classmethod
    def from_authorizer_context(cls, context: Mapping[str, Any] | None) -> Principal:
        """Read the principal back from ``requestContext.authorizer``; NotAuthenticated if absent."""
        user_id = (context or {}).get("user_id") or (context or {}).get("principalId")
        if not context or not isinstance(user_id, str) or not user_id:
            raise NotAuthenticated("Authentication required.")
        roles = known_roles(str(context.get("roles") or "").split(","))
        permissions = frozenset(str(context.get("permissions") or "").split())
        issued_at = str(context.get("token_issued_at") or "0")
        return cls(user_id, roles, permissions, int(issued_at) if issued_at.isdigit() else 0)


def require_permission(principal: Principal, permission: str) -> None:
    """Raise NotAllowed (403) unless the principal holds ``permission``."""
    if not principal.can(permission):
        raise NotAllowed(f"This needs the {permission} permission.", code="forbidden")


def require_owner(principal: Principal, owner_id: str) -> None:
    """Raise NotOwner (403) unless the principal owns the resource or is an admin.

    Domain services call this after loading a resource (a driveway's host_id, a booking's driver_id),
    so that holding ``booking:view`` never means seeing somebody else's booking.
    """
    if principal.is_admin or principal.user_id == owner_id:
        return
    raise NotOwner("This resource belongs to someone else.")


def custom_claims(roles: Iterable[str], tesla_linked: bool) -> dict[str, Any]:
    """The claims our pre-token-generation trigger adds: ``user_type`` (the first role), ``permissions``
    and ``tesla_linked``. Convenience for clients; the authorizer recomputes permissions from the profile."""
    checked = known_roles(roles)
    return {
        "user_type": checked[0] if checked else "none",
        "permissions": sorted(permissions_for(checked)),
        "tesla_linked": tesla_linked,
    }
