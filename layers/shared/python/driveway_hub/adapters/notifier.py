"""Live events to the driver and host of a booking, over every WebSocket connection they have open.

Events follow the contract: ``{"type", "booking_id", "at", ...}``. A connection that answers 410 Gone is
deleted, unless it was saved within ``CONNECTING_GRACE``: API Gateway answers 410 to a post made while the
socket's ``$connect`` is still completing, and deleting the record then would leave the new socket
without events for its whole life (found by the lifecycle tests: a frame published for an earlier
booking, in that window, silenced the driver's new socket).

Notifying is best effort by design: a failure to notify is logged and never fails the caller (a workflow
step, a webhook), because the booking's state is the source of truth and clients re-read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from driveway_hub.clock import utcnow
from driveway_hub.observability import logger
from driveway_hub.websocket import send

if TYPE_CHECKING:
    from driveway_hub.data.connections import ConnectionRepository


# How long after $connect a 410 is taken for "not established yet" rather than "gone".
CONNECTING_GRACE = timedelta(seconds=60)


class NotifierPort(Protocol):
    def publish(self, user_ids: Iterable[str], event: dict[str, Any]) -> int: ...


def live_event(event_type: str, booking_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "booking_id": booking_id, "at": at.isoformat(), **fields}


class WebSocketNotifier:
    def __init__(self, endpoint: str, connections: ConnectionRepository | None = None):
        self._endpoint = endpoint
        if connections is None:
            # Imported here: modules that only need live_event() do not load PynamoDB at cold start.
            from driveway_hub.data.connections import ConnectionRepository

            connections = ConnectionRepository()
        self._connections = connections

    def publish(self, user_ids: Iterable[str], event: dict[str, Any]) -> int:
        """Send ``event`` to every connection of ``user_ids``; returns how many frames were delivered."""
        delivered = 0
        for user_id in dict.fromkeys(user_ids):  # de-duplicated, order kept (a user can be both sides)
            try:
                connection_ids = self._connections.for_user(user_id)
            except Exception:  # noqa: BLE001 - best effort: see module docstring
                logger.exception("could not list connections", extra={"user_id": user_id})
                continue
            for connection_id in connection_ids:
                try:
                    if send(self._endpoint, connection_id, event):
                        delivered += 1
                    elif not self._connections.delete_if_connected_before(connection_id,
                                                                         utcnow() - CONNECTING_GRACE):
                        logger.info("connection still connecting: kept", extra={"connection_id": connection_id})
                except Exception:  # noqa: BLE001 - best effort: see module docstring
                    logger.exception("could not notify", extra={"connection_id": connection_id})
        return delivered
