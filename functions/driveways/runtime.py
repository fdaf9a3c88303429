"""Wiring: the driveway services with their real collaborators, built once per warm container.

Factories take the (frozen, hashable) settings, so a test that changes the environment and clears
``get_settings`` gets collaborators bound to the new configuration. The data layer (PynamoDB) is
imported by the factories, on first use, not at cold start (issue #8).
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from driveway_hub import clock
from driveway_hub.config import Settings
from driveway_hub.domain.driveways import DrivewayService

if TYPE_CHECKING:
    from driveway_hub.data.driveways import DynamoCalendarReader, DynamoDrivewayStore, S3PhotoStore


def new_id() -> str:
    return str(uuid.uuid4())


def store(settings: Settings) -> DynamoDrivewayStore:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.driveways import DynamoDrivewayStore

    bind_models(settings)
    return DynamoDrivewayStore()


@lru_cache(maxsize=4)
def calendars(settings: Settings) -> DynamoCalendarReader:
    from driveway_hub.data.base import bind_models
    from driveway_hub.data.bookings import BookingRepository
    from driveway_hub.data.driveways import DynamoCalendarReader

    bind_models(settings)
    return DynamoCalendarReader(BookingRepository(settings.region, settings.aws_endpoint_url))


@lru_cache(maxsize=4)
def _s3(region: str, endpoint_url: str | None) -> Any:
    import boto3  # only the photo routes pay for an S3 client
    from botocore.config import Config

    # SigV4 for presigned POSTs and GETs (SigV2 is deprecated and refused by newer regions).
    config = Config(signature_version="s3v4", retries={"max_attempts": 4, "mode": "adaptive"},
                    connect_timeout=3, read_timeout=10)
    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


def photos(settings: Settings) -> S3PhotoStore | None:
    """None when the function has no photo bucket (routes that do not declare the photos use)."""
    if not settings.photo_bucket:
        return None
    from driveway_hub.data.driveways import S3PhotoStore

    return S3PhotoStore(_s3(settings.region, settings.aws_endpoint_url), settings.photo_bucket, clock.utcnow)


def driveway_service(settings: Settings) -> DrivewayService:
    return DrivewayService(store=store(settings), photos=photos(settings), clock=clock.utcnow, new_id=new_id)
