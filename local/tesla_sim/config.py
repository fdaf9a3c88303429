"""What the simulator is set up with: the app registration, the Tesla accounts and their cars."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

VehicleState = Literal["online", "asleep", "offline"]
Region = Literal["na", "eu", "cn"]

# Where each region's Fleet API lives under the simulator's origin. Tesla has one host per region;
# the simulator uses path prefixes on one port so a "wrong region" is just another base URL.
REGION_PREFIXES: dict[str, str] = {"na": "", "eu": "/eu", "cn": "/cn"}
# Base path that behaves like tesla-http-proxy: commands sent here count as signed.
PROXY_PREFIX = "/proxy"

KNOWN_SCOPES = frozenset(
    {
        "openid",
        "offline_access",
        "user_data",
        "vehicle_device_data",
        "vehicle_location",
        "vehicle_cmds",
        "vehicle_charging_cmds",
        "energy_device_data",
        "energy_cmds",
    }
)


@dataclass(frozen=True)
class SimUser:
    """A Tesla account. ``login_hint`` on the authorize URL picks one; the first is the default."""

    email: str
    user_id: str
    name: str = "Sim Driver"
    region: Region = "na"


@dataclass(frozen=True)
class VehicleSpec:
    """A car as it is when the simulator starts (or is reset)."""

    vin: str
    display_name: str
    lat: float
    lng: float
    state: VehicleState = "online"
    heading: float = 0.0
    # Cars built after 2021 (all Model 3/Y) refuse unsigned REST commands.
    requires_signed_commands: bool = False
    key_paired: bool = True
    firmware_version: str = "2024.44.25"
    battery_level: int = 80
    owner_email: str | None = None  # None: the first configured user

    @property
    def id(self) -> int:
        """Tesla's numeric ``id`` (stable per VIN, so seeds and tests can predict it)."""
        return stable_int(self.vin, "id", 16)

    @property
    def vehicle_id(self) -> int:
        return stable_int(self.vin, "vehicle_id", 10)


@dataclass(frozen=True)
class SimConfig:
    """Everything tunable. Times are virtual seconds (the injected clock), speeds km/h."""

    client_id: str = "driveway-hub-local"
    client_secret: str = "local-client-secret-not-real"  # noqa: S105 - a made-up local value
    redirect_uris: tuple[str, ...] = ("http://127.0.0.1:8000/v1/tesla/callback",)
    users: tuple[SimUser, ...] = (SimUser(email="driver@example.com", user_id="sim-user-1"),)
    vehicles: tuple[VehicleSpec, ...] = ()
    # Set when the simulator sits behind another origin; else answers use the request's origin.
    public_base_url: str | None = None
    access_token_ttl_s: int = 28_800
    auth_code_ttl_s: int = 600
    # Waking: online after this many state polls or this many seconds, whichever comes first.
    wake_after_polls: int = 2
    wake_after_s: float = 20.0
    # None: a car never falls asleep by itself.
    sleep_after_idle_s: float | None = None
    speed_kmh: float = 40.0
    creep_speed_kmh: float = 5.0
    # Navigation ends this far before the exact point (the kerb in front of the driveway).
    arrival_offset_m: float = 15.0
    # How long the simulated driver takes to react to a parking prompt.
    park_reaction_s: float = 20.0
    depart_distance_m: float = 600.0
    gps_noise_m: float = 2.0
    seed: int = 7

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("at least one SimUser is required")
        if self.speed_kmh <= 0 or self.creep_speed_kmh <= 0:
            raise ValueError("speeds must be positive")
        if self.wake_after_polls < 0 or self.wake_after_s < 0:
            raise ValueError("wake thresholds cannot be negative")


def stable_int(text: str, salt: str, digits: int) -> int:
    """A ``digits``-long number derived from ``text``: Tesla-looking ids that seeds can predict."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()
    return int(digest, 16) % (9 * 10 ** (digits - 1)) + 10 ** (digits - 1)
