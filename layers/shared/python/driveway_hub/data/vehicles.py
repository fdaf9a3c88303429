"""Vehicles, linked Tesla accounts, vehicle positions and per-VIN telemetry tracking state.

Tables (declared in ``driveway_hub.data.tables``):

- ``vehicles`` (user_id, vehicle_id; GSI ``by_vin``): the owner's cars as last listed from Tesla, with
  what pairing needs and the bounded-wake bookkeeping of a pending navigation.
- ``tesla_accounts`` (user_id): the encrypted token bundle and its ``token_version`` (the refresh
  protocol's single-writer condition, see ``driveway_hub.tesla.token_store``), the regional base URL,
  and the pending OAuth nonce that makes a callback single-use.
- ``positions`` (vin, at; TTL ``expires_at``): one item per accepted fix, ``at`` a fixed-width UTC
  timestamp so lexical order is time order; plus ONE tracking item per VIN under ``at = "#track"``
  ("#" sorts before every digit, so "newest position" queries skip it with ``at > "0"``). The tracking
  item holds the detector's state as JSON and a ``version`` for conditional writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from driveway_hub.data.base import TableModel
from driveway_hub.tesla.geofence import DEFAULT_RADIUS_M, Geofence
from driveway_hub.tesla.telemetry import Fix, TrackState

TRACK_SORT_KEY = "#track"
# Fixes are stored with this sort key format; "0" is below every such key and above "#track".
POSITION_KEY_FLOOR = "0"
# Location retention (architecture.md, privacy): positions expire 30 days after the fix.
POSITION_TTL = timedelta(days=30)


def position_key(at: datetime) -> str:
    """Fixed-width UTC timestamp with milliseconds: lexical order is time order."""
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_position_key(key: str) -> datetime:
    return datetime.fromisoformat(key.replace("Z", "+00:00"))


def expires_at(at: datetime, ttl: timedelta = POSITION_TTL) -> int:
    return int((at + ttl).timestamp())


class VehiclesByVin(GlobalSecondaryIndex["VehicleRecord"]):
    class Meta:
        index_name = "by_vin"
        projection = AllProjection()

    vin = UnicodeAttribute(hash_key=True)


class VehicleRecord(TableModel):
    logical_id = "vehicles"

    user_id = UnicodeAttribute(hash_key=True)
    vehicle_id = UnicodeAttribute(range_key=True)  # Tesla's numeric ``id`` as a string: opaque to clients
    vin = UnicodeAttribute()
    display_name = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)  # online | asleep | offline, as last seen
    key_paired = BooleanAttribute(null=True)
    command_protocol_required = BooleanAttribute(null=True)
    firmware_version = UnicodeAttribute(null=True)
    synced_at = UnicodeAttribute()
    # Bounded waking for navigation (driveway_hub.tesla.vehicles.send_navigation).
    wake_started_at = NumberAttribute(null=True)
    wake_posted_at = NumberAttribute(null=True)
    wake_posts = NumberAttribute(null=True)

    by_vin = VehiclesByVin()

    def to_dict(self) -> dict[str, Any]:
        return {
            "vehicle_id": self.vehicle_id,
            "vin": self.vin,
            "display_name": self.display_name,
            "state": self.state,
            "key_paired": self.key_paired,
            "command_protocol_required": self.command_protocol_required,
            "firmware_version": self.firmware_version,
            "synced_at": self.synced_at,
        }


class TeslaAccountRecord(TableModel):
    logical_id = "tesla_accounts"

    user_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(default="pending")  # pending | linked | unlinked
    # Envelope encryption (driveway_hub.tesla.token_store.KmsTokenCipher): never plaintext at rest.
    token_ciphertext = BinaryAttribute(null=True, legacy_encoding=False)
    token_data_key = BinaryAttribute(null=True, legacy_encoding=False)
    token_nonce = BinaryAttribute(null=True, legacy_encoding=False)
    token_version = NumberAttribute(default=0)
    access_expires_at = NumberAttribute(null=True)  # unix seconds
    api_base_url = UnicodeAttribute(null=True)
    region = UnicodeAttribute(null=True)
    scopes = UnicodeAttribute(null=True)
    linked_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    unlinked_reason = UnicodeAttribute(null=True)
    # The connect request's nonce (a hash of it): the callback must match it, once.
    pending_state_hash = UnicodeAttribute(null=True)
    pending_state_expires_at = NumberAttribute(null=True)
    # Single-writer refresh: a short lease taken with a condition on token_version.
    refresh_claim = UnicodeAttribute(null=True)
    refresh_claim_until = NumberAttribute(null=True)


class PositionRecord(TableModel):
    logical_id = "positions"

    vin = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)
    lat = NumberAttribute()
    lng = NumberAttribute()
    heading = NumberAttribute(null=True)
    speed_mph = NumberAttribute(null=True)
    gear = UnicodeAttribute(null=True)
    source = UnicodeAttribute(default="telemetry")  # telemetry | vehicle_data
    expires_at = NumberAttribute()


class TrackRecord(TableModel):
    """The detector's state for one VIN (same table as positions, sort key ``#track``)."""

    logical_id = "positions"

    vin = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True, default=TRACK_SORT_KEY)
    state = UnicodeAttribute()  # JSON of driveway_hub.tesla.telemetry.TrackState
    version = NumberAttribute()
    expires_at = NumberAttribute()


# === repositories ====================================================================================

_CONDITION_FAILED = "ConditionalCheckFailedException"


class VehicleRepository:
    """The owner's vehicles. Reads by (user, vehicle) key, so ownership is part of every lookup."""

    def get(self, user_id: str, vehicle_id: str) -> VehicleRecord | None:
        try:
            return VehicleRecord.get(user_id, vehicle_id, consistent_read=True)
        except DoesNotExist:
            return None

    def list_for(self, user_id: str) -> list[VehicleRecord]:
        return list(VehicleRecord.query(user_id, consistent_read=True))

    def find_by_vin(self, user_id: str, vin: str) -> VehicleRecord | None:
        return next((v for v in self.list_for(user_id) if v.vin == vin), None)

    def replace_for(self, user_id: str, vehicles: Iterable[VehicleRecord], now: datetime) -> list[VehicleRecord]:
        """Store what Tesla listed; cars no longer on the account are removed."""
        keep = {v.vehicle_id for v in vehicles}
        with VehicleRecord.batch_write() as batch:
            for vehicle in vehicles:
                vehicle.synced_at = now.isoformat()
                batch.save(vehicle)
            for old in self.list_for(user_id):
                if old.vehicle_id not in keep:
                    batch.delete(old)
        return sorted(vehicles, key=lambda v: v.vehicle_id)

    def record_state(self, vehicle: VehicleRecord, state: str) -> None:
        if vehicle.state != state:
            vehicle.update(actions=[VehicleRecord.state.set(state)])

    def record_wake(self, vehicle: VehicleRecord, *, started_at: int | None, posted_at: int | None,
                    posts: int) -> None:
        """Bounded waking bookkeeping; None values are removed (navigation sent, or gave up)."""
        actions: list[Any] = []
        for attribute, value in ((VehicleRecord.wake_started_at, started_at),
                                 (VehicleRecord.wake_posted_at, posted_at),
                                 (VehicleRecord.wake_posts, posts or None)):
            actions.append(attribute.remove() if value is None else attribute.set(value))
        vehicle.update(actions=actions)


class DynamoPositionStore:
    """``PositionStore``: one item per fix, 30-day TTL, newest first by sort key."""

    def put(self, fixes: Sequence[Fix], source: str = "telemetry") -> None:
        with PositionRecord.batch_write() as batch:
            for fix in fixes:
                batch.save(PositionRecord(
                    fix.vin, position_key(fix.at), lat=fix.lat, lng=fix.lng, heading=fix.heading,
                    speed_mph=fix.speed_mph, gear=fix.gear, source=source, expires_at=expires_at(fix.at),
                ))

    def newest(self, vin: str) -> Fix | None:
        for record in PositionRecord.query(vin, PositionRecord.at > POSITION_KEY_FLOOR, scan_index_forward=False,
                                           limit=1):
            return Fix(vin, parse_position_key(record.at), float(record.lat), float(record.lng),
                       _float(record.heading), _float(record.speed_mph), record.gear)
        return None

    def delete_all(self, vin: str) -> int:
        count = 0
        with PositionRecord.batch_write() as batch:
            for record in PositionRecord.query(vin):
                batch.delete(record)
                count += 1
        return count


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class DynamoTrackStore:
    """``TrackStore``: the detector's state per VIN, written only on the version it read."""

    def load(self, vin: str) -> tuple[TrackState, int] | None:
        try:
            record = TrackRecord.get(vin, TRACK_SORT_KEY, consistent_read=True)
        except DoesNotExist:
            return None
        return TrackState.from_json(record.state), int(record.version)

    def save(self, state: TrackState, expected_version: int | None, expires_at: int) -> bool:
        version = (expected_version or 0) + 1
        record = TrackRecord(state.vin, TRACK_SORT_KEY, state=state.to_json(), version=version, expires_at=expires_at)
        condition = (TrackRecord.vin.does_not_exist() if expected_version is None
                     else TrackRecord.version == expected_version)
        try:
            record.save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True


@dataclass(frozen=True)
class Place:
    """Where a driveway is, for navigation and the geofence."""

    lat: float | None
    lng: float | None
    radius_m: float
    address: str | None

    @property
    def geofence(self) -> Geofence | None:
        if self.lat is None or self.lng is None:
            return None
        return Geofence(self.lat, self.lng, self.radius_m)


class DrivewayPlaces:
    """Reads a driveway's location, geofence radius and address (the driveways feature owns the table;
    this reader accepts ``location: {lat, lng}`` as in the API contract, or top-level ``lat``/``lng``)."""

    def __init__(self, dynamodb: Any, table_name: str):
        self._dynamodb = dynamodb
        self._table = table_name
        self._cache: dict[str, Place | None] = {}

    def place(self, driveway_id: str) -> Place | None:
        if driveway_id in self._cache:
            return self._cache[driveway_id]
        answer = self._dynamodb.get_item(TableName=self._table, Key={"driveway_id": {"S": driveway_id}})
        item = answer.get("Item")
        place = _place_from_item(deserialize_item(item)) if item else None
        self._cache[driveway_id] = place
        return place

    def geofence(self, driveway_id: str) -> Geofence | None:
        place = self.place(driveway_id)
        return place.geofence if place else None


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer  # boto3 is in the Lambda runtime

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item.items()}


def _place_from_item(item: Mapping[str, Any]) -> Place:
    nested = item.get("location")
    location: Mapping[str, Any] = nested if isinstance(nested, Mapping) else item
    lat = location.get("lat", location.get("latitude"))
    lng = location.get("lng", location.get("lon", location.get("longitude")))
    radius = item.get("geofence_radius_m") or DEFAULT_RADIUS_M
    address = item.get("address")
    if isinstance(address, Mapping):
        locality = " ".join(str(p) for p in (address.get("region"), address.get("postal_code")) if p)
        parts = [address.get("line1"), address.get("line2"), address.get("city"), locality, address.get("country")]
        address = ", ".join(str(p) for p in parts if p)
    return Place(
        lat=float(lat) if lat is not None else None,
        lng=float(lng) if lng is not None else None,
        radius_m=float(radius),
        address=str(address) if address else None,
    )


def set_profile_tesla_linked(user_id: str, linked: bool) -> None:
    """Keep the profile's ``tesla_linked`` flag (a claim the app reads) in step with the account."""
    from driveway_hub.data.users import UserRecord  # the identity feature's model

    try:
        UserRecord(user_id).update(actions=[UserRecord.tesla_linked.set(linked)],
                                   condition=UserRecord.user_id.exists())
    except UpdateError as exc:
        if exc.cause_response_code != _CONDITION_FAILED:
            raise
