"""Fixtures that run the local cloud in-process (moto + gateway), with ports chosen by the OS so a
`make dev` on the default ports does not get in the way, and the instant clock so Wait states and
retries take no real time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 20) -> None:
    """Poll ``condition`` until it holds: the lifecycle, webhooks and moto run on their own threads, and a
    status is visible before the task that follows it (e.g. the settlement after EXPIRED) has run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[LocalCloud]:
    # Module scope: moto runs once per process, and a few modules start their own MotoCloud.
    with LocalCloud(clock=VirtualClock.instant(), ports=Ports.ephemeral()) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> str:
    """Base URL of the REST API stage, e.g. http://127.0.0.1:PORT/v1."""
    return str(local_cloud.urls["rest"])


def register_and_login(api: str, role: str = "driver") -> dict[str, str]:
    """A fresh user through the real auth routes; returns ``{"user_id", "email", "access_token"}``."""
    import uuid

    import requests

    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    password = "Correct-Horse-42"
    created = requests.post(f"{api}/auth/register", timeout=10,
                            json={"email": email, "password": password, "name": f"Test {role}", "role": role})
    assert created.status_code == 201, created.text
    tokens = requests.post(f"{api}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert tokens.status_code == 200, tokens.text
    return {"user_id": created.json()["user_id"], "email": email, "access_token": tokens.json()["access_token"]}


@pytest.fixture(scope="module")
def driver(api: str) -> dict[str, str]:
    return register_and_login(api, "driver")


@pytest.fixture(scope="module")
def host(api: str) -> dict[str, str]:
    return register_and_login(api, "host")
