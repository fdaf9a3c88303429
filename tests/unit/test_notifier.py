"""The notifier prunes a connection that answers 410 Gone, but not one whose $connect may still be
completing (API Gateway answers 410 to posts made before the socket is established)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from driveway_hub.adapters import notifier
from driveway_hub.adapters.notifier import CONNECTING_GRACE, WebSocketNotifier
from driveway_hub.clock import utcnow


class FakeConnections:
    def __init__(self, connected_at: dict[str, datetime]) -> None:
        self.connected_at = connected_at

    def for_user(self, user_id: str) -> list[str]:
        return sorted(self.connected_at)

    def delete_if_connected_before(self, connection_id: str, cutoff: datetime) -> bool:
        if self.connected_at[connection_id] >= cutoff:
            return False
        del self.connected_at[connection_id]
        return True


def test_a_gone_connection_is_pruned_but_one_still_connecting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    connections = FakeConnections({"old": now - CONNECTING_GRACE - timedelta(seconds=1), "new": now})
    sent: list[str] = []

    def gone(_endpoint: str, connection_id: str, _payload: dict[str, Any]) -> bool:
        sent.append(connection_id)
        return False  # 410 for both

    monkeypatch.setattr(notifier, "send", gone)
    delivered = WebSocketNotifier("http://gateway", connections).publish(["u1"], {"type": "x"})  # type: ignore[arg-type]
    assert delivered == 0 and sent == ["new", "old"]
    assert list(connections.connected_at) == ["new"]
