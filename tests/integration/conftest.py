"""Fixtures that run the local cloud in-process (moto + gateway), with ports chosen by the OS so a
`make dev` on the default ports does not get in the way, and the instant clock so Wait states and
retries take no real time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[LocalCloud]:
    # Module scope: moto runs once per process, and a few modules start their own MotoCloud.
    with LocalCloud(clock=VirtualClock.instant(), ports=Ports.ephemeral()) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> str:
    """Base URL of the REST API stage, e.g. http://127.0.0.1:PORT/v1."""
    return str(local_cloud.urls["rest"])
