"""boto3 clients, created lazily once per process and reused across invocations.

boto3 itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how the local cloud points
every client at moto without any special casing here.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any


def client(service: str, endpoint_url: str | None = None) -> Any:
    """A cached client for ``service``. The cache is keyed by the effective endpoint so a process whose
    AWS_ENDPOINT_URL changes (the local cloud restarting moto between test modules) gets a fresh client."""
    return _client(service, endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))


@cache
def _client(service: str, endpoint_url: str | None) -> Any:
    import boto3  # imported on first use so modules that never touch AWS don't pay for it
    from botocore.config import Config

    # Bounded retries with AWS's adaptive backoff: throttling is retried, then surfaces as an error.
    # 32 pooled connections: a radius search runs up to 17 Queries in parallel (domain/geo.py).
    config = Config(retries={"max_attempts": 4, "mode": "adaptive"}, connect_timeout=3, read_timeout=10,
                    max_pool_connections=32)
    return boto3.session.Session().client(service, endpoint_url=endpoint_url, config=config)
