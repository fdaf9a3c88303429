"""The DynamoDB tables, declared once.

CDK (stacks/data_stack.py) builds the real tables from these specs and the local cloud
(local/resources.py) creates the same tables in moto, so the two can never drift apart.
Plain dataclasses only: importing this module costs nothing at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

KeyType = Literal["S", "N"]


@dataclass(frozen=True)
class Key:
    name: str
    type: KeyType = "S"


@dataclass(frozen=True)
class Index:
    name: str
    partition: Key
    sort: Key | None = None


@dataclass(frozen=True)
class TableSpec:
    """One table: its logical id (also the settings field and env var suffix) and its keys."""

    logical_id: str
    partition: Key
    sort: Key | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None
    stream: bool = False

    @property
    def env_var(self) -> str:
        return f"TABLE_{self.logical_id.upper()}"

    def default_name(self, stage: str) -> str:
        return f"driveway-hub-{stage}-{self.logical_id.replace('_', '-')}"


TABLES: tuple[TableSpec, ...] = (
    # User profiles (Cognito owns identity and passwords), with the "revoked before" logout timestamp.
    TableSpec("users", Key("user_id"), indexes=(Index("by_email", Key("email")),)),
    TableSpec(
        "driveways",
        Key("driveway_id"),
        indexes=(
            Index("by_host", Key("host_id"), Key("created_at")),
            # Coarse H3 ancestor as partition, fine H3 cell (as a number) as sort key: a radius search is
            # a handful of sort-key ranges. See docs/decisions.md.
            Index("by_geo", Key("geo_parent", "N"), Key("geo_cell", "N")),
        ),
    ),
    TableSpec(
        "bookings",
        Key("booking_id"),
        indexes=(
            Index("by_driver", Key("driver_id"), Key("created_at")),
            Index("by_host", Key("host_id"), Key("created_at")),
            Index("by_driveway", Key("driveway_id"), Key("start_at")),
            Index("by_vin", Key("vin"), Key("start_at")),
        ),
    ),
    # One item per driveway holding its live booking intervals and a version: the single place where
    # "no double booking" is decided, with a conditional write (see data/bookings.py).
    TableSpec("calendars", Key("driveway_id")),
    # Every status change of a booking: who, when, why.
    TableSpec("booking_history", Key("booking_id"), Key("seq", "N")),
    TableSpec(
        "payments", Key("booking_id"), Key("payment_id"), indexes=(Index("by_user", Key("user_id"), Key("created_at")),)
    ),
    TableSpec("vehicles", Key("user_id"), Key("vehicle_id"), indexes=(Index("by_vin", Key("vin")),)),
    TableSpec("tesla_accounts", Key("user_id")),
    TableSpec(
        "connections", Key("connection_id"), indexes=(Index("by_user", Key("user_id")),), ttl_attribute="expires_at"
    ),
    TableSpec("subscriptions", Key("booking_id"), Key("connection_id"), ttl_attribute="expires_at"),
    TableSpec("webhook_events", Key("event_id"), ttl_attribute="expires_at"),
    # Powertools idempotency records (its default attribute names).
    TableSpec("idempotency", Key("id"), ttl_attribute="expiration"),
    TableSpec("positions", Key("vin"), Key("at"), ttl_attribute="expires_at"),
)

TABLES_BY_ID: dict[str, TableSpec] = {t.logical_id: t for t in TABLES}
