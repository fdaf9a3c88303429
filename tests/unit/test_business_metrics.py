"""Business metrics are emitted where their facts are decided, once per fact, as CloudWatch EMF documents in
namespace DrivewayHub with the ``service`` dimension (what the monitoring stack's alarms and dashboard read).

The real sink (``driveway_hub.business_metrics``) is wired into the code under test and its Powertools
output captured from stdout, so each test proves the whole path from the fact to the published metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from driveway_hub import business_metrics as bm
from driveway_hub.data.bookings import Booking
from driveway_hub.domain import pricing
from driveway_hub.domain.booking_status import Status
from driveway_hub.domain.bookings import BookingContext, Caller, DrivewayTerms, change_status, create_booking, observe
from driveway_hub.payments.errors import WebhookRejected
from driveway_hub.payments.events import PaymentEffects, handle_event
from driveway_hub.payments.webhooks import WebhookReceiver
from driveway_hub.telemetry_signing import sign
from driveway_hub.tesla.errors import TeslaUnavailable, VehicleAsleep
from driveway_hub.tesla.fleet_client import TeslaApp, TeslaFleetClient, TeslaOAuthClient
from driveway_hub.tesla.geofence import Geofence
from driveway_hub.tesla.telemetry import (
    TelemetryIngest,
    TelemetryRecord,
    TelemetryUnauthorized,
    TrackState,
    authenticate_webhook,
    parse_record,
)
from driveway_hub.tesla.token_store import AccountTokens, TokenSet
from local.fake_stripe import signature_header
from local.lambda_runtime import LocalLambdaContext
from tests.unit.test_payments_fakes import (
    T0,
    FakeBookings,
    FakeNotifier,
    FakeRecords,
    FakeStripe,
    FakeWebhookEvents,
    FakeWorkflow,
    booking,
    intent,
)
from tests.unit.test_tesla_fixtures import VIN, AwsEnv, FakeResponse, answer, aws_environment, fleet_error

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(autouse=True)
def metrics_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Powertools publishes nothing when either is set (a developer's shell may have them).
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


@pytest.fixture
def published(capsys: pytest.CaptureFixture[str]) -> Iterator[Published]:
    capsys.readouterr()  # start from nothing
    yield Published(capsys)


class Published:
    """The EMF documents printed since the last call, as (metric name, value, unit) triples."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self) -> list[tuple[str, Any, str]]:
        found: list[tuple[str, Any, str]] = []
        for line in self._capsys.readouterr().out.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if not isinstance(document, dict) or "_aws" not in document:
                continue  # a log line
            [directive] = document["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == bm.NAMESPACE
            assert directive["Dimensions"] == [["service"]] and document["service"] == bm.SERVICE
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]  # Powertools writes a list of values per metric
                found += [(metric["Name"], value, metric["Unit"]) for value in values]
        return found

    def names(self) -> list[str]:
        return [name for name, _value, _unit in self()]


# ---- the sink ----------------------------------------------------------------------------------------
def test_each_value_is_published_at_once_in_namespace_drivewayhub_with_the_service_dimension(
    published: Published,
) -> None:
    bm.count(bm.BOOKINGS_CREATED)
    bm.count(bm.WEBSOCKET_CONNECTIONS, -1)
    bm.milliseconds(bm.ARRIVAL_DETECTION_LATENCY, 1234.5)
    bm.milliseconds(bm.ARRIVAL_DETECTION_LATENCY, -20)  # a car clock ahead of ours is not negative latency
    assert published() == [
        ("BookingsCreated", 1.0, "Count"),
        ("WebSocketConnections", -1.0, "Count"),
        ("ArrivalDetectionLatency", 1234.5, "Milliseconds"),
        ("ArrivalDetectionLatency", 0.0, "Milliseconds"),
    ]


def test_the_names_the_stacks_alarm_on_are_those_of_the_shared_powertools_metrics() -> None:
    from driveway_hub.observability import SERVICE, metrics

    assert (metrics.namespace, metrics.service, SERVICE) == (bm.NAMESPACE, bm.SERVICE, bm.SERVICE)


# ---- bookings ----------------------------------------------------------------------------------------
@dataclass
class BookingStore:
    """The repository calls creation and status changes make, in memory."""

    items: dict[str, Booking] = field(default_factory=dict)
    previous: dict[str, str] = field(default_factory=dict)

    def reserve(self, item: Booking, *, by: str, now: datetime, is_free: Any) -> Booking:
        self.items[item.booking_id] = item
        return item

    def update_fields(self, item: Booking, now: datetime, **fields: Any) -> Booking:
        for name, value in fields.items():
            setattr(self.items[item.booking_id], name, value)
        return self.items[item.booking_id]

    def transition(self, booking_id: str, new: Status, *, by: str, reason: str | None, now: datetime,
                   updates: dict[str, Any] | None = None) -> tuple[Booking, bool]:
        item = self.items[booking_id]
        if item.status == new.value:
            return item, False
        self.previous[booking_id], item.status = item.status, new.value
        return item, True

    def history(self, booking_id: str) -> list[Any]:
        return [type("Entry", (), {"previous": self.previous[booking_id]})()]


@dataclass
class Catalog:
    def terms(self, driveway_id: str) -> DrivewayTerms:
        return DrivewayTerms(driveway_id, "host1", True, "UTC", [], [], pricing.Rates("usd", 500), True)


@dataclass
class Payouts:
    def host_payout_account(self, host_id: str) -> tuple[str | None, bool]:
        return "acct_1", True


@dataclass
class Payments:
    publishable_key: str = "pk_test"

    def create_booking_payment(self, **_kwargs: Any) -> Any:
        return type("Intent", (), {"id": "pi_1", "client_secret": "pi_1_secret"})()


def booking_context(store: BookingStore) -> BookingContext:
    return BookingContext(bookings=cast(Any, store), notifier=FakeNotifier(), workflow=FakeWorkflow(),
                          count=bm.count)


def test_a_created_booking_is_counted_once(published: Published) -> None:
    ctx = booking_context(BookingStore())
    create_booking(ctx, catalog=Catalog(), payouts=Payouts(), payments=cast(Any, Payments()),
                   caller=Caller("driver1"), driveway_id="dw1", start=T0 + timedelta(hours=2),
                   end=T0 + timedelta(hours=4), vehicle_id=None, vin=None, now=T0, booking_id="bk1")
    assert published.names() == ["BookingsCreated"]


def test_a_booking_is_counted_confirmed_when_it_moves_to_confirmed_not_when_asked_again(published: Published) -> None:
    store = BookingStore({"bk1": booking("AWAITING_APPROVAL")})
    ctx = booking_context(store)
    change_status(ctx, "bk1", Status.CONFIRMED, by="lifecycle", reason=None, now=T0)
    change_status(ctx, "bk1", Status.CONFIRMED, by="lifecycle", reason=None, now=T0)  # a retried task
    change_status(ctx, "bk1", Status.EN_ROUTE, by="lifecycle", reason=None, now=T0)
    assert published.names() == ["BookingsConfirmed"]


# ---- payments ----------------------------------------------------------------------------------------
def payment_effects(stripe: FakeStripe, bookings: FakeBookings) -> PaymentEffects:
    ctx = BookingContext(bookings=cast(Any, bookings), notifier=FakeNotifier(), workflow=FakeWorkflow(),
                         count=bm.count)
    return PaymentEffects(stripe=cast(Any, stripe), records=FakeRecords(), bookings=bookings,
                          observe=lambda booking_id, step, fact: observe(ctx, booking_id, step, fact),
                          notifier=ctx.notifier)


def waiting_for_payment() -> FakeBookings:
    bookings = FakeBookings()
    bookings.add(booking())
    bookings.park_token("bk1", "payment", "token-1", T0)
    return bookings


def payment_event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": "payment_intent.payment_failed",
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}}}


def test_a_failed_payment_is_counted_once_however_many_events_say_so(published: Published) -> None:
    stripe, bookings = FakeStripe(), waiting_for_payment()
    stripe.put(intent("requires_payment_method", last_error_code="card_declined"))
    fx = payment_effects(stripe, bookings)
    handle_event(fx, payment_event("evt_1"), T0)
    handle_event(fx, payment_event("evt_2"), T0)
    assert published.names() == ["PaymentFailed"]


def test_a_paid_booking_is_counted_as_a_successful_payment(published: Published) -> None:
    stripe, bookings = FakeStripe(), waiting_for_payment()
    stripe.put(intent("requires_capture"))
    fx = payment_effects(stripe, bookings)
    handle_event(fx, {**payment_event("evt_1"), "type": "payment_intent.amount_capturable_updated"}, T0)
    handle_event(fx, {**payment_event("evt_2"), "type": "charge.succeeded",
                      "data": {"object": {"id": "ch_1", "payment_intent": "pi_1"}}}, T0)
    assert published.names() == ["PaymentSucceeded"]


# ---- webhook signatures ------------------------------------------------------------------------------
STRIPE_SECRET = "whsec_metrics"


def stripe_receiver() -> WebhookReceiver:
    return WebhookReceiver("platform", STRIPE_SECRET, cast(Any, FakeWebhookEvents()), lambda _event, _now: "applied")


@pytest.mark.parametrize("signature", [None, "wrong secret"])
def test_a_stripe_webhook_with_a_missing_or_wrong_signature_is_counted(
    signature: str | None, published: Published
) -> None:
    body = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "created": 1,
                       "data": {"object": {"id": "pi_1"}}})
    header = signature_header(body, "whsec_someone_else", int(T0.timestamp())) if signature else None
    with pytest.raises(WebhookRejected):
        stripe_receiver().receive(body.encode(), header, now=T0)
    assert published.names() == ["WebhookSignatureFailures"]


def test_a_verified_stripe_webhook_counts_no_signature_failure(published: Published) -> None:
    body = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "created": 1,
                       "data": {"object": {"id": "pi_1"}}})
    now = datetime.now(tz=T0.tzinfo)
    stripe_receiver().receive(body.encode(), signature_header(body, STRIPE_SECRET, int(now.timestamp())), now=now)
    assert published.names() == []


def test_a_telemetry_relay_request_with_a_bad_signature_is_counted(published: Published) -> None:
    body = b'{"records": []}'
    headers = sign(b"not-our-secret", body, 1_700_000_000)
    with pytest.raises(TelemetryUnauthorized):
        authenticate_webhook([b"our-secret"], body, headers, 1_700_000_000)
    authenticate_webhook([b"our-secret"], body, sign(b"our-secret", body, 1_700_000_000), 1_700_000_000)
    assert published.names() == ["WebhookSignatureFailures"]


# ---- Tesla ---------------------------------------------------------------------------------------------
@dataclass
class Tokens:
    """A linked account whose access token is far from expiry: no refresh happens."""

    def load(self, user_id: str) -> AccountTokens:
        return AccountTokens(user_id, TokenSet("access", "refresh"), int(T0.timestamp()) + 86_400, 1, None)


@dataclass
class Http:
    """Answers every request with the next canned answer (or raises it)."""

    answers: list[FakeResponse | Exception]

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        answer_ = self.answers.pop(0)
        if isinstance(answer_, Exception):
            raise answer_
        return answer_


def fleet(*answers: FakeResponse | Exception) -> TeslaFleetClient:
    http = Http(list(answers))
    return TeslaFleetClient("user1", store=cast(Any, Tokens()), oauth=TeslaOAuthClient(TeslaApp("id", "s"), http),
                            http=http, clock=lambda: T0, count=bm.count)


@pytest.mark.parametrize("failure", [fleet_error(503, "upstream timeout"), fleet_error(540, "vehicle error"),
                                     requests.ConnectTimeout("connect timed out")])
def test_tesla_answering_5xx_or_not_at_all_is_counted_as_unavailable(failure: Any, published: Published) -> None:
    with pytest.raises(TeslaUnavailable):
        fleet(failure).vehicle(VIN)
    assert published.names() == ["TeslaApiUnavailable"]


def test_tesla_unavailable_during_a_command_is_also_a_failed_command(published: Published) -> None:
    with pytest.raises(TeslaUnavailable):
        fleet(fleet_error(503, "upstream timeout")).flash_lights(VIN)
    assert published.names() == ["TeslaApiUnavailable", "TeslaCommandFailed"]


def test_the_token_endpoint_being_down_is_counted_as_unavailable(published: Published) -> None:
    oauth = TeslaOAuthClient(TeslaApp("id", "s"), Http([answer(502)]), count=bm.count)
    with pytest.raises(TeslaUnavailable):
        oauth.refresh("refresh", now=T0)
    assert published.names() == ["TeslaApiUnavailable"]


def test_command_outcomes_are_counted_and_an_asleep_car_is_not_an_outcome(published: Published) -> None:
    client = fleet(answer(200, {"response": {"result": True, "queued": True}}),
                   answer(200, {"response": {"result": False, "reason": "vehicle not in park"}}),
                   fleet_error(408, "vehicle unavailable: vehicle is offline or asleep"),
                   fleet_error(403, "Tesla Vehicle Command Protocol required"))
    assert client.navigation_request(VIN, "https://maps.example/?q=1,2").result
    assert not client.flash_lights(VIN).result
    with pytest.raises(VehicleAsleep):
        client.flash_lights(VIN)
    with pytest.raises(Exception, match="signed commands"):
        client.flash_lights(VIN)
    assert published.names() == ["TeslaCommandSucceeded", "TeslaCommandFailed", "TeslaCommandFailed"]


# ---- arrival detection latency ---------------------------------------------------------------------
DRIVEWAY = (45.529, -122.671)
M_PER_DEG_LAT = 111_195.0


def fix(seconds: float, meters_north: float, speed: float | None = None) -> TelemetryRecord:
    data: list[dict[str, Any]] = [{"key": "Location", "value": {"locationValue": {
        "latitude": round(DRIVEWAY[0] + meters_north / M_PER_DEG_LAT, 6), "longitude": DRIVEWAY[1]}}}]
    if speed is not None:
        data.append({"key": "VehicleSpeed", "value": {"doubleValue": speed}})
    created = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return parse_record({"vin": VIN, "createdAt": created, "data": data})


@dataclass
class Tracks:
    saved: tuple[TrackState, int] | None = None

    def load(self, vin: str) -> tuple[TrackState, int] | None:
        return self.saved

    def save(self, state: TrackState, expected_version: int | None, expires_at: int) -> bool:
        self.saved = (state, (expected_version or 0) + 1)
        return True


@dataclass
class Positions:
    def put(self, fixes: Any, source: str = "telemetry") -> None:
        pass

    def newest(self, vin: str) -> None:
        return None


@dataclass(frozen=True)
class LiveBooking:
    booking_id: str = "bk1"
    driver_id: str = "driver1"
    host_id: str = "host1"
    driveway_id: str = "dw1"


@dataclass
class Lookups:
    def active_for_vin(self, vin: str, now: datetime) -> LiveBooking:
        return LiveBooking()

    def geofence(self, driveway_id: str) -> Geofence:
        return Geofence(DRIVEWAY[0], DRIVEWAY[1], 40.0)


def test_arrival_latency_is_from_the_cars_sample_to_the_detection_and_measured_once(published: Published) -> None:
    ingest = TelemetryIngest(positions=Positions(), tracks=Tracks(), bookings=Lookups(), places=Lookups(),
                             observe=lambda _booking, _step, _fact: True, notifier=FakeNotifier(),
                             milliseconds=bm.milliseconds)
    trip = [fix(0, -500, 24.0), fix(5, -300), fix(10, -100), fix(15, -10, 0.0)]  # stopped at the kerb at 15 s
    ingest.ingest(trip, T0 + timedelta(seconds=17.5))
    ingest.ingest(trip, T0 + timedelta(seconds=30))  # a redelivery detects nothing new
    assert published() == [("ArrivalDetectionLatency", 2500.0, "Milliseconds")]


# ---- WebSocket connections (the handlers, on moto) -------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    with aws_environment(monkeypatch) as env:
        yield env


def test_connect_and_disconnect_move_the_connections_metric_up_and_down(aws: AwsEnv, published: Published) -> None:
    from functions.ws import connect, disconnect

    event = json.loads((EVENTS_DIR / "ws_connect.json").read_text())
    event["requestContext"]["authorizer"] = {"principalId": "driver1"}
    assert connect.handler(event, cast(Any, LocalLambdaContext("ws_connect")))["statusCode"] == 200
    event = json.loads((EVENTS_DIR / "ws_disconnect.json").read_text())
    assert disconnect.handler(event, cast(Any, LocalLambdaContext("ws_disconnect")))["statusCode"] == 200
    assert [(name, value) for name, value, _unit in published()] == [("WebSocketConnections", 1.0),
                                                                      ("WebSocketConnections", -1.0)]
