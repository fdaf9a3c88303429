"""Signature scheme of the Tesla telemetry relay webhook (``POST /v1/webhooks/tesla/telemetry``).

Tesla itself sends no webhooks; a relay (or, locally, the Tesla simulator) forwards decoded
fleet-telemetry records to us. Both sides share one secret and this module, so the scheme is
defined once:

- ``X-Telemetry-Timestamp: <unix seconds>``
- ``X-Telemetry-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}." + raw body)>``

The timestamp is inside the MAC so a captured request cannot be replayed later with a fresh
timestamp, and ``verify`` refuses timestamps outside ``±tolerance_s``. Several ``v1=`` entries
separated by commas are accepted (any one may match) so the relay can sign with the old and the new
secret while the secret is rotated.

Standard library only: this is imported by the webhook Lambda and counts towards its cold start.

Example
-------
>>> headers = sign(b"s3cret", b'{"records": []}', 1_700_000_000)
>>> verify(b"s3cret", b'{"records": []}', headers, now=1_700_000_010)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Literal

TIMESTAMP_HEADER = "X-Telemetry-Timestamp"
SIGNATURE_HEADER = "X-Telemetry-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300

Reason = Literal["missing_header", "stale_timestamp", "bad_signature", "malformed"]

# int() would also accept " 12", "+12" and "1_2"; the header must be plain digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class TelemetrySignatureError(Exception):
    """The request is not a fresh, authentic relay request; ``reason`` says why (safe to log)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def compute_signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}."`` followed by the raw body."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> dict[str, str]:
    """Headers to send with ``body``, signed at ``timestamp`` (unix seconds)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={compute_signature(secret, body, timestamp)}",
    }


def verify(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Return quietly when ``body`` was signed with ``secret`` within ``±tolerance_s`` of ``now``.

    ``body`` must be the raw bytes as received (re-serialised JSON would not match). Header names
    are matched case-insensitively because API Gateway and proxies may change their case.

    Raises
    ------
    TelemetrySignatureError
        ``missing_header``, ``malformed``, ``bad_signature`` or ``stale_timestamp``.
    """
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    raw_signature = _header(headers, SIGNATURE_HEADER)
    # An empty value is treated as absent: some proxies keep the name and drop the value.
    if not raw_timestamp or not raw_signature:
        missing = SIGNATURE_HEADER if raw_timestamp else TIMESTAMP_HEADER
        raise TelemetrySignatureError("missing_header", f"{missing} header is missing")
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise TelemetrySignatureError("malformed", f"{TIMESTAMP_HEADER} is not unix seconds")
    timestamp = int(raw_timestamp)
    candidates = _signatures(raw_signature)
    if not candidates:
        raise TelemetrySignatureError("malformed", f"{SIGNATURE_HEADER} has no {SCHEME}=<hex> entry")

    expected = compute_signature(secret, body, timestamp)
    # Compare against every candidate (no early exit) so timing does not tell which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise TelemetrySignatureError("bad_signature", "signature does not match the body")
    # Checked after the MAC so that "stale" always means "authentic but late" (clock skew or a
    # replay), which is worth a different alert from a forgery.
    if abs(now - timestamp) > tolerance_s:
        raise TelemetrySignatureError(
            "stale_timestamp", f"timestamp is {now - timestamp:+d} s from now (tolerance {tolerance_s} s)"
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return None


def _signatures(header: str) -> list[str]:
    """The ``v1`` entries of the signature header; unknown schemes are ignored, bad hex is not."""
    found: list[str] = []
    for part in header.split(","):
        scheme, sep, value = part.strip().partition("=")
        if sep and scheme == SCHEME:
            value = value.strip().lower()
            if not _HEX_SHA256.fullmatch(value):
                return []
            found.append(value)
    return found
