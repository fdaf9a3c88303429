"""Request models for the driveway routes, validated by Powertools before a handler runs.

Errors come back as 400 with each field named (``body.location.lat``, ``body.amenities.2``...) by
``driveway_hub.http``. The semantic checks (known time zone, supported currency, weekly windows that
neither overlap nor run backwards) call the domain's own validators, so the edge and the domain can
never disagree; the domain checks again for callers that do not come through HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from driveway_hub.domain import availability
from driveway_hub.domain.availability import AvailabilityError
from driveway_hub.domain.driveways import AMENITIES, GEOFENCE_RANGE_M
from driveway_hub.domain.pricing import CURRENCIES
from driveway_hub.errors import InvalidInput

MAX_MINOR_UNITS = 99_999_999  # Stripe's largest charge: a higher rate could never be paid


def _known_amenity(value: str) -> str:
    if value not in AMENITIES:
        raise ValueError(f"unknown amenity {value!r}; known: {', '.join(sorted(AMENITIES))}")
    return value


def _known_timezone(value: str) -> str:
    try:
        availability.zone(value)
    except AvailabilityError as exc:
        raise ValueError(exc.message) from exc
    return value


Amenity = Annotated[str, AfterValidator(_known_amenity)]
Timezone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_timezone)]
MinorUnits = Annotated[StrictInt, Field(gt=0, le=MAX_MINOR_UNITS)]
# Same as domain.driveways.VEHICLE_SIZES (a unit test keeps them equal).
VehicleSizeIn = Literal["compact", "standard", "large"]
HHMM = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$")]


class _Strict(BaseModel):
    # Unknown fields are refused: a misspelt field must not be silently dropped.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddressIn(_Strict):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")


class LocationIn(_Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


class PricingIn(_Strict):
    currency: str
    hourly_cents: MinorUnits
    daily_cents: MinorUnits | None = None
    monthly_cents: MinorUnits | None = None

    @field_validator("currency")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value.lower() not in CURRENCIES:
            raise ValueError(f"must be one of {', '.join(sorted(CURRENCIES))}")
        return value.lower()


class WindowIn(_Strict):
    day: StrictInt = Field(ge=0, le=6, description="0 = Monday")
    start: HHMM
    end: HHMM


class AvailabilityIn(_Strict):
    weekly: list[WindowIn] = Field(min_length=1, max_length=availability.MAX_WEEKLY_WINDOWS)

    @field_validator("weekly")
    @classmethod
    def _no_overlap(cls, value: list[WindowIn]) -> list[WindowIn]:
        try:
            availability.parse_weekly([w.model_dump() for w in value])
        except AvailabilityError as exc:
            raise ValueError(exc.message) from exc
        return value


class _ListingFields(_Strict):
    title: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    address: AddressIn
    location: LocationIn
    timezone: Timezone
    vehicle_size: VehicleSizeIn
    amenities: list[Amenity] = Field(default_factory=list, max_length=len(AMENITIES))
    pricing: PricingIn
    instant_book: StrictBool = False
    availability: AvailabilityIn
    geofence_radius_m: StrictInt | None = Field(default=None, ge=GEOFENCE_RANGE_M[0], le=GEOFENCE_RANGE_M[1])


class CreateDrivewayRequest(_ListingFields):
    """``POST /driveways``."""

    def as_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class UpdateDrivewayRequest(_Strict):
    """``PATCH /driveways/{id}``: any subset of the listing fields; each replaces the stored one."""

    title: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    address: AddressIn | None = None
    location: LocationIn | None = None
    timezone: Timezone | None = None
    vehicle_size: VehicleSizeIn | None = None
    amenities: list[Amenity] | None = Field(default=None, max_length=len(AMENITIES))
    pricing: PricingIn | None = None
    instant_book: StrictBool | None = None
    availability: AvailabilityIn | None = None
    geofence_radius_m: StrictInt | None = Field(default=None, ge=GEOFENCE_RANGE_M[0], le=GEOFENCE_RANGE_M[1])

    def as_changes(self) -> dict[str, Any]:
        # Only what the client sent; an explicit null reaches the domain, which refuses it by name.
        return self.model_dump(exclude_unset=True)


class BlackoutRequest(_Strict):
    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = Field(default=None, max_length=200)


# Same set as domain.driveways.PHOTO_CONTENT_TYPES (a unit test keeps them equal).
PhotoContentType = Literal["image/jpeg", "image/png", "image/webp"]


class PhotoUploadRequest(_Strict):
    content_type: PhotoContentType = "image/jpeg"


class QuoteRequest(_Strict):
    driveway_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    end: AwareDatetime


@contextmanager
def fields_in(location: str) -> Iterator[None]:
    """Name the domain's field errors the way the edge names pydantic's: ``end`` becomes ``query.end``
    or ``body.end``, so a client sees one naming scheme whichever layer refused the value."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field is None:
            raise
        raise InvalidInput(exc.message, field=f"{location}.{exc.field}", code=exc.code) from exc
