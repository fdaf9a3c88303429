"""The vehicle endpoints' domain: list, status, location, navigate, autopark; and the Tesla side of
the booking lifecycle's navigation and parking tasks (``navigate_to_driveway``, ``request_parking``).

Who may do what: a vehicle is looked up by (caller, vehicle id), so only its owner ever reaches it
(anyone else gets 404, which does not reveal that it exists). Commands also need a booking of the
caller's that is live (paid, not finished) and is for this car; a booking without a car gets this one.

Costs (research/tesla.md: data requests cost 2x commands, wakes 20x): status and location prefer the
telemetry we already have, and fall back to ONE ``vehicle_data`` call that never wakes the car.
Navigation wakes a sleeping car with bounded wake calls: one ``wake_up`` at most every
``WAKE_REPOST_S`` (as Tesla's SDK re-posts), for at most ``WAKE_GIVE_UP_S``; in between the caller
(the lifecycle's Retry on ``VehicleAsleep``, or the app on a 202 ``waking``) comes back later. Nothing
here sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from driveway_hub.adapters.notifier import NotifierPort, live_event
from driveway_hub.auth.permissions import Principal
from driveway_hub.data.vehicles import DrivewayPlaces, VehicleRecord, VehicleRepository
from driveway_hub.domain.booking_status import Status
from driveway_hub.errors import Conflict, InvalidState, NotFound, NotOwner
from driveway_hub.observability import logger
from driveway_hub.tesla.errors import TeslaNotLinked, VehicleAsleep, VehicleUnavailable
from driveway_hub.tesla.fleet_client import TeslaFleetClient
from driveway_hub.tesla.geofence import maps_url
from driveway_hub.tesla.parking import ParkingPort
from driveway_hub.tesla.telemetry import Fix, PositionStore, TrackStore

# A booking the driver may send their car to or park for: paid and not over.
ACTIVE_FOR_VEHICLE = frozenset({Status.CONFIRMED, Status.EN_ROUTE, Status.ARRIVED, Status.PARKING, Status.PARKED})
WAKE_REPOST_S = 10
WAKE_GIVE_UP_S = 90
# A wake attempt older than this is an abandoned one: start counting again.
WAKE_FORGET_S = 600
LOCATION_FRESH_S = 300
STATUS_FRESH_S = 120


class BookingAccess(Protocol):
    def get(self, booking_id: str, *, consistent: bool = False) -> Any: ...

    def update_fields(self, booking: Any, now: datetime, **fields: Any) -> Any: ...


def vehicle_view(vehicle: VehicleRecord, pairing_url: str | None) -> dict[str, Any]:
    needs_pairing = vehicle.key_paired is False
    return {
        "vehicle_id": vehicle.vehicle_id,
        "vin": vehicle.vin,
        "display_name": vehicle.display_name,
        "state": vehicle.state,
        "key_paired": vehicle.key_paired,
        "needs_pairing": needs_pairing,
        "pairing_url": pairing_url if needs_pairing else None,
        "command_protocol_required": vehicle.command_protocol_required,
    }


def sync_vehicles(fleet: TeslaFleetClient, vehicles: VehicleRepository, user_id: str, now: datetime,
                  pairing_url: str | None) -> list[dict[str, Any]]:
    """Re-list the account's cars from Tesla (1 data request, +1 ``fleet_status`` when there are cars)."""
    listed = fleet.list_vehicles()
    status = fleet.fleet_status([v.vin for v in listed]) if listed else None
    records = [
        VehicleRecord(
            user_id, str(v.id), vin=v.vin, display_name=v.display_name, state=v.state,
            key_paired=(v.vin in status.key_paired_vins) if status else None,
            command_protocol_required=status.protocol_required.get(v.vin) if status else None,
            firmware_version=status.firmware_version.get(v.vin) if status else None,
            synced_at=now.isoformat(),
        )
        for v in listed
    ]
    return [vehicle_view(v, pairing_url) for v in vehicles.replace_for(user_id, records, now)]


@dataclass
class VehicleService:
    vehicles: VehicleRepository
    bookings: BookingAccess
    places: DrivewayPlaces
    positions: PositionStore
    tracks: TrackStore
    fleet_for: Callable[[str], TeslaFleetClient]
    notifier: NotifierPort
    parking: ParkingPort
    clock: Callable[[], datetime]
    pairing_url: str | None = None
    linked: Callable[[str], bool] = lambda _user_id: True

    # ---- reads -------------------------------------------------------------------------------------
    def list(self, principal: Principal, *, sync: bool) -> dict[str, Any]:
        user_id = principal.user_id
        if sync:
            if not self.linked(user_id):
                raise TeslaNotLinked("No Tesla account is linked; link one with GET /v1/tesla/connect.")
            items = sync_vehicles(self.fleet_for(user_id), self.vehicles, user_id, self.clock(), self.pairing_url)
        else:
            items = [vehicle_view(v, self.pairing_url) for v in self.vehicles.list_for(user_id)]
        # A person has a handful of cars: one page, always.
        return {"items": items, "next_cursor": None}

    def status(self, principal: Principal, vehicle_id: str) -> dict[str, Any]:
        vehicle = self._owned(principal, vehicle_id)
        fleet = self.fleet_for(principal.user_id)
        now = self.clock()
        state = fleet.vehicle(vehicle.vin).state  # cheap, never wakes the car
        self.vehicles.record_state(vehicle, state)
        answer: dict[str, Any] = {
            "vehicle_id": vehicle.vehicle_id, "vin": vehicle.vin, "display_name": vehicle.display_name,
            "state": state, "shift_state": None, "speed_mph": None, "battery_level": None, "at": None,
            "source": None,
        }
        loaded = self.tracks.load(vehicle.vin)
        track = loaded[0] if loaded else None
        if track is not None and track.last_record_at is not None:
            answer.update(shift_state=track.signal("Gear"), speed_mph=track.signal("VehicleSpeed"),
                          at=track.last_record_at.isoformat(), source="telemetry")
        stale = track is None or track.last_record_at is None or \
            (now - track.last_record_at).total_seconds() > STATUS_FRESH_S
        if state == "online" and stale:
            try:
                data = fleet.vehicle_data(vehicle.vin, ["charge_state", "drive_state"])
            except VehicleAsleep:
                return answer  # fell asleep in between: what we know is all there is
            drive = data.drive_state
            answer.update(battery_level=data.battery_level, source="vehicle_data", at=now.isoformat())
            if drive is not None:
                answer.update(shift_state=drive.shift_state, speed_mph=drive.speed_mph,
                              at=(drive.at or now).isoformat())
        return answer

    def location(self, principal: Principal, vehicle_id: str) -> dict[str, Any]:
        vehicle = self._owned(principal, vehicle_id)
        now = self.clock()
        newest = self.positions.newest(vehicle.vin)
        if newest is not None and (now - newest.at).total_seconds() <= LOCATION_FRESH_S:
            return _location_view(newest, "telemetry", stale=False)
        fleet = self.fleet_for(principal.user_id)
        try:
            data = fleet.vehicle_data(vehicle.vin, ["location_data"])
        except VehicleAsleep:
            if newest is not None:
                return _location_view(newest, "telemetry", stale=True)
            raise
        drive = data.drive_state
        if drive is not None and drive.latitude is not None and drive.longitude is not None:
            fix = Fix(vehicle.vin, drive.at or now, drive.latitude, drive.longitude, drive.heading,
                      drive.speed_mph, drive.shift_state)
            self.positions.put([fix], source="vehicle_data")
            return _location_view(fix, "vehicle_data", stale=False)
        if newest is not None:
            return _location_view(newest, "telemetry", stale=True)
        raise NotFound("The car's location is not known (is the vehicle_location scope granted?).",
                       code="location_unknown")

    # ---- commands ----------------------------------------------------------------------------------
    def navigate(self, principal: Principal, vehicle_id: str, booking_id: str) -> dict[str, Any]:
        vehicle = self._owned(principal, vehicle_id)
        booking = self._booking_for(principal, booking_id, vehicle)
        outcome = self.send_navigation(self.fleet_for(principal.user_id), vehicle,
                                       self._destination(booking.driveway_id))
        return {"booking_id": booking.booking_id, "vehicle_id": vehicle.vehicle_id, **outcome}

    # ---- the booking lifecycle's tasks (functions/workflow/navigate.py, request_parking.py) --------
    def navigate_to_driveway(self, booking: Any) -> dict[str, Any]:
        """Send the booking's car to its driveway. Raises VehicleAsleep while the car wakes (the state
        machine's Retry comes back), VehicleUnavailable when it would not wake, TeslaNotLinked or
        NotFound ``no_vehicle`` when there is no car to send (its Catch: "drive there yourself")."""
        vehicle = self._vehicle_of(booking)
        outcome = self.send_navigation(self.fleet_for(booking.driver_id), vehicle,
                                       self._destination(booking.driveway_id))
        if outcome["status"] == "waking":
            raise VehicleAsleep("The car is waking up; navigation follows.", retry_after_s=WAKE_REPOST_S)
        return outcome

    def request_parking(self, booking: Any) -> dict[str, Any]:
        """The parking port's answer for the booking's car (the caller announces ``parking.requested``)."""
        vehicle = self._vehicle_of(booking)
        return self.parking.request_parking(vehicle.vin, self.fleet_for(booking.driver_id)).to_dict()

    def _vehicle_of(self, booking: Any) -> VehicleRecord:
        vehicle = None
        if booking.vehicle_id:
            vehicle = self.vehicles.get(booking.driver_id, booking.vehicle_id)
        elif booking.vin:
            vehicle = self.vehicles.find_by_vin(booking.driver_id, booking.vin)
        if vehicle is None:
            raise NotFound("The booking has no vehicle of the driver's.", code="no_vehicle")
        if not self.linked(booking.driver_id):
            raise TeslaNotLinked("The driver's Tesla account is not linked.")
        return vehicle

    def send_navigation(self, fleet: TeslaFleetClient, vehicle: VehicleRecord, destination: str) -> dict[str, Any]:
        """Send ``destination``; a sleeping car is woken (bounded) and the caller told to come back.

        The command is tried first: a car that is online (the usual case) costs one command and no
        data request, and an asleep one answers 408, billed as a command, cheaper than a state check.
        While a wake is under way the cheap state poll comes first (Tesla: poll until online).
        """
        if vehicle.wake_started_at is not None:
            state = fleet.vehicle(vehicle.vin).state
            self.vehicles.record_state(vehicle, state)
            if state != "online":
                return self._wake(fleet, vehicle)
        try:
            result = fleet.navigation_request(vehicle.vin, destination)
        except VehicleAsleep:
            self.vehicles.record_state(vehicle, "asleep")
            return self._wake(fleet, vehicle)
        if vehicle.wake_started_at is not None:
            self.vehicles.record_wake(vehicle, started_at=None, posted_at=None, posts=0)
        self.vehicles.record_state(vehicle, "online")
        logger.info("navigation sent", extra={"vehicle_id": vehicle.vehicle_id, "queued": result.queued})
        return {"status": "sent", "queued": result.queued, "destination": destination}

    def _wake(self, fleet: TeslaFleetClient, vehicle: VehicleRecord) -> dict[str, Any]:
        now_s = int(self.clock().timestamp())
        started = int(vehicle.wake_started_at) if vehicle.wake_started_at is not None else None
        if started is None or now_s - started > WAKE_FORGET_S:
            started, posted, posts = now_s, None, 0
        else:
            posted = int(vehicle.wake_posted_at) if vehicle.wake_posted_at is not None else None
            posts = int(vehicle.wake_posts or 0)
        if now_s - started > WAKE_GIVE_UP_S:
            self.vehicles.record_wake(vehicle, started_at=None, posted_at=None, posts=0)
            raise VehicleUnavailable(f"The car did not wake within {WAKE_GIVE_UP_S} s.")
        if posted is None or now_s - posted >= WAKE_REPOST_S:
            fleet.wake_up(vehicle.vin)
            posted, posts = now_s, posts + 1
        self.vehicles.record_wake(vehicle, started_at=started, posted_at=posted, posts=posts)
        logger.info("vehicle waking for navigation", extra={"vehicle_id": vehicle.vehicle_id, "wake_posts": posts})
        return {"status": "waking", "retry_after_s": WAKE_REPOST_S, "wake_posts": posts}

    def autopark(self, principal: Principal, vehicle_id: str, booking_id: str) -> dict[str, Any]:
        vehicle = self._owned(principal, vehicle_id)
        booking = self._booking_for(principal, booking_id, vehicle)
        answer = self.parking.request_parking(vehicle.vin, self.fleet_for(principal.user_id))
        self.notifier.publish([booking.driver_id, booking.host_id], live_event(
            "parking.requested", booking.booking_id, self.clock(), mode=answer.mode, reason=answer.reason,
            instructions=answer.instructions,
        ))
        return {"booking_id": booking.booking_id, "vehicle_id": vehicle.vehicle_id, **answer.to_dict()}

    # ---- checks ------------------------------------------------------------------------------------
    def _owned(self, principal: Principal, vehicle_id: str) -> VehicleRecord:
        vehicle = self.vehicles.get(principal.user_id, vehicle_id)
        if vehicle is None:
            raise NotFound("No such vehicle.", code="vehicle_not_found")
        return vehicle

    def _booking_for(self, principal: Principal, booking_id: str, vehicle: VehicleRecord) -> Any:
        booking = self.bookings.get(booking_id, consistent=True)
        if booking.driver_id != principal.user_id:
            raise NotOwner("Only the booking's driver can send their car to it.")
        if booking.status not in ACTIVE_FOR_VEHICLE:
            raise InvalidState(f"The booking is {booking.status}; the car can only be sent to a confirmed booking.")
        if booking.vin and booking.vin != vehicle.vin:
            raise Conflict("The booking is for another vehicle.", code="booking_vehicle_mismatch")
        if not booking.vin:
            # Telemetry finds a booking by VIN: attach this car so arrival can be detected.
            booking = self.bookings.update_fields(booking, self.clock(), vehicle_id=vehicle.vehicle_id,
                                                  vin=vehicle.vin)
        return booking

    def _destination(self, driveway_id: str) -> str:
        place = self.places.place(driveway_id)
        if place is not None and place.lat is not None and place.lng is not None:
            return maps_url(place.lat, place.lng)
        if place is not None and place.address:
            return place.address
        raise InvalidState("The driveway has no location to navigate to.")


def _location_view(fix: Fix, source: str, *, stale: bool) -> dict[str, Any]:
    return {"lat": fix.lat, "lng": fix.lng, "heading": fix.heading, "at": fix.at.isoformat(), "source": source,
            "stale": stale}
