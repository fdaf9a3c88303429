"""Receiving Stripe webhooks: verify the raw body, process each event id once, answer fast.

Order matters and is fixed here:
1. take the RAW body (base64-decoded when API Gateway marked it so) and the ``Stripe-Signature``
   header (looked up case-insensitively);
2. verify with ``stripe.Webhook.construct_event`` and this endpoint's OWN secret — before any JSON is
   parsed, and a failure changes nothing (400);
3. claim the event id (conditional put, 30-day TTL): a duplicate answers 200 and does nothing;
4. apply the event (``payments.events``); if that fails, release the claim and answer 5xx so Stripe
   retries later.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from driveway_hub import business_metrics
from driveway_hub.observability import logger
from driveway_hub.payments.errors import WebhookInProgress, WebhookRejected
from driveway_hub.payments.ports import WebhookEventsPort

SIGNATURE_HEADER = "stripe-signature"
TOLERANCE_S = 300  # Stripe's default: older signatures are replays

Endpoint = Literal["platform", "connect"]


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body exactly as sent: what the signature covers."""
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WebhookRejected("The body is not valid base64.") from exc
    return str(body).encode("utf-8")


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header by name, whatever its case (REST and HTTP APIs differ)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted and value:
            return str(value)
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == wanted and values:
            return str(values[-1])
    return None


def verify(body: bytes, signature: str | None, secret: str, *, tolerance: int = TOLERANCE_S) -> dict[str, Any]:
    """The verified event as a dict, or WebhookRejected. Never parses an unverified body."""
    if not signature:
        business_metrics.count(business_metrics.WEBHOOK_SIGNATURE_FAILURES)
        raise WebhookRejected("Missing Stripe-Signature header.")
    if not secret:
        raise RuntimeError("webhook signing secret is not configured")  # ours to fix: a 500, logged
    import stripe  # on first use: the SDK is the heaviest import of the payments code (issue #8)

    try:
        event = stripe.Webhook.construct_event(body, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        # No detail to the caller beyond "no": the reason (stale, wrong secret, altered body) is logged.
        logger.warning("stripe webhook rejected", extra={"reason": str(exc.user_message or exc)[:200]})
        business_metrics.count(business_metrics.WEBHOOK_SIGNATURE_FAILURES)
        raise WebhookRejected("The webhook signature does not verify.") from exc
    except ValueError as exc:
        raise WebhookRejected("The webhook body is not a JSON event.") from exc
    data: dict[str, Any] = event.to_dict()
    if not data.get("id") or not data.get("type"):
        raise WebhookRejected("The webhook body is not an event.")
    return data


@dataclass(frozen=True)
class Receipt:
    event_id: str
    event_type: str
    duplicate: bool
    outcome: str


@dataclass
class WebhookReceiver:
    """One endpoint: its secret, the processed-event store and what an event does."""

    endpoint: Endpoint
    secret: str
    events: WebhookEventsPort
    apply: Callable[[dict[str, Any], datetime], str]

    def receive(self, body: bytes, signature: str | None, *, now: datetime,
                tolerance: int = TOLERANCE_S) -> Receipt:
        """Verify, then process: the whole endpoint."""
        return self.process(verify(body, signature, self.secret, tolerance=tolerance), now)

    def process(self, event: dict[str, Any], now: datetime) -> Receipt:
        """Apply a verified event (or one fetched from Stripe's API) at most once per event id."""
        event_id, event_type = str(event["id"]), str(event["type"])
        if not self._belongs_here(event):
            # Verified with this endpoint's secret but meant for the other one: acknowledge, change nothing.
            logger.warning("stripe event on the wrong endpoint", extra={"event_type": event_type,
                                                                        "endpoint": self.endpoint})
            return Receipt(event_id, event_type, False, "ignored: wrong endpoint")
        seconds = int(now.timestamp())
        claim = self.events.begin(event_id, event_type, seconds)
        if claim == "done":
            logger.info("duplicate stripe event", extra={"event_id": event_id, "event_type": event_type})
            return Receipt(event_id, event_type, True, "duplicate")
        if claim == "busy":
            raise WebhookInProgress("This event is being processed.")
        try:
            outcome = self.apply(event, now)
        except BaseException:
            self.events.abandon(event_id)
            raise
        self.events.finish(event_id, seconds)
        logger.info("stripe event processed", extra={"event_id": event_id, "event_type": event_type,
                                                     "outcome": outcome})
        return Receipt(event_id, event_type, False, outcome)

    def _belongs_here(self, event: Mapping[str, Any]) -> bool:
        # Connect events carry the connected account's id; platform events do not.
        return bool(event.get("account")) == (self.endpoint == "connect")
