"""Injected API failures, so the backend's retries and idempotency handling meet real failure modes."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Literal

FaultMode = Literal["error", "hang"]


@dataclass
class FaultRule:
    """The next `count` calls matching `match` (fnmatch over "METHOD /path") fail.

    * mode "error": answer `status` (500/502/503 → api_error, 429 → rate limit). With `after_execute`
      the request runs first and its result is saved for idempotent replay, then the answer is lost:
      a retry with the same key must get the saved result, not a second object.
    * mode "hang": wait `hang_s` real seconds (HTTP timeouts are real time) before answering; with
      `after_execute` the work is done first, so a client that gave up finds it done on retry.
    `should_retry` sets the `Stripe-Should-Retry` header, which the library obeys over its own rules.
    """

    match: str
    count: int = 1
    status: int = 500
    mode: FaultMode = "error"
    hang_s: float = 2.0
    after_execute: bool = False
    should_retry: bool | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        mode = data.get("mode", "error")
        if mode not in ("error", "hang"):
            raise ValueError(f"fault mode must be 'error' or 'hang', not {mode!r}")
        should_retry = data.get("should_retry")
        return cls(
            match=str(data["match"]),
            count=int(data.get("count", 1)),
            status=int(data.get("status", 500)),
            mode=mode,
            hang_s=float(data.get("hang_s", 2.0)),
            after_execute=bool(data.get("after_execute", False)),
            should_retry=None if should_retry is None else bool(should_retry),
        )

    def to_json(self) -> dict[str, Any]:
        return {"match": self.match, "count": self.count, "status": self.status, "mode": self.mode,
                "hang_s": self.hang_s, "after_execute": self.after_execute, "should_retry": self.should_retry}


class FaultInjector:
    """Armed rules, consumed first-armed first. Callers hold the fake's lock."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def arm(self, rule: FaultRule) -> None:
        if rule.count > 0:
            self.rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        target = f"{method.upper()} {path}"
        for rule in self.rules:
            if fnmatch.fnmatchcase(target, rule.match):
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                return rule
        return None
