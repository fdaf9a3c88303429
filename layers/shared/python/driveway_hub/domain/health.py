"""Health report: runs each probe, never lets one probe's failure become a 500."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Probe = Callable[[], str]

# Probes whose failure makes the service unusable; others only make it "degraded".
CRITICAL = frozenset({"dynamodb"})


def check_health(probes: Mapping[str, Probe], version: str) -> dict[str, Any]:
    """Run every probe and summarise.

    A probe returns a short status word ("ok", "configured", …) or raises; the exception's class name
    becomes the check's value, never its message (messages can carry endpoints or ids).
    """
    checks: dict[str, str] = {}
    healthy = True
    for name, probe in probes.items():
        try:
            checks[name] = probe()
        except Exception as exc:  # noqa: BLE001 - a failing dependency is exactly what health reports
            checks[name] = f"error:{type(exc).__name__}"
            healthy = healthy and name not in CRITICAL
    return {"status": "healthy" if healthy else "degraded", "checks": checks, "version": version}
