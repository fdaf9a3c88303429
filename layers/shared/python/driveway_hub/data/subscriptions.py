"""Live-update subscriptions: which WebSocket connections declared interest in which booking.

One item per (booking, connection), so a booking's subscribers are one Query on the partition key and
subscribing twice on one connection is an idempotent overwrite. An item expires with the connection it
belongs to (``CONNECTION_TTL``): API Gateway closes a socket after 2 h at most, and ``$disconnect`` is
best effort, so the TTL is what guarantees nothing outlives its socket. DynamoDB deletes expired items
lazily (up to ~48 h late), hence readers also filter on ``expires_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from driveway_hub.data.base import TableModel
from driveway_hub.data.connections import CONNECTION_TTL


class Subscription(TableModel):
    logical_id = "subscriptions"

    booking_id = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)
    # Who subscribed: the ownership check was made for this user, and erasure can find their items.
    user_id = UnicodeAttribute()
    subscribed_at = UnicodeAttribute()
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class Subscriber:
    connection_id: str
    user_id: str


class SubscriptionRepository:
    def save(self, booking_id: str, connection_id: str, user_id: str, now: datetime) -> int:
        """Record (or renew) the subscription; returns its expiry in epoch seconds."""
        expires_at = int((now + CONNECTION_TTL).timestamp())
        Subscription(booking_id, connection_id, user_id=user_id, subscribed_at=now.isoformat(),
                     expires_at=expires_at).save()
        return expires_at

    def for_booking(self, booking_id: str, now: datetime) -> list[Subscriber]:
        """The booking's live subscribers (expired items still awaiting TTL deletion are skipped)."""
        cutoff = int(now.timestamp())
        return [Subscriber(s.connection_id, s.user_id) for s in Subscription.query(booking_id, consistent_read=True)
                if int(s.expires_at) > cutoff]

    def delete(self, booking_id: str, connection_id: str) -> None:
        Subscription(booking_id, connection_id).delete()
