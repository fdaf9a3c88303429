"""Stripe's idempotency keys: replay the first answer, refuse a key reused for a different request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import IDEMPOTENCY_ERROR, StripeApiError

KEY_TTL_S = 24 * 3600  # Stripe keeps keys at least 24 hours; measured on the fake's (virtual) clock


@dataclass(frozen=True)
class SavedResponse:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    saved_at: float


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    """What must match for a replay: the endpoint and the parameters (not headers, not key order)."""
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    """Keys are scoped per account (platform or the `Stripe-Account` header), as in Stripe.

    Not thread-safe on its own: callers hold the fake's lock.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._saved: dict[tuple[str, str], SavedResponse] = {}
        self._in_flight: dict[tuple[str, str], str] = {}  # key → fingerprint of the running request

    def reset(self) -> None:
        self._saved.clear()
        self._in_flight.clear()

    def lookup(self, scope: str, key: str, print_: str) -> SavedResponse | None:
        """The saved answer to replay, None for a new request; raises for a conflicting reuse."""
        saved = self._saved.get((scope, key))
        if saved is not None and self._now() - saved.saved_at >= KEY_TTL_S:
            del self._saved[(scope, key)]
            saved = None
        if saved is None:
            if (scope, key) in self._in_flight:
                # The first request with this key is still running (e.g. the client timed out and
                # retried). Stripe answers 409; the library retries 409s.
                raise StripeApiError(
                    409, "There is currently another in-progress request using this Idempotent Key (that "
                    "probably means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.", type=IDEMPOTENCY_ERROR, code="idempotency_key_in_use",
                )
            return None
        if saved.fingerprint != print_:
            raise StripeApiError(
                400, "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                type=IDEMPOTENCY_ERROR,
            )
        return saved

    def begin(self, scope: str, key: str, print_: str) -> None:
        self._in_flight[(scope, key)] = print_

    def abandon(self, scope: str, key: str) -> None:
        """The request ended without a result worth replaying (it failed validation or was refused)."""
        self._in_flight.pop((scope, key), None)

    def save(self, scope: str, key: str, saved: SavedResponse) -> None:
        self._in_flight.pop((scope, key), None)
        self._saved[(scope, key)] = saved
