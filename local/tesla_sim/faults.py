"""Injected failures: the next N matching requests fail the way Tesla's servers fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    UNAUTHORIZED = "unauthorized"  # 401, no body: the access token "expired"
    WRONG_REGION = "wrong_region"  # 421, body names the right base URL
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    UNAVAILABLE = "unavailable"  # 503
    LATENCY = "latency"  # answers normally, late (real seconds: it exercises HTTP timeouts)


# People think in status codes; accept those too.
_ALIASES = {
    "401": FaultKind.UNAUTHORIZED,
    "421": FaultKind.WRONG_REGION,
    "429": FaultKind.RATE_LIMITED,
    "503": FaultKind.UNAVAILABLE,
}


@dataclass
class Fault:
    kind: FaultKind
    remaining: int | None = 1  # None: until cleared
    path_prefix: str | None = None  # matched against the request path, e.g. "/api/1/vehicles"
    retry_after_s: int = 30
    latency_s: float = 1.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build from the ``POST /_sim/faults`` body; raises ValueError with a readable message."""
        raw_kind = str(data.get("kind", ""))
        try:
            kind = _ALIASES.get(raw_kind) or FaultKind(raw_kind)
        except ValueError:
            choices = ", ".join([*(k.value for k in FaultKind), *_ALIASES])
            raise ValueError(f"kind must be one of {choices}") from None
        count = data.get("count", 1)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ValueError("count must be a positive integer or null (until cleared)")
        prefix = data.get("path_prefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith("/")):
            raise ValueError("path_prefix must be a path starting with /")
        retry_after = data.get("retry_after_s", 30)
        latency = data.get("latency_s", 1.0)
        if not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after_s must be a non-negative integer")
        if not isinstance(latency, int | float) or latency < 0:
            raise ValueError("latency_s must be a non-negative number")
        return cls(kind, count, prefix, retry_after, float(latency))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "remaining": self.remaining,
            "path_prefix": self.path_prefix,
            "retry_after_s": self.retry_after_s,
            "latency_s": self.latency_s,
        }


class FaultBoard:
    """Pending faults in the order they were added, plus the "down for good" switch.

    Not thread-safe on its own: ``TeslaSimulator`` holds its lock around every call.
    """

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.down = False

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()
        self.down = False

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault matching ``path``."""
        for fault in self.faults:
            if fault.path_prefix is None or path.startswith(fault.path_prefix):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"down": self.down, "faults": [f.as_dict() for f in self.faults]}
