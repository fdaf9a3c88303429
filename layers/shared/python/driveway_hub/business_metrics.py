"""Business metrics: their names, and the sink that emits them through the shared Powertools ``metrics``.

Every metric goes to namespace ``DrivewayHub`` with the one dimension Powertools adds, ``service``
(``driveway_hub.observability``); the monitoring stack alarms and graphs these exact names
(stacks/monitoring_stack.py), so a name lives here once.

Each is emitted where its fact is decided, exactly once per fact:

==========================  ==========================================================================
``BookingsCreated``         a booking was created with its PaymentIntent and lifecycle (domain.bookings)
``BookingsConfirmed``       a booking moved to CONFIRMED (domain.bookings.change_status)
``PaymentSucceeded``        the lifecycle's payment step was resumed as paid (domain.bookings hand-over)
``PaymentFailed``           ... failed with PaymentFailed: success rate = S / (S + F)
``TeslaCommandSucceeded``   a vehicle command answered ``result: true`` (tesla.fleet_client)
``TeslaCommandFailed``      ... answered ``result: false`` or an error (an asleep car is not an outcome)
``TeslaApiUnavailable``     Tesla answered 5xx or could not be reached (Fleet API and token endpoint)
``ArrivalDetectionLatency`` ms from the telemetry sample that showed arrival to its detection
``WebSocketConnections``    +1 on $connect, -1 on $disconnect (Sum: net change; SampleCount: both)
``WebhookSignatureFailures`` a Stripe or Tesla-relay webhook refused for its signature/timestamp
==========================  ==========================================================================

Domain code takes ``count``/``milliseconds`` as collaborators (no-ops by default, these functions in the
composition roots); adapters call them directly. Each value is flushed at once (one EMF line): these
are events, not per-request figures, and handlers then need no ``log_metrics`` decorator (which warns
on every invocation that emits nothing). Powertools is imported on first use, not with this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

NAMESPACE = "DrivewayHub"
SERVICE = "driveway-hub"  # driveway_hub.observability.SERVICE: the ``service`` dimension

BOOKINGS_CREATED = "BookingsCreated"
BOOKINGS_CONFIRMED = "BookingsConfirmed"
PAYMENT_SUCCEEDED = "PaymentSucceeded"
PAYMENT_FAILED = "PaymentFailed"
TESLA_COMMAND_SUCCEEDED = "TeslaCommandSucceeded"
TESLA_COMMAND_FAILED = "TeslaCommandFailed"
TESLA_API_UNAVAILABLE = "TeslaApiUnavailable"
ARRIVAL_DETECTION_LATENCY = "ArrivalDetectionLatency"
WEBSOCKET_CONNECTIONS = "WebSocketConnections"
WEBHOOK_SIGNATURE_FAILURES = "WebhookSignatureFailures"

# Money that needs a person (payments.events, payments.reconciler, the lifecycle's flag task): one alarm
# watches their sum (stacks/monitoring_stack.py, "money-needs-attention").
PAYMENT_SETTLEMENT_FAILURES = "PaymentSettlementFailures"
REFUND_FAILURES = "RefundFailures"
PAYMENT_PROBLEMS = "PaymentProblems"
PAYMENT_DISPUTES = "PaymentDisputes"
RECONCILER_ERRORS = "ReconcilerErrors"
NEEDS_ATTENTION = (PAYMENT_SETTLEMENT_FAILURES, REFUND_FAILURES, PAYMENT_PROBLEMS, PAYMENT_DISPUTES,
                   RECONCILER_ERRORS)

# Collaborator types for domain code: count(name) and milliseconds(name, value).
Count = Callable[[str], None]
Milliseconds = Callable[[str, float], None]

# The Powertools metric set is shared by every Metrics instance of the process; the local cloud runs
# handlers on threads, so adding and flushing happen under one lock.
_lock = threading.Lock()


def no_count(_name: str) -> None:
    """The default sink of domain collaborators: tests and wiring that do not measure."""


def no_milliseconds(_name: str, _value: float) -> None:
    """The default latency sink of domain collaborators."""


def count(name: str, value: float = 1) -> None:
    """Emit ``value`` (default 1) of the Count metric ``name`` now."""
    _emit(name, "Count", value)


def milliseconds(name: str, value: float) -> None:
    """Emit one duration sample of ``name`` in milliseconds now (negative clock skew counts as 0)."""
    _emit(name, "Milliseconds", max(0.0, value))


def _emit(name: str, unit: str, value: float) -> None:
    from driveway_hub.observability import metrics  # first use, not at import: keeps cold starts lean

    with _lock:
        metrics.add_metric(name=name, unit=unit, value=value)
        metrics.flush_metrics()
