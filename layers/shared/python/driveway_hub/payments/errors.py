"""Payment errors. Each maps to an HTTP status through its base class (driveway_hub.http) and, in the
state machine, to a Retry/Catch by its class name (Lambda reports ``errorType`` = the class name)."""

from __future__ import annotations

from typing import Any

from driveway_hub.errors import Conflict, InvalidInput, UpstreamUnavailable


class StripeUnavailable(UpstreamUnavailable):
    """Stripe is down, rate limiting or unreachable after the library's own retries (503).

    Named so a Step Functions ``Retry`` can match ``"StripeUnavailable"`` exactly; subclasses would not
    match, so errors that retrying cannot fix are deliberately *not* subclasses of this one.
    """

    code = "upstream_unavailable"


class StripeMisconfigured(UpstreamUnavailable):
    """Our Stripe key was refused (401/403): an operator must act; retrying will not help (503)."""

    code = "payments_unavailable"


class PaymentStateError(Conflict):
    """The PaymentIntent/refund is not in a state that allows the operation (409)."""

    code = "payment_state"


class HostNotPayable(Conflict):
    """The host's Connect account cannot receive transfers (yet) (409)."""

    code = "host_not_payable"


class InvalidAmount(InvalidInput):
    """An amount or currency Stripe would refuse (400)."""

    code = "invalid_amount"


class WebhookRejected(InvalidInput):
    """A webhook whose signature, timestamp or body does not verify: 400 and nothing changes."""

    code = "invalid_signature"


class WebhookInProgress(Conflict):
    """Another delivery of the same event is being processed right now (409: Stripe retries later)."""

    code = "event_in_progress"


def declined_details(decline_code: str | None, code: str | None, payment_intent_id: str | None) -> list[dict[str, Any]]:
    """The ``details`` of a PaymentDeclined: enough for the app to explain it, no card data."""
    detail: dict[str, Any] = {"decline_code": decline_code, "code": code}
    if payment_intent_id:
        detail["payment_intent_id"] = payment_intent_id
    return [detail]
