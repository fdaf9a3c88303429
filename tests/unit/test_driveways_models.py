"""The edge's request models for the driveway routes agree with the domain's rules."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import ValidationError

from driveway_hub.domain import driveways as dw
from driveway_hub.errors import InvalidInput
from functions.driveways.models import (
    CreateDrivewayRequest,
    PhotoContentType,
    UpdateDrivewayRequest,
    VehicleSizeIn,
    fields_in,
)

LISTING: dict[str, Any] = {
    "title": "Driveway",
    "address": {"line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "78701", "country": "us"},
    "location": {"lat": 30.1, "lng": -97.7},
    "timezone": "America/Chicago",
    "vehicle_size": "compact",
    "pricing": {"currency": "USD", "hourly_cents": 300},
    "availability": {"weekly": [{"day": 5, "start": "22:00", "end": "06:00"}]},
}


def locations(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in error["loc"]) for error in exc.errors()]


def test_the_literal_sets_match_the_domain() -> None:
    assert typing.get_args(VehicleSizeIn) == dw.VEHICLE_SIZES
    assert set(typing.get_args(PhotoContentType)) == dw.PHOTO_CONTENT_TYPES


def test_a_valid_listing_passes_the_edge_and_the_domain_alike() -> None:
    request = CreateDrivewayRequest.model_validate(LISTING)
    fields = request.as_fields()

    assert fields["pricing"]["currency"] == "usd"
    assert "amenities" not in fields  # defaults are the domain's to apply
    assert dw._listing_fields(fields, partial=False)["rates"].currency == "usd"


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"location": {"lat": 90.5, "lng": 0}}, "location.lat"),
        ({"amenities": ["covered", "pool"]}, "amenities.1"),
        ({"pricing": {"currency": "usd", "hourly_cents": "300"}}, "pricing.hourly_cents"),
        ({"pricing": {"currency": "usd", "hourly_cents": 300, "monthly_cents": 10**9}}, "pricing.monthly_cents"),
        ({"instant_book": "yes"}, "instant_book"),
        ({"availability": {"weekly": [{"day": 5, "start": "22:00", "end": "06:00"},
                                      {"day": 6, "start": "05:00", "end": "07:00"}]}}, "availability.weekly"),
        ({"availability": {"weekly": [{"day": 1, "start": "9:00", "end": "12:00"}]}},
         "availability.weekly.0.start"),
        ({"timezone": "CST"}, "timezone"),
    ],
)
def test_the_edge_names_the_offending_field(change: dict[str, Any], location: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CreateDrivewayRequest.model_validate(LISTING | change)
    assert location in locations(refused.value)


def test_a_patch_carries_only_what_was_sent() -> None:
    assert UpdateDrivewayRequest.model_validate({"title": "New"}).as_changes() == {"title": "New"}
    assert UpdateDrivewayRequest.model_validate({"description": None}).as_changes() == {"description": None}
    with pytest.raises(ValidationError):
        UpdateDrivewayRequest.model_validate({"host_id": "me"})


def test_domain_field_errors_are_renamed_to_their_request_location() -> None:
    with pytest.raises(InvalidInput) as refused, fields_in("query"):
        raise InvalidInput("end must be after start", field="end")
    assert refused.value.field == "query.end"
    assert refused.value.details == [{"field": "query.end", "message": "end must be after start"}]
