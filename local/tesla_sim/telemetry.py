"""Telemetry the simulated cars stream to a relay webhook (format: see the package docstring)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driveway_hub import telemetry_signing
from local.tesla_sim.car import VehicleView

_INVALID: dict[str, Any] = {"invalid": True}


def signals(view: VehicleView) -> dict[str, dict[str, Any]]:
    """Current value of every streamed field, rounded so that "on change" means a real change."""
    values: dict[str, dict[str, Any]] = {
        "Location": {"locationValue": {"latitude": round(view.lat, 6), "longitude": round(view.lng, 6)}},
        "GpsHeading": {"doubleValue": round(view.heading, 1)},
        "Gear": {"shiftStateValue": f"ShiftState{view.gear}"},
        "VehicleSpeed": {"doubleValue": round(view.speed_mph, 1)},
        # Route fields are "invalid" (fleet-telemetry's word for "no value") when not navigating.
        "DestinationLocation": _INVALID,
        "MinutesToArrival": _INVALID,
        "MilesToArrival": _INVALID,
    }
    if view.destination is not None:
        values["DestinationLocation"] = {
            "locationValue": {"latitude": round(view.destination.lat, 6), "longitude": round(view.destination.lng, 6)}
        }
    if view.minutes_to_arrival is not None:
        values["MinutesToArrival"] = {"doubleValue": round(view.minutes_to_arrival, 1)}
    if view.miles_to_arrival is not None:
        values["MilesToArrival"] = {"doubleValue": round(view.miles_to_arrival, 2)}
    return values


def iso8601(unix_s: float) -> str:
    """protojson's Timestamp style: UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TelemetryTarget:
    """One relay webhook and what has already reached it (per VIN), so only changes are sent."""

    url: str
    secret: bytes
    interval_s: float = 5.0
    vins: frozenset[str] | None = None  # None: every car
    last_emit: dict[str, float] = field(default_factory=dict)
    last_sent: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def wants(self, vin: str) -> bool:
        return self.vins is None or vin in self.vins

    def as_dict(self) -> dict[str, Any]:
        # Never echo the secret.
        return {"url": self.url, "interval_s": self.interval_s, "vins": sorted(self.vins) if self.vins else None}


@dataclass
class TelemetryBatch:
    """A signed POST ready to send; ``sent`` is applied to the target only once it was accepted."""

    target: TelemetryTarget
    body: bytes
    headers: dict[str, str]
    signal_count: int
    sent: dict[str, tuple[float, dict[str, dict[str, Any]]]]  # vin -> (emitted at, full values)


def build_batch(target: TelemetryTarget, views: list[VehicleView], now: float) -> TelemetryBatch | None:
    """Records for the cars that are due (interval elapsed) and changed; None when nothing to send."""
    records: list[dict[str, Any]] = []
    sent: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
    count = 0
    for view in views:
        last = target.last_emit.get(view.vin)
        if last is not None and now - last < target.interval_s:
            continue
        current = signals(view)
        previous = target.last_sent.get(view.vin, {})
        changed = [{"key": key, "value": value} for key, value in current.items() if previous.get(key) != value]
        if not changed:
            continue
        records.append({"vin": view.vin, "createdAt": iso8601(now), "data": changed})
        sent[view.vin] = (now, current)
        count += len(changed)
    if not records:
        return None
    body = json.dumps({"records": records}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"} | telemetry_signing.sign(target.secret, body, int(now))
    return TelemetryBatch(target, body, headers, count, sent)


def settle(batch: TelemetryBatch, accepted: bool) -> None:
    """Record the outcome. A refused batch is not forgotten: its changes go again next interval,
    because signals are only sent on change and a lost ``Gear=P`` would otherwise never repeat."""
    for vin, (at, values) in batch.sent.items():
        batch.target.last_emit[vin] = at
        if accepted:
            batch.target.last_sent[vin] = values
