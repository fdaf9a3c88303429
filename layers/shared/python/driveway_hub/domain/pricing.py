"""What a booking costs: the host's price, the platform fee, and what the driver pays.

Money is always an integer number of minor units (cents, pence, yen); no float is ever involved.

Rules (the contract of ``quote``):

* **Billing unit.** The booked time ``end - start`` (real elapsed time, so a DST night is 23 h or 25 h)
  is rounded **up to the next started 15 minutes**. A driver who books 2 h 10 min pays for 2 h 15 min, not
  for 3 h: booking screens use 15-minute steps, so an on-grid booking is never rounded at all.
* **Hourly rate, capped per day.** The billed time is cut into 24 h blocks counted from ``start`` (not
  calendar days: the price does not depend on the time zone). Each block, full or partial, costs
  ``hours_in_block * hourly_cents``, but never more than ``daily_cents`` when the host set one. The
  fractional-hour part of the one partial block is rounded half up to the minor unit.
* **Monthly rate.** For a billed time of 28 days or more, when the host set ``monthly_cents``: every whole
  30-day month costs ``monthly_cents``, and the remaining days are priced with the hourly/daily rule but
  never more than one more ``monthly_cents``. So 28-29 days cost at most one month, 45 days at most two,
  and a longer booking never costs less than a shorter one above 28 days. Below 28 days the monthly rate
  does not apply (it is a long-stay product; a 27-day booking can cost more than a 28-day one). A monthly
  rate that is not cheaper than 30 days at the hourly/daily rule is ignored: it can only lower a price.
* **Platform fee.** ``platform_fee_bps`` basis points (default 1,500 = 15 %) **on top of** the host's price:
  ``platform_fee_cents = round_half_up(subtotal_cents * bps / 10,000)``. The driver pays
  ``total_cents = subtotal_cents + platform_fee_cents``; the host receives ``subtotal_cents``. With a Stripe
  destination charge of ``amount = total_cents`` and ``application_fee_amount = platform_fee_cents`` the
  connected account gets ``total - fee = subtotal`` and the platform keeps the fee.
* **Overstay.** Time past the booked end is charged per **started hour** at the hourly rate, with no daily
  cap (an overstay must never be cheaper than booking the time), after an optional grace period.

Pure functions; stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from driveway_hub.errors import InvalidInput

DEFAULT_PLATFORM_FEE_BPS = 1_500
"""15 % in basis points."""

BILLING_STEP = timedelta(minutes=15)
MONTHLY_THRESHOLD = timedelta(days=28)
MONTH = timedelta(days=30)
_STEPS_PER_HOUR = 4
_STEPS_PER_DAY = 24 * _STEPS_PER_HOUR
_STEPS_PER_MONTH = 30 * _STEPS_PER_DAY
_BPS_DENOMINATOR = 10_000


@dataclass(frozen=True, slots=True)
class Currency:
    """A supported currency: ISO code, minor-unit exponent and the charge limits of the payment provider."""

    code: str
    exponent: int
    minimum_charge: int
    maximum_charge: int = 99_999_999


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("usd", 2, 50),
        Currency("eur", 2, 50),
        Currency("gbp", 2, 30),
        Currency("cad", 2, 50),
        Currency("aud", 2, 50),
    )
}
"""Stripe's minimum charge amounts; a quote below them could never be paid."""


class PricingError(InvalidInput, ValueError):
    """A price cannot be computed; ``field`` names the offending input (400 ``invalid_request``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}", field=field)


LineKind = Literal["hourly", "daily", "monthly", "monthly_cap", "overstay"]


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of the breakdown. ``amount_cents == round_half_up(quantity * unit_cents)``.

    ``quantity`` is exact (a ``Decimal`` of hours in quarter steps, or whole days/months).
    """

    kind: LineKind
    label: str
    quantity: Decimal
    unit_cents: int
    amount_cents: int

    def to_dict(self) -> dict[str, Any]:
        # Quarter hours are exact binary fractions, so the float is exact too.
        whole = self.quantity == self.quantity.to_integral()
        quantity: int | float = int(self.quantity) if whole else float(self.quantity)
        return {
            "kind": self.kind,
            "label": self.label,
            "quantity": quantity,
            "unit_cents": self.unit_cents,
            "amount_cents": self.amount_cents,
        }


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of a booking (or of an overstay). ``sum(line amounts) == subtotal_cents``."""

    subtotal_cents: int
    platform_fee_cents: int
    total_cents: int
    currency: str
    breakdown: tuple[LineItem, ...]

    @property
    def host_payout_cents(self) -> int:
        """What the host's connected account receives: total minus the platform fee."""
        return self.total_cents - self.platform_fee_cents

    def to_dict(self) -> dict[str, Any]:
        """The API shape: ``{subtotal_cents, platform_fee_cents, total_cents, currency, breakdown}``."""
        return {
            "subtotal_cents": self.subtotal_cents,
            "platform_fee_cents": self.platform_fee_cents,
            "total_cents": self.total_cents,
            "currency": self.currency,
            "breakdown": [line.to_dict() for line in self.breakdown],
        }


@dataclass(frozen=True, slots=True)
class PriceChange:
    """Re-pricing a booking whose end moved. Deltas are ``new - old`` (negative: the driver is owed)."""

    old: Quote
    new: Quote

    @property
    def subtotal_delta_cents(self) -> int:
        return self.new.subtotal_cents - self.old.subtotal_cents

    @property
    def platform_fee_delta_cents(self) -> int:
        return self.new.platform_fee_cents - self.old.platform_fee_cents

    @property
    def total_delta_cents(self) -> int:
        return self.new.total_cents - self.old.total_cents


def _check_amount(field: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PricingError(field, "must be a positive integer number of minor units")


@dataclass(frozen=True, slots=True)
class Rates:
    """A driveway's prices (the API's ``pricing`` object), validated on construction."""

    currency: str
    hourly_cents: int
    daily_cents: int | None = None
    monthly_cents: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or self.currency.lower() not in CURRENCIES:
            raise PricingError("currency", f"must be one of {', '.join(sorted(CURRENCIES))}")
        object.__setattr__(self, "currency", self.currency.lower())
        _check_amount("hourly_cents", self.hourly_cents)
        _check_amount("daily_cents", self.daily_cents, optional=True)
        _check_amount("monthly_cents", self.monthly_cents, optional=True)


def _round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def _check_bps(platform_fee_bps: int) -> None:
    if isinstance(platform_fee_bps, bool) or not isinstance(platform_fee_bps, int):
        raise PricingError("platform_fee_bps", "must be an integer number of basis points")
    if not 0 <= platform_fee_bps <= _BPS_DENOMINATOR:
        raise PricingError("platform_fee_bps", "must be between 0 and 10000")


def _utc(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise PricingError(field, "must be a timezone-aware datetime")
    # Subtracting two datetimes that share a tzinfo ignores DST; in UTC it is real elapsed time.
    return value.astimezone(UTC)


def _steps(duration: timedelta, step: timedelta) -> int:
    """Started steps in ``duration`` (ceil), exact to the microsecond."""
    return -(-duration // timedelta(microseconds=1) // (step // timedelta(microseconds=1)))


def _hourly_daily_lines(rates: Rates, steps: int) -> tuple[list[LineItem], int]:
    """Lines and subtotal for ``steps`` quarter hours under the hourly rate capped per 24 h block."""
    full_days, rest = divmod(steps, _STEPS_PER_DAY)
    blocks = [_STEPS_PER_DAY] * full_days + ([rest] if rest else [])
    daily = rates.daily_cents
    capped = 0
    hourly_steps = 0
    for block in blocks:
        if daily is not None and daily < _round_half_up(block * rates.hourly_cents, _STEPS_PER_HOUR):
            capped += 1
        else:
            hourly_steps += block
    lines: list[LineItem] = []
    if capped and daily is not None:
        lines.append(LineItem("daily", "Daily rate (24 h)", Decimal(capped), daily, capped * daily))
    if hourly_steps:
        # Only the last block can hold a fractional hour, so one rounding covers the whole line.
        amount = _round_half_up(hourly_steps * rates.hourly_cents, _STEPS_PER_HOUR)
        hours = Decimal(hourly_steps) / _STEPS_PER_HOUR
        lines.append(LineItem("hourly", "Hourly rate", hours, rates.hourly_cents, amount))
    return lines, sum(line.amount_cents for line in lines)


def _booking_lines(rates: Rates, steps: int) -> list[LineItem]:
    monthly = rates.monthly_cents
    if (
        monthly is None
        or steps < MONTHLY_THRESHOLD // BILLING_STEP
        # A monthly rate above 30 days' hourly/daily price would only ever raise the price: ignore it.
        or monthly >= _hourly_daily_lines(rates, _STEPS_PER_MONTH)[1]
    ):
        return _hourly_daily_lines(rates, steps)[0]
    months, rest = divmod(steps, _STEPS_PER_MONTH)
    lines: list[LineItem] = []
    if months:
        lines.append(LineItem("monthly", "Monthly rate (30 days)", Decimal(months), monthly, months * monthly))
    rest_lines, rest_amount = _hourly_daily_lines(rates, rest)
    if rest_amount > monthly:
        label = "Remaining days (capped at the monthly rate)"
        lines.append(LineItem("monthly_cap", label, Decimal(1), monthly, monthly))
    else:
        lines += rest_lines
    return lines


def _quote_from_lines(rates: Rates, lines: list[LineItem], platform_fee_bps: int) -> Quote:
    subtotal = sum(line.amount_cents for line in lines)
    fee = _round_half_up(subtotal * platform_fee_bps, _BPS_DENOMINATOR)
    return Quote(subtotal, fee, subtotal + fee, rates.currency, tuple(lines))


def _booking_quote(rates: Rates, start: datetime, end: datetime, platform_fee_bps: int) -> Quote:
    _check_bps(platform_fee_bps)
    start_utc, end_utc = _utc("start", start), _utc("end", end)
    if end_utc <= start_utc:
        raise PricingError("end", "must be after start")
    steps = _steps(end_utc - start_utc, BILLING_STEP)
    return _quote_from_lines(rates, _booking_lines(rates, steps), platform_fee_bps)


def quote(
    rates: Rates,
    start: datetime,
    end: datetime,
    *,
    platform_fee_bps: int = DEFAULT_PLATFORM_FEE_BPS,
) -> Quote:
    """Price a booking of ``[start, end)`` (aware datetimes) under ``rates``; see the module rules.

    Raises
    ------
    PricingError
        ``end`` not after ``start``, a naive datetime, a bad fee, or a total outside the currency's
        chargeable range (``field="total_cents"``).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> q = quote(Rates("usd", hourly_cents=400, daily_cents=2000),
    ...           datetime(2026, 5, 1, 9, tzinfo=UTC), datetime(2026, 5, 2, 11, 30, tzinfo=UTC))
    >>> q.subtotal_cents, q.platform_fee_cents, q.total_cents
    (3000, 450, 3450)
    """
    result = _booking_quote(rates, start, end, platform_fee_bps)
    currency = CURRENCIES[result.currency]
    if not currency.minimum_charge <= result.total_cents <= currency.maximum_charge:
        limits = f"{currency.minimum_charge}-{currency.maximum_charge} {currency.code} minor units"
        raise PricingError("total_cents", f"{result.total_cents} is outside the chargeable range ({limits})")
    return result


def price_change(
    rates: Rates,
    start: datetime,
    old_end: datetime,
    new_end: datetime,
    *,
    platform_fee_bps: int = DEFAULT_PLATFORM_FEE_BPS,
) -> PriceChange:
    """Re-price an extension from ``old_end`` to ``new_end`` (the difference of the two quotes).

    The whole booking is re-quoted rather than pricing the extra time alone, so the daily cap and the
    monthly rate apply to the booking as a whole. No minimum charge applies to the delta.
    """
    if _utc("new_end", new_end) <= _utc("old_end", old_end):
        raise PricingError("end", "must be after the current end to extend a booking")
    old = _booking_quote(rates, start, old_end, platform_fee_bps)
    new = _booking_quote(rates, start, new_end, platform_fee_bps)
    return PriceChange(old=old, new=new)


def overstay_charge(
    rates: Rates,
    booked_end: datetime,
    actual_end: datetime,
    *,
    grace: timedelta = timedelta(0),
    platform_fee_bps: int = DEFAULT_PLATFORM_FEE_BPS,
) -> Quote:
    """Charge for staying past ``booked_end``: per started hour at the hourly rate, no daily cap.

    Nothing is due when the driver left within ``grace`` of the booked end; beyond it the whole overstay
    counts from ``booked_end``. Returns a zero ``Quote`` (empty breakdown) when nothing is due.
    """
    _check_bps(platform_fee_bps)
    if grace < timedelta(0):
        raise PricingError("grace", "must not be negative")
    overstay = _utc("actual_end", actual_end) - _utc("booked_end", booked_end)
    if overstay <= grace:
        return Quote(0, 0, 0, rates.currency, ())
    hours = _steps(overstay, timedelta(hours=1))
    amount = hours * rates.hourly_cents
    line = LineItem("overstay", "Overstay (per started hour)", Decimal(hours), rates.hourly_cents, amount)
    return _quote_from_lines(rates, [line], platform_fee_bps)
