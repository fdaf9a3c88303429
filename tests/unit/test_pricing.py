"""Pricing: hourly with a daily cap, monthly for long stays, the platform fee, extensions and overstays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driveway_hub.domain.pricing import (
    CURRENCIES,
    DEFAULT_PLATFORM_FEE_BPS,
    PricingError,
    Quote,
    Rates,
    overstay_charge,
    price_change,
    quote,
)

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
HOURLY = Rates("usd", hourly_cents=400)
CAPPED = Rates("usd", hourly_cents=400, daily_cents=2_000)
LONG_STAY = Rates("usd", hourly_cents=300, daily_cents=1_500, monthly_cents=30_000)


def _subtotal(rates: Rates, duration: timedelta, fee_bps: int = DEFAULT_PLATFORM_FEE_BPS) -> int:
    return quote(rates, T0, T0 + duration, platform_fee_bps=fee_bps).subtotal_cents


def _half_up(numerator: int, denominator: int) -> int:
    """Round half up, written differently from the module (Decimal) on purpose."""
    from decimal import ROUND_HALF_UP

    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- the hourly rate and the billing unit ---------------------------------------------------------------


def test_whole_hours_cost_the_hourly_rate_plus_fifteen_percent() -> None:
    q = quote(HOURLY, T0, T0 + timedelta(hours=2))

    assert (q.subtotal_cents, q.platform_fee_cents, q.total_cents, q.currency) == (800, 120, 920, "usd")
    assert [(line.kind, line.quantity, line.unit_cents, line.amount_cents) for line in q.breakdown] == [
        ("hourly", Decimal(2), 400, 800)
    ]


@pytest.mark.parametrize(
    ("duration", "billed_hours"),
    [
        (timedelta(hours=2), Decimal("2")),
        (timedelta(hours=2, microseconds=1), Decimal("2.25")),
        (timedelta(hours=2, minutes=10), Decimal("2.25")),
        (timedelta(hours=2, minutes=15), Decimal("2.25")),
        (timedelta(hours=2, minutes=16), Decimal("2.5")),
        (timedelta(minutes=1), Decimal("0.25")),
    ],
)
def test_time_is_billed_per_started_fifteen_minutes(duration: timedelta, billed_hours: Decimal) -> None:
    q = quote(HOURLY, T0, T0 + duration)

    assert q.breakdown[0].quantity == billed_hours
    assert q.subtotal_cents == int(billed_hours * 400)


@pytest.mark.parametrize(("hourly", "expected"), [(250, 63), (1_001, 250), (1_002, 251), (333, 83)])
def test_a_quarter_hour_is_rounded_half_up_to_the_cent(hourly: int, expected: int) -> None:
    rates = Rates("usd", hourly_cents=hourly)

    assert _subtotal(rates, timedelta(minutes=15)) == expected


# --- the daily cap --------------------------------------------------------------------------------------


def test_each_24h_block_is_capped_at_the_daily_rate() -> None:
    # 26.5 h: the first 24 h block would be 9,600 -> capped at 2,000; the 2.5 h rest costs 1,000.
    q = quote(CAPPED, T0, T0 + timedelta(hours=26, minutes=30))

    assert q.subtotal_cents == 3_000
    assert [(line.kind, line.quantity, line.amount_cents) for line in q.breakdown] == [
        ("daily", Decimal(1), 2_000),
        ("hourly", Decimal("2.5"), 1_000),
    ]


def test_a_partial_block_is_capped_too() -> None:
    # 30 h: 24 h -> 2,000 and 6 h (2,400) -> 2,000.
    assert _subtotal(CAPPED, timedelta(hours=30)) == 4_000


def test_short_bookings_never_reach_the_cap() -> None:
    assert _subtotal(CAPPED, timedelta(hours=4)) == 1_600
    assert _subtotal(CAPPED, timedelta(hours=5)) == 2_000  # exactly the cap


def test_without_a_daily_rate_every_hour_is_charged() -> None:
    assert _subtotal(HOURLY, timedelta(hours=30)) == 12_000


def test_elapsed_time_counts_across_a_dst_change() -> None:
    # Given local times on the spring-forward night in New York: 00:00 -> 04:00 is 3 real hours
    ny = ZoneInfo("America/New_York")
    start, end = datetime(2026, 3, 8, 0, 0, tzinfo=ny), datetime(2026, 3, 8, 4, 0, tzinfo=ny)

    assert quote(HOURLY, start, end).subtotal_cents == 1_200


# --- the monthly rate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (27, 27 * 1_500),  # below 28 days the monthly rate does not apply
        (28, 30_000),  # 42,000 by the day, capped at one month
        (30, 30_000),
        (31, 30_000 + 1_500),
        (45, 30_000 + 15 * 1_500),
        (59, 60_000),  # the 29 remaining days are capped at one more month
        (60, 60_000),
        (90, 90_000),
    ],
)
def test_long_stays_use_the_monthly_rate_per_30_days(days: int, expected: int) -> None:
    assert _subtotal(LONG_STAY, timedelta(days=days)) == expected


def test_monthly_breakdown_lists_months_and_the_rest() -> None:
    q = quote(LONG_STAY, T0, T0 + timedelta(days=31, hours=2))

    assert [(line.kind, line.quantity, line.amount_cents) for line in q.breakdown] == [
        ("monthly", Decimal(1), 30_000),
        ("daily", Decimal(1), 1_500),
        ("hourly", Decimal(2), 600),
    ]


def test_capped_remainder_is_a_single_line() -> None:
    q = quote(LONG_STAY, T0, T0 + timedelta(days=58))

    assert [(line.kind, line.quantity, line.amount_cents) for line in q.breakdown] == [
        ("monthly", Decimal(1), 30_000),
        ("monthly_cap", Decimal(1), 30_000),
    ]


def test_a_monthly_rate_above_30_days_by_the_day_is_ignored() -> None:
    # 30 days by the day = 45,000 < 50,000: the "monthly rate" would only raise the price.
    rates = Rates("usd", hourly_cents=300, daily_cents=1_500, monthly_cents=50_000)

    assert _subtotal(rates, timedelta(days=28)) == 28 * 1_500
    assert _subtotal(rates, timedelta(days=40)) == 40 * 1_500


def test_without_a_monthly_rate_long_stays_are_priced_by_the_day() -> None:
    assert _subtotal(CAPPED, timedelta(days=45)) == 45 * 2_000


# --- the platform fee -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("hourly", "fee"), [(1_010, 152), (1_003, 150), (1_000, 150)])
def test_fee_is_fifteen_percent_rounded_half_up(hourly: int, fee: int) -> None:
    # 1,010 * 15 % = 151.5 -> 152; 1,003 * 15 % = 150.45 -> 150
    q = quote(Rates("usd", hourly_cents=hourly), T0, T0 + timedelta(hours=1))

    assert q.platform_fee_cents == fee
    assert q.total_cents == hourly + fee


def test_fee_percentage_is_configurable() -> None:
    assert quote(HOURLY, T0, T0 + timedelta(hours=1), platform_fee_bps=0).platform_fee_cents == 0
    assert quote(HOURLY, T0, T0 + timedelta(hours=1), platform_fee_bps=1_000).platform_fee_cents == 40
    assert quote(HOURLY, T0, T0 + timedelta(hours=1), platform_fee_bps=10_000).total_cents == 800


@pytest.mark.parametrize("bps", [-1, 10_001, 15.0, True])
def test_invalid_fee_is_rejected(bps: int) -> None:
    with pytest.raises(PricingError) as excinfo:
        quote(HOURLY, T0, T0 + timedelta(hours=1), platform_fee_bps=bps)

    assert excinfo.value.field == "platform_fee_bps"


def test_driver_pays_the_total_host_gets_the_subtotal_platform_keeps_the_fee() -> None:
    q = quote(CAPPED, T0, T0 + timedelta(hours=3))

    assert q.total_cents == q.subtotal_cents + q.platform_fee_cents
    assert q.host_payout_cents == q.total_cents - q.platform_fee_cents == q.subtotal_cents


def test_quote_has_the_api_shape() -> None:
    q = quote(CAPPED, T0, T0 + timedelta(hours=26, minutes=30))

    assert q.to_dict() == {
        "subtotal_cents": 3_000,
        "platform_fee_cents": 450,
        "total_cents": 3_450,
        "currency": "usd",
        "breakdown": [
            {"kind": "daily", "label": "Daily rate (24 h)", "quantity": 1, "unit_cents": 2_000, "amount_cents": 2_000},
            {"kind": "hourly", "label": "Hourly rate", "quantity": 2.5, "unit_cents": 400, "amount_cents": 1_000},
        ],
    }


def test_quote_is_immutable() -> None:
    q = quote(HOURLY, T0, T0 + timedelta(hours=1))

    with pytest.raises(AttributeError):
        q.total_cents = 1  # type: ignore[misc]


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"currency": "xyz"}, "currency"),
        ({"currency": 840}, "currency"),
        ({"hourly_cents": 0}, "hourly_cents"),
        ({"hourly_cents": -100}, "hourly_cents"),
        ({"hourly_cents": 4.5}, "hourly_cents"),
        ({"hourly_cents": True}, "hourly_cents"),
        ({"daily_cents": 0}, "daily_cents"),
        ({"monthly_cents": "30000"}, "monthly_cents"),
    ],
)
def test_invalid_rates_name_the_field(kwargs: dict[str, object], field_name: str) -> None:
    args: dict[str, object] = {"currency": "usd", "hourly_cents": 400, **kwargs}

    with pytest.raises(PricingError) as excinfo:
        Rates(**args)  # type: ignore[arg-type]

    assert excinfo.value.field == field_name


def test_currency_codes_are_normalised_and_all_supported_ones_work() -> None:
    assert Rates("USD", hourly_cents=400).currency == "usd"
    for code, currency in CURRENCIES.items():
        assert currency.exponent == 2
        assert quote(Rates(code, hourly_cents=400), T0, T0 + timedelta(hours=1)).currency == code


@pytest.mark.parametrize(
    ("start", "end", "field_name"),
    [
        (T0, T0, "end"),
        (T0, T0 - timedelta(minutes=1), "end"),
        (T0.replace(tzinfo=None), T0 + timedelta(hours=1), "start"),
        (T0, (T0 + timedelta(hours=1)).replace(tzinfo=None), "end"),
    ],
)
def test_invalid_times_name_the_field(start: datetime, end: datetime, field_name: str) -> None:
    with pytest.raises(PricingError) as excinfo:
        quote(HOURLY, start, end)

    assert excinfo.value.field == field_name


def test_a_total_below_the_minimum_charge_is_refused() -> None:
    # 15 min at $1.00/h = 25 c + 4 c fee: Stripe cannot charge 29 c.
    with pytest.raises(PricingError) as excinfo:
        quote(Rates("usd", hourly_cents=100), T0, T0 + timedelta(minutes=15))

    assert excinfo.value.field == "total_cents"
    assert str(excinfo.value) == "total_cents 29 is outside the chargeable range (50-99999999 usd minor units)"


def test_a_total_above_the_maximum_charge_is_refused() -> None:
    with pytest.raises(PricingError) as excinfo:
        quote(Rates("usd", hourly_cents=10_000_000), T0, T0 + timedelta(hours=10))

    assert excinfo.value.field == "total_cents"


# --- extensions -----------------------------------------------------------------------------------------


def test_extension_charges_the_difference_between_the_two_quotes() -> None:
    change = price_change(HOURLY, T0, T0 + timedelta(hours=2), T0 + timedelta(hours=3))

    assert (change.subtotal_delta_cents, change.platform_fee_delta_cents, change.total_delta_cents) == (400, 60, 460)
    assert change.new.total_cents - change.old.total_cents == change.total_delta_cents


def test_extension_into_the_daily_cap_costs_only_up_to_the_cap() -> None:
    change = price_change(CAPPED, T0, T0 + timedelta(hours=4), T0 + timedelta(hours=10))

    assert change.subtotal_delta_cents == 2_000 - 1_600


def test_extension_reaching_28_days_can_lower_the_price() -> None:
    change = price_change(LONG_STAY, T0, T0 + timedelta(days=27), T0 + timedelta(days=28))

    assert change.subtotal_delta_cents == 30_000 - 27 * 1_500 < 0


def test_extension_must_move_the_end_later() -> None:
    with pytest.raises(PricingError) as excinfo:
        price_change(HOURLY, T0, T0 + timedelta(hours=2), T0 + timedelta(hours=2))

    assert excinfo.value.field == "end"


def test_small_extensions_are_not_subject_to_the_minimum_charge() -> None:
    change = price_change(Rates("usd", hourly_cents=100), T0, T0 + timedelta(hours=1), T0 + timedelta(minutes=75))

    assert change.subtotal_delta_cents == 25


# --- overstays ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "hours"),
    [
        (timedelta(minutes=10), 1),
        (timedelta(hours=1), 1),
        (timedelta(hours=1, seconds=1), 2),
        (timedelta(hours=30), 30),
    ],
)
def test_overstay_is_charged_per_started_hour_without_a_daily_cap(over: timedelta, hours: int) -> None:
    q = overstay_charge(CAPPED, T0, T0 + over)

    assert q.subtotal_cents == hours * 400
    assert q.platform_fee_cents == _half_up(hours * 400 * 15, 100)
    assert [(line.kind, line.quantity) for line in q.breakdown] == [("overstay", Decimal(hours))]


def test_leaving_on_time_or_early_costs_nothing() -> None:
    for actual_end in (T0, T0 - timedelta(minutes=5)):
        assert overstay_charge(CAPPED, T0, actual_end) == Quote(0, 0, 0, "usd", ())


def test_overstay_within_grace_is_free_and_beyond_it_counts_from_the_booked_end() -> None:
    grace = timedelta(minutes=15)

    assert overstay_charge(CAPPED, T0, T0 + timedelta(minutes=15), grace=grace).total_cents == 0
    assert overstay_charge(CAPPED, T0, T0 + timedelta(minutes=16), grace=grace).subtotal_cents == 400
    assert overstay_charge(CAPPED, T0, T0 + timedelta(minutes=61), grace=grace).subtotal_cents == 800


def test_overstay_rejects_negative_grace_and_naive_times() -> None:
    with pytest.raises(PricingError) as excinfo:
        overstay_charge(CAPPED, T0, T0 + timedelta(hours=1), grace=timedelta(minutes=-1))
    assert excinfo.value.field == "grace"

    with pytest.raises(PricingError) as excinfo:
        overstay_charge(CAPPED, T0, datetime(2026, 5, 1, 11))
    assert excinfo.value.field == "actual_end"


# --- properties -----------------------------------------------------------------------------------------

rates_strategy = st.builds(
    Rates,
    currency=st.sampled_from(sorted(CURRENCIES)),
    hourly_cents=st.integers(200, 10_000),  # >= 200: 15 min always reaches the 50 c minimum charge
    daily_cents=st.none() | st.integers(50, 100_000),
    monthly_cents=st.none() | st.integers(50, 2_000_000),
)
durations = st.integers(1, 70 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes))


@settings(max_examples=300, deadline=None)
@given(rates=rates_strategy, duration=durations, fee_bps=st.integers(0, 10_000))
def test_quote_arithmetic_is_consistent(rates: Rates, duration: timedelta, fee_bps: int) -> None:
    q = quote(rates, T0, T0 + duration, platform_fee_bps=fee_bps)

    assert all(isinstance(v, int) for v in (q.subtotal_cents, q.platform_fee_cents, q.total_cents))
    assert sum(line.amount_cents for line in q.breakdown) == q.subtotal_cents
    assert q.platform_fee_cents == _half_up(q.subtotal_cents * fee_bps, 10_000)
    assert q.total_cents == q.subtotal_cents + q.platform_fee_cents
    for line in q.breakdown:
        assert line.amount_cents == _half_up(int(line.quantity * 4) * line.unit_cents, 4)
    # never more than the plain hourly price of the billed time
    quarters = -(-duration // timedelta(minutes=15))
    assert q.subtotal_cents <= _half_up(quarters * rates.hourly_cents, 4)
    if rates.daily_cents is not None and rates.monthly_cents is None:
        assert q.subtotal_cents <= -(-quarters // 96) * rates.daily_cents


@settings(max_examples=300, deadline=None)
@given(rates=rates_strategy, a=durations, b=durations)
def test_longer_never_costs_less_on_the_same_side_of_28_days(rates: Rates, a: timedelta, b: timedelta) -> None:
    shorter, longer = sorted((a, b))
    threshold = timedelta(days=27, hours=23, minutes=45)  # 28 days once rounded up to 15 min
    if (shorter > threshold) != (longer > threshold):
        return  # the monthly rate may start in between (documented)

    assert _subtotal(rates, shorter) <= _subtotal(rates, longer)
