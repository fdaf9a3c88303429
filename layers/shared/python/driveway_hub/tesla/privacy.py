"""The Tesla part of a user's data for export and erasure (``driveway_hub.auth.privacy.PersonalDataStore``).

Export: the linked account's status and region (never tokens), the vehicles, and the positions kept for
them (at most 30 days: they expire by TTL). Erasure (RETENTION_RULES: vehicles, tesla_accounts and
positions are deleted): the encrypted tokens, the vehicles, every position and tracking item of their
VINs. Idempotent: erasing twice finds nothing the second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from driveway_hub.data.vehicles import (
    POSITION_KEY_FLOOR,
    PositionRecord,
    TeslaAccountRecord,
    TrackRecord,
    VehicleRecord,
    VehicleRepository,
)


class TeslaPersonalData:
    section = "tesla"

    def __init__(self, vehicles: VehicleRepository | None = None):
        self._vehicles = vehicles or VehicleRepository()

    def export(self, user_id: str) -> dict[str, Any]:
        try:
            account = TeslaAccountRecord.get(user_id, consistent_read=True)
            account_view: dict[str, Any] | None = {
                "status": account.status, "region": account.region, "api_base_url": account.api_base_url,
                "scopes": account.scopes, "linked_at": account.linked_at, "unlinked_reason": account.unlinked_reason,
            }
        except DoesNotExist:
            account_view = None
        vehicles = self._vehicles.list_for(user_id)
        positions = {
            v.vin: [{"at": p.at, "lat": float(p.lat), "lng": float(p.lng), "source": p.source}
                    for p in PositionRecord.query(v.vin, PositionRecord.at > POSITION_KEY_FLOOR)]
            for v in vehicles
        }
        return {"account": account_view, "vehicles": [v.to_dict() for v in vehicles], "positions": positions}

    def erase(self, user_id: str, erased_at: datetime) -> None:
        vehicles = self._vehicles.list_for(user_id)
        for vehicle in vehicles:
            with PositionRecord.batch_write() as batch:
                for position in PositionRecord.query(vehicle.vin, PositionRecord.at > POSITION_KEY_FLOOR):
                    batch.delete(position)
            TrackRecord(vehicle.vin).delete()
        with VehicleRecord.batch_write() as batch:
            for vehicle in vehicles:
                batch.delete(vehicle)
        TeslaAccountRecord(user_id).delete()
