"""WebSocket action "subscribe": ``{"action": "subscribe", "booking_id": "..."}``.

Only the booking's driver or host may subscribe (the contract; admins watch through the REST API). The
subscription is stored per (booking, connection) with the connection's TTL, and the answer is a frame
on the same connection: ``{"type": "subscribed", "booking_id", "status", "expires_at"}``, carrying the
current status so a client that subscribes after a status change does not miss it; or an error frame
in the contract's envelope ``{"type": "error", "error": {"code", "message", "details"}}``.

API Gateway runs the authorizer only on ``$connect`` and hands its context to every later message of
the connection, so the user is ``requestContext.authorizer.principalId``. Should a deployment not pass
that context on, the connection record written by ``$connect`` names the user instead; the ownership
check against the booking is the guard either way.

The data layer (PynamoDB) is imported where it is used, not at cold start (issue #8).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.permissions import BOOKING_VIEW, Principal
from driveway_hub.clock import utcnow
from driveway_hub.config import Settings, get_settings
from driveway_hub.domain.bookings import Caller, require_party
from driveway_hub.errors import DomainError, InvalidInput, NotAllowed, NotAuthenticated
from driveway_hub.observability import logger
from driveway_hub.websocket import management_endpoint, send

# Our booking ids are "bk_" + 32 hex characters; anything much longer is not one of ours.
MAX_BOOKING_ID_LENGTH = 128


def _booking_id(body: str | None) -> str:
    try:
        message = json.loads(body or "{}")
    except ValueError:
        message = None
    booking_id = message.get("booking_id") if isinstance(message, dict) else None
    if not isinstance(booking_id, str) or not booking_id.strip() or len(booking_id) > MAX_BOOKING_ID_LENGTH:
        raise InvalidInput("Send the booking_id of one of your bookings.", field="booking_id")
    return booking_id.strip()


def _user_of(request: dict[str, Any]) -> str:
    """The connection's user: the $connect authorizer's principal, or the connection record's user."""
    authorizer = request.get("authorizer")
    if authorizer:
        principal = Principal.from_authorizer_context(authorizer)
        if authorizer.get("permissions") is not None and not principal.can(BOOKING_VIEW):
            raise NotAllowed(f"This needs the {BOOKING_VIEW} permission.", code="forbidden")
        return principal.user_id
    from driveway_hub.data.connections import Connection

    try:
        connection = Connection.get(request["connectionId"], consistent_read=True)
    except Connection.DoesNotExist as exc:
        raise NotAuthenticated("This connection is not signed in; reconnect with ?token=.") from exc
    return str(connection.user_id)


def _subscribe(settings: Settings, request: dict[str, Any], body: str | None) -> dict[str, Any]:
    from driveway_hub.data.bookings import BookingRepository
    from driveway_hub.data.subscriptions import SubscriptionRepository

    booking_id = _booking_id(body)
    user_id = _user_of(request)
    booking = BookingRepository(settings.region, settings.aws_endpoint_url).get(booking_id)
    # Driver or host only: is_admin stays False on purpose (see the module docstring).
    require_party(booking, Caller(user_id))
    expires_at = SubscriptionRepository().save(booking_id, request["connectionId"], user_id, utcnow())
    logger.info("websocket subscribed", extra={"booking_id": booking_id, "connection_id": request["connectionId"]})
    return {"type": "subscribed", "booking_id": booking_id, "status": booking.status, "expires_at": expires_at}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.subscriptions import SubscriptionRepository

    settings = get_settings()
    bind_models(settings)
    request = event["requestContext"]
    try:
        frame = _subscribe(settings, request, event.get("body"))
    except DomainError as exc:
        frame = {"type": "error", "error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    delivered = send(management_endpoint(settings.websocket_management_url, request), request["connectionId"], frame)
    if not delivered and frame["type"] == "subscribed":
        # The socket closed while we worked: do not leave its subscription behind until the TTL.
        SubscriptionRepository().delete(frame["booking_id"], request["connectionId"])
    return {"statusCode": 200}
