"""Availability: weekly windows in the driveway's time zone, minus blackouts and bookings, across DST."""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from driveway_hub.domain.availability import (
    AvailabilityError,
    Interval,
    WeeklyWindow,
    expand_weekly,
    is_free,
    merge_intervals,
    parse_weekly,
    validate_weekly,
)

NY = "America/New_York"
LONDON = "Europe/London"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def weekly(*windows: tuple[int, str, str]) -> tuple[WeeklyWindow, ...]:
    return parse_weekly([{"day": d, "start": s, "end": e} for d, s, e in windows])


def free(windows: Sequence[WeeklyWindow], tz: str, start: datetime, end: datetime) -> bool:
    return is_free(windows, tz, [], [], start, end)


EVERY_DAY = weekly(*((d, "00:00", "24:00") for d in range(7)))


# --- parsing and validation -----------------------------------------------------------------------------


def test_weekly_windows_parse_and_round_trip() -> None:
    raw = [{"day": 0, "start": "08:00", "end": "18:30"}, {"day": 4, "start": "22:00", "end": "06:00"}]

    windows = parse_weekly(raw)

    assert windows == (WeeklyWindow(0, 480, 1_110), WeeklyWindow(4, 1_320, 360))
    assert [w.to_dict() for w in windows] == raw
    assert windows[1].crosses_midnight and windows[1].length_minutes == 480


@pytest.mark.parametrize(
    ("window", "field_name"),
    [
        ({"day": 7, "start": "08:00", "end": "09:00"}, "weekly[1].day"),
        ({"day": -1, "start": "08:00", "end": "09:00"}, "weekly[1].day"),
        ({"day": True, "start": "08:00", "end": "09:00"}, "weekly[1].day"),
        ({"day": "1", "start": "08:00", "end": "09:00"}, "weekly[1].day"),
        ({"day": 1, "start": "8:00", "end": "09:00"}, "weekly[1].start"),
        ({"day": 1, "start": "08:60", "end": "09:00"}, "weekly[1].start"),
        ({"day": 1, "start": "24:00", "end": "09:00"}, "weekly[1].start"),
        ({"day": 1, "start": 800, "end": "09:00"}, "weekly[1].start"),
        ({"day": 1, "start": "08:00", "end": "24:01"}, "weekly[1].end"),
        ({"day": 1, "start": "08:00", "end": "25:00"}, "weekly[1].end"),
        ({"day": 1, "start": "08:00", "end": "09:00 "}, "weekly[1].end"),
        ({"day": 1, "start": "08:00"}, "weekly[1].end"),
        ({"day": 1, "start": "08:00", "end": "08:00"}, "weekly[1].end"),
    ],
)
def test_a_malformed_window_names_its_field(window: dict[str, object], field_name: str) -> None:
    with pytest.raises(AvailabilityError) as excinfo:
        parse_weekly([{"day": 0, "start": "08:00", "end": "09:00"}, window])

    assert excinfo.value.field == field_name


def test_weekly_must_be_a_short_list_of_objects() -> None:
    for raw, field_name in [("mon", "weekly"), ([["08:00"]], "weekly[0]"), ([{"day": 0}] * 65, "weekly")]:
        with pytest.raises(AvailabilityError) as excinfo:
            parse_weekly(raw)  # type: ignore[arg-type]
        assert excinfo.value.field == field_name


@pytest.mark.parametrize(
    "windows",
    [
        [(MON, "08:00", "12:00"), (MON, "11:00", "13:00")],
        [(MON, "08:00", "12:00"), (MON, "08:00", "12:00")],
        [(MON, "22:00", "02:00"), (TUE, "01:00", "03:00")],  # midnight-crossing into the next day
        [(SUN, "23:00", "01:00"), (MON, "00:30", "05:00")],  # Sunday night into Monday
        [(TUE, "00:00", "24:00"), (MON, "20:00", "00:30")],  # Monday night runs into Tuesday
    ],
)
def test_overlapping_windows_are_rejected_naming_the_later_one(windows: list[tuple[int, str, str]]) -> None:
    with pytest.raises(AvailabilityError) as excinfo:
        weekly(*windows)

    assert excinfo.value.field == "weekly[1]"
    assert "overlaps weekly[0]" in str(excinfo.value)


def test_touching_windows_are_valid() -> None:
    windows = weekly((MON, "22:00", "02:00"), (TUE, "02:00", "05:00"), (SUN, "20:00", "22:00"), (MON, "00:00", "22:00"))

    validate_weekly(windows)  # no error


def test_a_24h_window_must_be_spelt_00_00_to_24_00() -> None:
    assert weekly((MON, "00:00", "24:00"))[0].length_minutes == 1_440
    assert weekly((MON, "22:00", "24:00"))[0].length_minutes == 120
    assert weekly((MON, "22:00", "00:00"))[0].length_minutes == 120


# --- expansion ------------------------------------------------------------------------------------------


def test_a_midnight_crossing_window_runs_into_the_next_day() -> None:
    windows = weekly((FRI, "22:00", "06:00"))  # New York, EDT (UTC-4) in May
    friday = utc(2026, 5, 8, 0)

    intervals = expand_weekly(windows, NY, friday, friday + timedelta(days=3))

    assert intervals == [Interval(utc(2026, 5, 9, 2), utc(2026, 5, 9, 10))]
    assert free(windows, NY, utc(2026, 5, 9, 3), utc(2026, 5, 9, 9))
    assert not free(windows, NY, utc(2026, 5, 9, 9), utc(2026, 5, 9, 11))


def test_a_request_after_midnight_finds_the_window_that_began_the_day_before() -> None:
    windows = weekly((FRI, "22:00", "06:00"))

    # Saturday 01:00-05:00 EDT, wholly on the day after the window's own day
    assert free(windows, NY, utc(2026, 5, 9, 5), utc(2026, 5, 9, 9))


def test_a_window_crossing_sunday_night_reaches_monday() -> None:
    windows = weekly((SUN, "20:00", "08:00"))

    assert free(windows, LONDON, utc(2026, 5, 10, 21), utc(2026, 5, 11, 6))  # BST: Sun 22:00 - Mon 07:00


def test_expansion_is_clipped_to_the_range() -> None:
    intervals = expand_weekly(EVERY_DAY, NY, utc(2026, 5, 4, 12, 30), utc(2026, 5, 4, 13))

    assert intervals == [Interval(utc(2026, 5, 4, 12, 30), utc(2026, 5, 4, 13))]


def test_spring_forward_new_york() -> None:
    # 2026-03-08 (Sunday): 02:00 EST jumps to 03:00 EDT at 07:00 UTC; 02:00-02:59 does not exist.
    day = utc(2026, 3, 8)

    # A whole day is 23 real hours.
    assert expand_weekly(weekly((SUN, "00:00", "24:00")), NY, day, day + timedelta(days=2)) == [
        Interval(utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))
    ]
    # A window ending inside the gap ends when the clocks jump (03:00 EDT).
    assert expand_weekly(weekly((SUN, "01:00", "02:30")), NY, day, day + timedelta(days=1)) == [
        Interval(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))
    ]
    # A window starting inside the gap starts then too; one wholly inside the gap is empty.
    assert expand_weekly(weekly((SUN, "02:30", "04:00")), NY, day, day + timedelta(days=1)) == [
        Interval(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))
    ]
    assert expand_weekly(weekly((SUN, "02:15", "02:45")), NY, day, day + timedelta(days=1)) == []
    # Adjacent windows that meet inside the gap stay adjacent.
    split = weekly((SUN, "00:00", "02:30"), (SUN, "02:30", "05:00"))
    assert free(split, NY, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))


def test_fall_back_new_york() -> None:
    # 2026-11-01 (Sunday): 02:00 EDT falls back to 01:00 EST at 06:00 UTC; 01:00-01:59 happens twice.
    day = utc(2026, 11, 1)

    # A whole day is 25 real hours.
    assert expand_weekly(weekly((SUN, "00:00", "24:00")), NY, day, day + timedelta(days=2)) == [
        Interval(utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    ]
    # Ambiguous times are their first occurrence: 00:00-02:00 covers both 01:00 hours (3 real hours) ...
    assert expand_weekly(weekly((SUN, "00:00", "02:00")), NY, day, day + timedelta(days=1)) == [
        Interval(utc(2026, 11, 1, 4), utc(2026, 11, 1, 7))
    ]
    # ... while 00:00-01:30 ends at the first 01:30 (EDT), and 01:30-03:00 starts there.
    assert expand_weekly(weekly((SUN, "00:00", "01:30")), NY, day, day + timedelta(days=1)) == [
        Interval(utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30))
    ]
    assert expand_weekly(weekly((SUN, "01:30", "03:00")), NY, day, day + timedelta(days=1)) == [
        Interval(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8))
    ]


def test_london_dst_days() -> None:
    whole_sunday = weekly((SUN, "00:00", "24:00"))
    # 2026-03-29: 01:00 GMT -> 02:00 BST: a 23 h day.
    assert expand_weekly(whole_sunday, LONDON, utc(2026, 3, 28), utc(2026, 3, 31)) == [
        Interval(utc(2026, 3, 29, 0), utc(2026, 3, 29, 23))
    ]
    # 2026-10-25: 02:00 BST -> 01:00 GMT: a 25 h day.
    assert expand_weekly(whole_sunday, LONDON, utc(2026, 10, 24), utc(2026, 10, 27)) == [
        Interval(utc(2026, 10, 24, 23), utc(2026, 10, 26, 0))
    ]
    # An overnight window across the change: Sat 22:00 BST -> Sun 06:00 GMT is 9 real hours.
    overnight = weekly((SAT, "22:00", "06:00"))
    assert expand_weekly(overnight, LONDON, utc(2026, 10, 24), utc(2026, 10, 27)) == [
        Interval(utc(2026, 10, 24, 21), utc(2026, 10, 25, 6))
    ]


def test_merge_intervals_joins_touching_and_overlapping() -> None:
    a, b, c, d = (utc(2026, 1, 1, h) for h in (1, 2, 3, 4))

    assert merge_intervals([Interval(c, d), Interval(a, b), Interval(b, c)]) == [Interval(a, d)]
    assert merge_intervals([Interval(a, c), Interval(b, c)]) == [Interval(a, c)]
    assert merge_intervals([Interval(a, b), Interval(c, d)]) == [Interval(a, b), Interval(c, d)]


# --- is_free --------------------------------------------------------------------------------------------


def test_adjacent_days_merge_so_multi_day_bookings_fit() -> None:
    windows = weekly((MON, "00:00", "24:00"), (TUE, "00:00", "24:00"))

    # Monday 20:00 to Tuesday 10:00, New York (EDT)
    assert free(windows, NY, utc(2026, 5, 5, 0), utc(2026, 5, 5, 14))
    # into Wednesday, which has no window
    assert not free(windows, NY, utc(2026, 5, 6, 0), utc(2026, 5, 6, 5))


def test_a_crossing_window_merges_with_the_next_mornings_window() -> None:
    windows = weekly((MON, "18:00", "02:00"), (TUE, "02:00", "09:00"))

    assert free(windows, NY, utc(2026, 5, 4, 23), utc(2026, 5, 5, 12))  # Mon 19:00 - Tue 08:00 EDT


def test_a_gap_between_windows_makes_the_slot_unavailable() -> None:
    windows = weekly((MON, "08:00", "12:00"), (MON, "12:15", "18:00"))

    assert not free(windows, "UTC", utc(2026, 5, 4, 11), utc(2026, 5, 4, 13))
    assert free(windows, "UTC", utc(2026, 5, 4, 8), utc(2026, 5, 4, 12))


def test_bookings_and_blackouts_exclude_their_time() -> None:
    start, end = utc(2026, 5, 4, 10), utc(2026, 5, 4, 12)
    overlapping = [(utc(2026, 5, 4, 11, 59), utc(2026, 5, 4, 13))]

    assert is_free(EVERY_DAY, NY, [], [], start, end)
    assert not is_free(EVERY_DAY, NY, overlapping, [], start, end)
    assert not is_free(EVERY_DAY, NY, [], overlapping, start, end)
    assert not is_free(EVERY_DAY, NY, [], [(utc(2026, 5, 4, 9), utc(2026, 5, 4, 15))], start, end)  # contains


def test_touching_is_not_overlapping() -> None:
    start, end = utc(2026, 5, 4, 10), utc(2026, 5, 4, 12)
    before, after = (utc(2026, 5, 4, 8), start), (end, utc(2026, 5, 4, 14))

    assert is_free(EVERY_DAY, NY, [after], [before], start, end)
    # and a booking may end exactly when the window ends
    assert free(weekly((MON, "08:00", "12:00")), "UTC", utc(2026, 5, 4, 10), utc(2026, 5, 4, 12))
    assert not free(weekly((MON, "08:00", "12:00")), "UTC", utc(2026, 5, 4, 10), utc(2026, 5, 4, 12, 1))


def test_times_in_any_zone_mean_the_same_instant() -> None:
    # 01:30 EST (second occurrence, fold=1) on fall-back day is 06:30 UTC; given in the driveway's own zone
    ny = ZoneInfo(NY)
    second_0130 = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ny)
    booking = [(utc(2026, 11, 1, 5), utc(2026, 11, 1, 6))]  # the first 01:00-02:00 (EDT)

    second_0145 = datetime(2026, 11, 1, 1, 45, fold=1, tzinfo=ny)

    assert is_free(EVERY_DAY, NY, [], booking, second_0130, second_0145)
    assert not is_free(EVERY_DAY, NY, [], booking, second_0130.replace(fold=0), second_0130)


@pytest.mark.parametrize(
    ("start", "end", "field_name"),
    [
        (utc(2026, 5, 4, 10), utc(2026, 5, 4, 10), "end"),
        (utc(2026, 5, 4, 10), utc(2026, 5, 4, 9), "end"),
        (datetime(2026, 5, 4, 10), utc(2026, 5, 4, 11), "start"),
        (utc(2026, 5, 4, 10), datetime(2026, 5, 4, 11), "end"),
    ],
)
def test_invalid_request_times_name_the_field(start: datetime, end: datetime, field_name: str) -> None:
    with pytest.raises(AvailabilityError) as excinfo:
        free(EVERY_DAY, NY, start, end)

    assert excinfo.value.field == field_name


def test_invalid_timezone_and_intervals_name_the_field() -> None:
    start, end = utc(2026, 5, 4, 10), utc(2026, 5, 4, 11)
    cases = [
        (lambda: free(EVERY_DAY, "Mars/Olympus_Mons", start, end), "timezone"),
        (lambda: free(EVERY_DAY, "../etc/passwd", start, end), "timezone"),
        (lambda: is_free(EVERY_DAY, NY, [(end, start)], [], start, end), "blackouts[0].end"),
        (lambda: is_free(EVERY_DAY, NY, [], [(datetime(2026, 5, 4), end)], start, end), "bookings[0].start"),
    ]
    for call, field_name in cases:
        with pytest.raises(AvailabilityError) as excinfo:
            call()
        assert excinfo.value.field == field_name


# --- property: is_free agrees with a minute-by-minute brute force ---------------------------------------

# Instants at DST changes in each zone, where mistakes hide.
ANCHORS = [
    utc(2026, 3, 8, 7),  # New York spring forward
    utc(2026, 11, 1, 6),  # New York fall back
    utc(2026, 3, 29, 1),  # London spring forward
    utc(2026, 10, 25, 1),  # London fall back
    utc(2026, 4, 4, 15),  # Lord Howe: 30-minute fall back
    utc(2026, 10, 3, 15, 30),  # Lord Howe: 30-minute spring forward
    utc(2026, 6, 15, 12),  # an ordinary Monday
]
ZONE_OF_ANCHOR = [NY, NY, LONDON, LONDON, "Australia/Lord_Howe", "Australia/Lord_Howe", "Asia/Kathmandu"]
MINUTE = timedelta(minutes=1)
QUARTER = timedelta(minutes=15)


@functools.cache
def _clock_day(tz_name: str, day: date) -> tuple[list[datetime], datetime]:
    """Local wall clock at each minute of one UTC day: running maximum, and the day's maximum."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    walls = [(midnight + i * MINUTE).astimezone(ZoneInfo(tz_name)).replace(tzinfo=None) for i in range(1_440)]
    running_max = list(itertools.accumulate(walls, max))
    return running_max, running_max[-1]


def _first_minute_reading(tz_name: str, scan_from: date, wall: datetime) -> datetime:
    """The first minute, scanning forward from UTC midnight of ``scan_from``, whose local clock reads
    ``wall`` or later."""
    day = scan_from
    while True:
        running_max, day_max = _clock_day(tz_name, day)
        if day_max >= wall:  # the running max is monotone, so bisect finds the first such minute
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            return midnight + bisect.bisect_left(running_max, wall) * MINUTE
        day += timedelta(days=1)


def oracle_coverage(
    windows: Sequence[WeeklyWindow], tz_name: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The windows as UTC intervals, found by reading the local clock minute by minute: a wall time maps to
    the first minute whose clock reads that time or later. Shares no code with the module."""
    tz = ZoneInfo(tz_name)
    scan_from = (start - timedelta(days=3)).date()
    covered: list[tuple[datetime, datetime]] = []
    local_day = start.astimezone(tz).date() - timedelta(days=2)
    while local_day <= end.astimezone(tz).date() + timedelta(days=1):
        midnight = datetime.combine(local_day, datetime.min.time())
        for w in windows:
            if w.day == local_day.weekday():
                a = _first_minute_reading(tz_name, scan_from, midnight + w.start_minute * MINUTE)
                b = _first_minute_reading(tz_name, scan_from, midnight + (w.start_minute + w.length_minutes) * MINUTE)
                if a < b:
                    covered.append((a, b))
        local_day += timedelta(days=1)
    return covered


def brute_force_is_free(
    windows: Sequence[WeeklyWindow],
    tz_name: str,
    blackouts: list[tuple[datetime, datetime]],
    bookings: list[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
) -> bool:
    """Walk every minute of [start, end): covered by a window, and in no blackout or booking."""
    covered = oracle_coverage(windows, tz_name, start, end)
    t = start
    while t < end:
        if not any(a <= t < b for a, b in covered) or any(a <= t < b for a, b in [*blackouts, *bookings]):
            return False
        t += MINUTE
    return True


def _minutes(intervals: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> set[datetime]:
    out: set[datetime] = set()
    for a, b in intervals:
        t = max(a, start)
        while t < min(b, end):
            out.add(t)
            t += MINUTE
    return out


# Wall times around 01:00-03:00 (where the clocks change) are drawn more often than the rest of the day.
_wall_minutes = st.one_of(st.sampled_from(range(0, 241, 15)), st.integers(0, 95).map(lambda q: q * 15))
_lengths = st.one_of(st.sampled_from([15, 30, 45, 60, 90, 120, 1_425, 1_440]), st.integers(1, 96).map(lambda q: q * 15))


@st.composite
def weekly_windows(draw: st.DrawFn, focus: int) -> tuple[WeeklyWindow, ...]:
    """Valid weekly windows on a 15-minute grid, often whole or touching days; overlapping ones dropped.

    Windows fall on day ``focus`` (the DST day) or the day before (crossing into it) more often."""
    days = st.one_of(st.sampled_from([focus, (focus - 1) % 7]), st.integers(0, 6))
    if draw(st.booleans()):
        candidates = [(d, 0, 1_440) for d in draw(st.sets(st.integers(0, 6), min_size=4))]
        candidates += draw(st.lists(st.tuples(days, _wall_minutes, _lengths), max_size=2))
    else:
        candidates = draw(st.lists(st.tuples(days, _wall_minutes, _lengths), max_size=8))
    windows: list[WeeklyWindow] = []
    for day, start, length in candidates:
        end = start + length - (1_440 if start + length > 1_440 else 0)
        if end == start or start >= 1_440:
            continue
        try:
            validate_weekly([*windows, WeeklyWindow(day, start, end)])
        except AvailabilityError:
            continue
        windows.append(WeeklyWindow(day, start, end))
    return tuple(windows)


Intervals = list[tuple[datetime, datetime]]
Scenario = tuple[tuple[WeeklyWindow, ...], str, Intervals, Intervals, datetime, datetime]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Windows, a zone, a request near one of its DST changes, and maybe blackouts/bookings.

    Request ends are often snapped to window boundaries (found by the oracle) so that exact fits and
    off-by-one-boundary cases come up, not only obvious misses.
    """
    i = draw(st.integers(0, len(ANCHORS) - 1))
    anchor, tz = ANCHORS[i], draw(st.sampled_from([ZONE_OF_ANCHOR[i], "UTC"]))
    windows = draw(weekly_windows(anchor.astimezone(ZoneInfo(tz)).weekday()))
    lo, hi = anchor - timedelta(days=2), anchor + timedelta(days=2)
    boundaries = sorted({t for a, b in oracle_coverage(windows, tz, lo, hi) for t in (a, b) if lo <= t <= hi})
    nudge = st.sampled_from([timedelta(0), timedelta(0), QUARTER, -QUARTER, MINUTE, -MINUTE])

    anywhere = st.integers(-96, 96).map(lambda q: anchor + QUARTER * q)
    snapped = st.tuples(st.sampled_from(boundaries), nudge).map(lambda p: p[0] + p[1]) if boundaries else anywhere
    instants = st.one_of(snapped, anywhere)
    start, end = sorted((draw(instants), draw(instants)))
    if end == start:
        end = start + QUARTER
    near = st.tuples(st.integers(-8, 40), st.integers(1, 16)).map(
        lambda p: (start + p[0] * QUARTER, start + (p[0] + p[1]) * QUARTER)
    )
    blackouts = draw(st.one_of(st.just([]), st.lists(near, max_size=2)))
    bookings = draw(st.one_of(st.just([]), st.lists(near, max_size=2)))
    return windows, tz, blackouts, bookings, start, end


@settings(max_examples=400, deadline=None)
@given(scenario=scenarios())
def test_is_free_matches_a_minute_by_minute_brute_force(scenario: Scenario) -> None:
    windows, tz, blackouts, bookings, start, end = scenario

    answer = is_free(windows, tz, blackouts, bookings, start, end)

    event(f"free={answer}")
    assert answer == brute_force_is_free(windows, tz, blackouts, bookings, start, end)


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios())
def test_expanded_windows_cover_exactly_the_brute_force_minutes(scenario: Scenario) -> None:
    windows, tz, _, _, start, end = scenario

    expanded = expand_weekly(windows, tz, start, end)

    assert _minutes(expanded, start, end) == _minutes(oracle_coverage(windows, tz, start, end), start, end)
    assert expanded == merge_intervals(expanded)  # sorted, disjoint, not touching


def test_brute_force_sanity() -> None:
    # The property tests are only as good as their oracle: check it on known DST answers.
    gap_end, fall_back = weekly((SUN, "01:00", "02:30")), weekly((SUN, "00:00", "02:00"))
    assert brute_force_is_free(gap_end, NY, [], [], utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))
    assert not brute_force_is_free(gap_end, NY, [], [], utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 1))
    assert brute_force_is_free(fall_back, NY, [], [], utc(2026, 11, 1, 4), utc(2026, 11, 1, 7))
    assert date(2026, 3, 8).weekday() == SUN and date(2026, 11, 1).weekday() == SUN
