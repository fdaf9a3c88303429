"""A stateful Tesla Fleet API simulator for the local cloud and the tests.

It reproduces the behaviours listed in ``research/tesla.md`` — OAuth with rotating refresh tokens,
regions (421), sleep/wake (408), signed-command rules (403/500), commands, ``fleet_status`` — and a
car that drives to the navigation target, gets parked and streams signed telemetry to our webhook.
Time is the injected ``now`` (the local cloud's virtual clock); ``sim.tick()`` moves the cars.

Quick start
-----------
>>> sim = TeslaSimulator(SimConfig(vehicles=(VehicleSpec("5YJ3E1EA7KF000001", "Roadie", 45.52, -122.68),)))
>>> base_url, stop = run_in_thread(sim)          # doctest: +SKIP
>>> sim.stream_telemetry_to("http://127.0.0.1:8000/v1/webhooks/tesla/telemetry", b"secret")  # doctest: +SKIP

Wiring in the local cloud::

    sim = TeslaSimulator(SimConfig(vehicles=...), now=lambda: clock.now().timestamp())
    base_url, stop = run_in_thread(sim, port=8003)     # or create_app(sim) under your own runner
    sim.register_address("1234 NE Example St, Portland, OR 97212", 45.529, -122.671)  # per driveway
    sim.stream_telemetry_to(f"{rest}/webhooks/tesla/telemetry", secret, interval_s=5)

Counters (``sim.counter_values()``, ``GET /_sim/vehicles``) follow Tesla's billing: authenticated
Fleet API answers below 500, as ``wakes``, ``commands`` and ``data_requests`` (vehicle list, vehicle,
vehicle_data, fleet_status); plus ``signals_streamed`` (data items emitted), ``refreshes`` (every
refresh_token grant call), ``refreshes_rejected`` and ``estimated_cost_usd``.

Base URLs (all on one origin, e.g. ``http://127.0.0.1:8003``)
-----------------------------------------------------------------
- ``/oauth2/v3/authorize`` and ``/oauth2/v3/token``: auth.tesla.com and fleet-auth in one.
- ``/api/1/...``: the NA Fleet API; ``/eu/api/1/...`` and ``/cn/api/1/...``: the other regions. A user
  (``SimUser.region``) calling another region's base URL gets 421 naming theirs; ``users/region``
  answers everywhere.
- ``/proxy/api/1/...``: behaves like tesla-http-proxy in front of the Fleet API: commands sent here
  count as signed (cars that require the Vehicle Command Protocol accept them if our key is paired,
  else 500 "vehicle rejected request: your public key has not been paired with the vehicle"), the
  path needs the VIN, and no region check is made. Unsigned commands to such cars get 403.
- ``/_sim/...``: control routes (below); ``/_ak/<domain>``: stands in for tesla.com/_ak (pairs keys).

Telemetry batches (what our ``POST /v1/webhooks/tesla/telemetry`` receives)
---------------------------------------------------------------------------
One ``POST`` per target per cycle, ``Content-Type: application/json``, headers from
``driveway_hub.telemetry_signing.sign``::

    X-Telemetry-Timestamp: 1767268800                      # unix seconds, from the virtual clock
    X-Telemetry-Signature: v1=<hex HMAC-SHA256(secret, b"1767268800." + raw body)>

Body (fleet-telemetry's decoded ``Payload`` records, protojson style, one record per VIN)::

    {"records": [
      {"vin": "5YJ3E1EA7KF000001",
       "createdAt": "2026-01-01T12:00:00.000Z",            # UTC, milliseconds, "Z"
       "data": [
         {"key": "Location",            "value": {"locationValue": {"latitude": 45.52, "longitude": -122.68}}},
         {"key": "GpsHeading",          "value": {"doubleValue": 90.0}},        # degrees from north
         {"key": "Gear",                "value": {"shiftStateValue": "ShiftStateD"}},  # ShiftStateP|R|N|D
         {"key": "VehicleSpeed",        "value": {"doubleValue": 24.9}},        # mph
         {"key": "DestinationLocation", "value": {"locationValue": {"latitude": .., "longitude": ..}}},
         {"key": "MinutesToArrival",    "value": {"doubleValue": 3.5}},
         {"key": "MilesToArrival",      "value": {"doubleValue": 1.42}}
       ]}
    ]}

Rules the parser must expect:

- Signals are sent on change only, and per VIN no more often than the target's ``interval_s``
  (virtual seconds), only while the car is ``online``. A record holds only the keys that changed, so
  a key may be absent; keep the last value per VIN. The first record after the stream starts or the
  car wakes carries every key.
- Route keys (``DestinationLocation``, ``MinutesToArrival``, ``MilesToArrival``) are
  ``{"invalid": true}`` when no navigation is active (after arrival too).
- Coordinates are rounded to 6 decimals and carry a little GPS noise while moving; a parked car
  reports the exact parking point.
- A batch answered non-2xx (or not answered) is not lost: its changes are resent at the next interval.

The trip the car makes (``car.py``): ``navigation_request`` → drives a two-leg grid route at
``speed_kmh`` (gear D, heading along the leg) → stops ``arrival_offset_m`` before the exact point, gear
D, navigation over → ``prompt_driver_to_park`` (reacts after ``park_reaction_s``) or
``park_automatically`` (at once; 409 ``not_at_destination`` while driving) → creeps to the exact
point and shifts to P → ``depart`` drives ``depart_distance_m`` back out in D and parks there.

Fault injection
---------------
``sim.inject_fault(kind, count=1, path_prefix=None, retry_after_s=30, latency_s=1.0)`` with ``kind``
``unauthorized`` (401, no body), ``wrong_region`` (421 naming the caller's base URL),
``rate_limited`` (429 + ``Retry-After``), ``unavailable`` (503) or ``latency`` (real-time delay, then
a normal answer); status codes ``"401"``/``"421"``/``"429"``/``"503"`` are accepted as kinds.
``count=None`` lasts until cleared. ``sim.set_down(True)``: everything but ``/_sim`` answers 503.
Over HTTP: ``POST /_sim/faults`` with the same fields as JSON (``count``, ``path_prefix``, ...) and/or
``{"down": true}``; ``DELETE /_sim/faults`` clears; ``GET /_sim/faults`` lists.

Control routes
--------------
``GET /_sim/state`` · ``GET /_sim/vehicles`` (positions + counters) ·
``POST /_sim/vehicles/{vin}/prompt_park|autopark|depart`` · ``POST /_sim/vehicles/{vin}/state
{"state": "asleep"}`` · ``POST /_sim/vehicles/{vin}/pair {"paired": true}`` · ``POST /_sim/addresses
{"address", "lat", "lng"}`` · ``GET|POST|DELETE /_sim/telemetry`` (``{"url", "secret", "interval_s",
"vins"}``) · ``POST /_sim/tokens/expire|revoke`` · ``POST /_sim/reset {"tokens": false}``.
"""

from local.tesla_sim.app import create_app, run_in_thread
from local.tesla_sim.car import VehicleView
from local.tesla_sim.config import SimConfig, SimUser, VehicleSpec
from local.tesla_sim.faults import Fault, FaultKind
from local.tesla_sim.geo import LatLng
from local.tesla_sim.simulator import Counters, FleetError, SimError, TeslaSimulator

__all__ = [
    "Counters",
    "Fault",
    "FaultKind",
    "FleetError",
    "LatLng",
    "SimConfig",
    "SimError",
    "SimUser",
    "TeslaSimulator",
    "VehicleSpec",
    "VehicleView",
    "create_app",
    "run_in_thread",
]
