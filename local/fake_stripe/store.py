"""Objects, events and the money ledger behind the fake, guarded by one re-entrant lock.

Objects are kept as Stripe-shaped JSON dicts so that responses, event snapshots and `expand` are
plain copies. Money moves only through `book()`: every balance is the sum of its ledger entries
(Stripe's balance transactions), so tests can assert who holds what after charges and refunds.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import no_such

Obj = dict[str, Any]
PLATFORM = "platform"  # ledger owner for the platform account (connected accounts use their acct_ id)
API_VERSION = "2026-10-28.endive"  # what stripe-python 16.1 pins; echoed on events like Stripe does
DAY = 86400
EVENT_RETENTION_S = 30 * DAY

_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class RequestContext:
    """The API request a state change came from; Stripe records it on each event (`event.request`)."""

    request_id: str
    idempotency_key: str | None


class Store:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.lock = threading.RLock()
        self.objects: dict[str, Obj] = {}
        self.events: list[Obj] = []  # oldest first
        self.ledger: list[Obj] = []
        self.request: RequestContext | None = None
        # Set by the webhook dispatcher: queues an event and answers how many endpoints will get it.
        self.dispatch: Callable[[Obj], int] | None = None

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.events.clear()
            self.ledger.clear()

    # ---- ids, time, objects -------------------------------------------------------------------

    @staticmethod
    def new_id(prefix: str, length: int = 24) -> str:
        return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"

    def timestamp(self) -> int:
        return int(self.now())

    def put(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, object_id: str, kind: str, *, label: str | None = None, param: str | None = None) -> Obj:
        """The stored object of Stripe type `kind`, else Stripe's resource_missing error."""
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise no_such(label or kind, object_id, param=param)
        return obj

    def find(self, object_id: str) -> Obj | None:
        return self.objects.get(object_id)

    def all(self, kind: str) -> list[Obj]:
        """Objects of one type, oldest first (dicts keep insertion order)."""
        return [obj for obj in self.objects.values() if obj["object"] == kind]

    @contextmanager
    def requested_by(self, context: RequestContext | None) -> Iterator[None]:
        with self.lock:
            previous, self.request = self.request, context
            try:
                yield
            finally:
                self.request = previous

    # ---- events -------------------------------------------------------------------------------

    def emit(
        self, event_type: str, obj: Obj, *, account: str | None = None, previous: Obj | None = None
    ) -> Obj:
        """Record an event with a snapshot of `obj` as it is now, then hand it to webhook delivery."""
        with self.lock:
            data: Obj = {"object": copy.deepcopy(obj)}
            if previous:
                data["previous_attributes"] = copy.deepcopy(previous)
            request = self.request
            event: Obj = {
                "id": self.new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self.timestamp(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": {
                    "id": request.request_id if request else None,
                    "idempotency_key": request.idempotency_key if request else None,
                },
                "type": event_type,
            }
            if account is not None:
                # Only events about a connected account carry `account`; they go to the Connect endpoint.
                event["account"] = account
            self.events.append(event)
            self.objects[event["id"]] = event
            if self.dispatch is not None:
                event["pending_webhooks"] = self.dispatch(event)
            return event

    def live_events(self) -> list[Obj]:
        """Events still listable (Stripe keeps 30 days), oldest first."""
        horizon = self.timestamp() - EVENT_RETENTION_S
        return [event for event in self.events if event["created"] >= horizon]

    # ---- money --------------------------------------------------------------------------------

    def book(
        self,
        owner: str,
        amount: int,
        currency: str,
        txn_type: str,
        source: str,
        *,
        fee: int = 0,
        category: str | None = None,
    ) -> str:
        """Post one balance transaction (integer minor units; positive credits `owner`)."""
        with self.lock:
            created = self.timestamp()
            txn: Obj = {
                "id": self.new_id("txn"),
                "object": "balance_transaction",
                "account": None if owner == PLATFORM else owner,
                "amount": amount,
                "available_on": created,
                "created": created,
                "currency": currency,
                "description": None,
                "fee": fee,
                "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee"}] if fee else [],
                "net": amount - fee,
                "reporting_category": category or txn_type,
                "source": source,
                "status": "available",
                "type": txn_type,
            }
            self.ledger.append(txn)
            self.objects[txn["id"]] = txn
            return str(txn["id"])

    def balance(self, owner: str = PLATFORM, currency: str = "usd") -> int:
        with self.lock:
            account = None if owner == PLATFORM else owner
            return sum(
                txn["net"] for txn in self.ledger if txn["account"] == account and txn["currency"] == currency
            )

    def balances(self, owner: str = PLATFORM) -> dict[str, int]:
        with self.lock:
            account = None if owner == PLATFORM else owner
            totals: dict[str, int] = {}
            for txn in self.ledger:
                if txn["account"] == account:
                    totals[txn["currency"]] = totals.get(txn["currency"], 0) + txn["net"]
            return totals


def snapshot(obj: Obj) -> Obj:
    """A response-safe deep copy (callers may expand it without touching the stored object)."""
    return copy.deepcopy(obj)
