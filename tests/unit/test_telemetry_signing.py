"""The relay-webhook signature: what it accepts and why it rejects everything else."""

from __future__ import annotations

import pytest

from driveway_hub.telemetry_signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TelemetrySignatureError,
    compute_signature,
    sign,
    verify,
)

SECRET = b"test-telemetry-secret"  # made up for the tests
BODY = b'{"records":[{"vin":"5YJ3E1EA7KF000001","data":[]}]}'
T0 = 1_700_000_000


def _reason(headers: dict[str, str], *, body: bytes = BODY, now: int = T0, secret: bytes = SECRET) -> str:
    with pytest.raises(TelemetrySignatureError) as caught:
        verify(secret, body, headers, now=now)
    return caught.value.reason


def test_sign_produces_timestamp_and_v1_hmac_headers() -> None:
    headers = sign(SECRET, BODY, T0)

    assert headers[TIMESTAMP_HEADER] == str(T0)
    assert headers[SIGNATURE_HEADER] == f"v1={compute_signature(SECRET, BODY, T0)}"
    assert len(compute_signature(SECRET, BODY, T0)) == 64


def test_signature_covers_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET, f"{T0}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert compute_signature(SECRET, BODY, T0) == expected


def test_verify_accepts_a_fresh_signed_request() -> None:
    verify(SECRET, BODY, sign(SECRET, BODY, T0), now=T0 + 10)


def test_verify_accepts_header_names_in_any_case() -> None:
    headers = {k.lower(): v for k, v in sign(SECRET, BODY, T0).items()}
    verify(SECRET, BODY, headers, now=T0)
    headers = {k.upper(): v for k, v in sign(SECRET, BODY, T0).items()}
    verify(SECRET, BODY, headers, now=T0)


def test_verify_accepts_any_matching_v1_entry_during_secret_rotation() -> None:
    old = sign(b"old-secret", BODY, T0)[SIGNATURE_HEADER]
    new = sign(SECRET, BODY, T0)[SIGNATURE_HEADER]
    headers = {TIMESTAMP_HEADER: str(T0), SIGNATURE_HEADER: f"{old}, {new}, v0=ignored"}

    verify(SECRET, BODY, headers, now=T0)


def test_verify_accepts_timestamps_exactly_at_the_tolerance_edges() -> None:
    verify(SECRET, BODY, sign(SECRET, BODY, T0), now=T0 + 300)
    verify(SECRET, BODY, sign(SECRET, BODY, T0), now=T0 - 300)


@pytest.mark.parametrize("dropped", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_missing_header_is_rejected(dropped: str) -> None:
    headers = sign(SECRET, BODY, T0)
    del headers[dropped]

    assert _reason(headers) == "missing_header"


def test_empty_header_value_counts_as_missing() -> None:
    headers = sign(SECRET, BODY, T0) | {SIGNATURE_HEADER: " "}

    assert _reason(headers) == "missing_header"


def test_no_headers_at_all_is_missing_header() -> None:
    assert _reason({}) == "missing_header"


@pytest.mark.parametrize("timestamp", ["abc", "-1700000000", "+1700000000", "1_700_000_000", "1.7e9", "17000000001234"])
def test_non_integer_timestamp_is_malformed(timestamp: str) -> None:
    headers = sign(SECRET, BODY, T0) | {TIMESTAMP_HEADER: timestamp}

    assert _reason(headers) == "malformed"


@pytest.mark.parametrize(
    "signature",
    ["deadbeef", "v1=xyz", "v1=" + "a" * 63, "sha256=" + "a" * 64, "v1" + "a" * 64, "v1="],
)
def test_signature_header_without_a_valid_v1_entry_is_malformed(signature: str) -> None:
    headers = sign(SECRET, BODY, T0) | {SIGNATURE_HEADER: signature}

    assert _reason(headers) == "malformed"


def test_tampered_body_is_a_bad_signature() -> None:
    headers = sign(SECRET, BODY, T0)

    assert _reason(headers, body=BODY.replace(b"000001", b"000002")) == "bad_signature"


def test_wrong_secret_is_a_bad_signature() -> None:
    headers = sign(b"someone-else", BODY, T0)

    assert _reason(headers) == "bad_signature"


def test_timestamp_swapped_after_signing_is_a_bad_signature() -> None:
    # A replayed request with a refreshed timestamp must not pass: the timestamp is under the MAC.
    headers = sign(SECRET, BODY, T0) | {TIMESTAMP_HEADER: str(T0 + 3600)}

    assert _reason(headers, now=T0 + 3600) == "bad_signature"


@pytest.mark.parametrize("now", [T0 + 301, T0 - 301, T0 + 86_400])
def test_timestamp_outside_tolerance_is_stale(now: int) -> None:
    assert _reason(sign(SECRET, BODY, T0), now=now) == "stale_timestamp"


def test_custom_tolerance_is_honoured() -> None:
    headers = sign(SECRET, BODY, T0)

    verify(SECRET, BODY, headers, now=T0 + 20, tolerance_s=30)
    with pytest.raises(TelemetrySignatureError) as caught:
        verify(SECRET, BODY, headers, now=T0 + 31, tolerance_s=30)
    assert caught.value.reason == "stale_timestamp"


def test_forged_and_stale_request_reports_bad_signature_not_stale() -> None:
    assert _reason(sign(b"forger", BODY, T0), now=T0 + 10_000) == "bad_signature"


def test_uppercase_hex_signature_is_accepted() -> None:
    headers = sign(SECRET, BODY, T0)
    headers[SIGNATURE_HEADER] = headers[SIGNATURE_HEADER].upper().replace("V1=", "v1=")

    verify(SECRET, BODY, headers, now=T0)
