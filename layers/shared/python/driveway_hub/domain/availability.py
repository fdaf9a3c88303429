"""When a driveway can be booked: weekly windows in its own time zone, minus blackouts and bookings.

* **Weekly windows** ``{day: 0-6 (0 = Monday), start: "HH:MM", end: "HH:MM"}`` are wall-clock times in the
  driveway's IANA time zone. ``end`` may be ``"24:00"``; a window whose ``end`` is before its ``start``
  runs past midnight into the next day (Fri 22:00-06:00 ends Saturday 06:00). ``end == start`` is rejected.
  Windows may touch (Mon 00:00-24:00 and Tue 00:00-24:00 form one 48 h stretch) but not overlap.
* **Blackouts and bookings** are UTC intervals. Every interval is half-open ``[start, end)``: touching is
  not overlapping, so a booking may start at the instant another ends.
* **DST rule.** A wall time maps to *the first instant at which the local clock reads that time or later*:
  - spring forward, a time that does not exist (02:30 on 2026-03-08 in New York) is the instant the clocks
    jump, 03:00 EDT; a window 01:00-02:30 that night ends at 03:00 EDT, one 02:00-02:45 is empty;
  - fall back, an ambiguous time (01:30 on 2026-11-01) is its first occurrence (``fold=0``, EDT); a window
    00:00-02:00 that night lasts 3 real hours and covers both 01:00-02:00 hours.
  The mapping never goes backwards in time, so windows that do not overlap in the week never overlap in
  UTC, and adjacent windows stay adjacent on DST nights.

``is_free`` is the one answer to "can this driveway be booked for [start, end)?". Pure; stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from driveway_hub.errors import InvalidInput

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
MAX_WEEKLY_WINDOWS = 64
_HHMM = re.compile(r"(\d{2}):(\d{2})")


class AvailabilityError(InvalidInput, ValueError):
    """Invalid availability input; ``field`` names it, e.g. ``weekly[2].end`` or ``start`` (400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}", field=field)


class Interval(NamedTuple):
    """Half-open ``[start, end)`` between two aware datetimes."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """One weekly window, in minutes since local midnight of ``day`` (0 = Monday).

    ``end_minute`` is 0-1440; ``end_minute <= start_minute`` means the window ends on the next day.
    """

    day: int
    start_minute: int
    end_minute: int

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    @property
    def length_minutes(self) -> int:
        return self.end_minute - self.start_minute + (MINUTES_PER_DAY if self.crosses_midnight else 0)

    def to_dict(self) -> dict[str, int | str]:
        return {"day": self.day, "start": _format_hhmm(self.start_minute), "end": _format_hhmm(self.end_minute)}


def _format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_hhmm(value: object, field: str, *, allow_24: bool) -> int:
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise AvailabilityError(field, 'must be a time "HH:MM"')
    hours, minutes = int(match[1]), int(match[2])
    if allow_24 and (hours, minutes) == (24, 0):
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise AvailabilityError(field, 'must be between "00:00" and "23:59"' + (' or "24:00"' if allow_24 else ""))
    return hours * 60 + minutes


def parse_weekly(raw: Sequence[Mapping[str, object]]) -> tuple[WeeklyWindow, ...]:
    """Validate the API's ``availability.weekly`` list and return it as windows.

    Raises ``AvailabilityError`` naming the first bad field (``weekly[i].day|start|end``), or the later of
    two windows that overlap in the week (midnight-crossing ones and Sunday into Monday included).
    """
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise AvailabilityError("weekly", "must be a list of windows")
    if len(raw) > MAX_WEEKLY_WINDOWS:
        raise AvailabilityError("weekly", f"must have at most {MAX_WEEKLY_WINDOWS} windows")
    windows = []
    for i, item in enumerate(raw):
        field = f"weekly[{i}]"
        if not isinstance(item, Mapping):
            raise AvailabilityError(field, "must be an object with day, start and end")
        day = item.get("day")
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise AvailabilityError(f"{field}.day", "must be an integer 0-6 (0 = Monday)")
        start = _parse_hhmm(item.get("start"), f"{field}.start", allow_24=False)
        end = _parse_hhmm(item.get("end"), f"{field}.end", allow_24=True)
        if end == start:
            raise AvailabilityError(f"{field}.end", "must differ from start (use 00:00-24:00 for a whole day)")
        windows.append(WeeklyWindow(day, start, end))
    validate_weekly(windows)
    return tuple(windows)


def validate_weekly(windows: Sequence[WeeklyWindow]) -> None:
    """Raise ``AvailabilityError`` if two windows overlap on the (cyclic) week; touching is fine."""
    segments: list[tuple[int, int, int]] = []  # (start, end, index) in minutes of the week
    for i, w in enumerate(windows):
        if not 0 <= w.day <= 6 or not 0 <= w.start_minute < MINUTES_PER_DAY or not 0 <= w.end_minute <= MINUTES_PER_DAY:
            raise AvailabilityError(f"weekly[{i}]", "has a day or minutes out of range")
        if w.start_minute == w.end_minute:
            raise AvailabilityError(f"weekly[{i}].end", "must differ from start")
        start = w.day * MINUTES_PER_DAY + w.start_minute
        end = start + w.length_minutes
        if end > MINUTES_PER_WEEK:  # Sunday night into Monday morning
            segments += [(start, MINUTES_PER_WEEK, i), (0, end - MINUTES_PER_WEEK, i)]
        else:
            segments.append((start, end, i))
    segments.sort()
    for (_, prev_end, prev_i), (start, _, i) in pairwise(segments):
        if start < prev_end:
            first, second = sorted((prev_i, i))
            raise AvailabilityError(f"weekly[{second}]", f"overlaps weekly[{first}]")


def zone(tz: str | ZoneInfo) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (``AvailabilityError`` on ``timezone`` if unknown)."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise AvailabilityError("timezone", "must be an IANA time zone such as America/New_York") from exc


def _aware_utc(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise AvailabilityError(field, "must be a timezone-aware datetime")
    # Normalise first: aware datetimes sharing a tzinfo compare by wall time, ignoring DST.
    return value.astimezone(UTC)


def _interval(value: Interval | tuple[datetime, datetime], field: str) -> Interval:
    start, end = value
    result = Interval(_aware_utc(start, f"{field}.start"), _aware_utc(end, f"{field}.end"))
    if result.end <= result.start:
        raise AvailabilityError(f"{field}.end", "must be after start")
    return result


def _first_instant_at_or_after(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The first instant at which the local clock in ``tz`` reads ``day`` + ``minute`` or later (UTC)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    instant = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the first occurrence of an ambiguous time
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # ``wall`` falls in a spring-forward gap. fold=0 read it with the old offset, which lands after the
    # jump by the time ``wall`` is past the gap's start; fold=1 lands before the jump. Find the jump.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    old_offset = before.astimezone(tz).utcoffset()
    # Offsets and transitions are whole seconds, so search whole seconds: before + lo is still on the old
    # offset, before + hi already on the new one.
    lo, hi = 0, int((instant - before).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (before + timedelta(seconds=mid)).astimezone(tz).utcoffset() == old_offset:
            lo = mid
        else:
            hi = mid
    return before + timedelta(seconds=hi)


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union; touching intervals merge (``[a, b) + [b, c) = [a, c)``)."""
    merged: list[Interval] = []
    for current in sorted(intervals):
        if merged and current.start <= merged[-1].end:
            if current.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, current.end)
        else:
            merged.append(current)
    return merged


def expand_weekly(
    weekly: Sequence[WeeklyWindow], tz: str | ZoneInfo, range_start: datetime, range_end: datetime
) -> list[Interval]:
    """The weekly windows as concrete UTC intervals, clipped to ``[range_start, range_end)`` and merged."""
    tzinfo = zone(tz)
    lo, hi = _aware_utc(range_start, "start"), _aware_utc(range_end, "end")
    if hi <= lo:
        return []
    by_day: dict[int, list[WeeklyWindow]] = {}
    for w in weekly:
        by_day.setdefault(w.day, []).append(w)
    out: list[Interval] = []
    # A window starting on local day d ends by d + 2 days, so the day before the range can reach into it.
    day = lo.astimezone(tzinfo).date() - timedelta(days=1)
    last = hi.astimezone(tzinfo).date()
    while day <= last:
        for w in by_day.get(day.weekday(), ()):
            start = _first_instant_at_or_after(day, w.start_minute, tzinfo)
            end = _first_instant_at_or_after(day, w.start_minute + w.length_minutes, tzinfo)
            start, end = max(start, lo), min(end, hi)
            if start < end:
                out.append(Interval(start, end))
        day += timedelta(days=1)
    return merge_intervals(out)


def _overlaps(a: Interval, b: Interval) -> bool:
    return a.start < b.end and b.start < a.end


def is_free(
    weekly: Sequence[WeeklyWindow],
    tz: str | ZoneInfo,
    blackouts: Iterable[Interval | tuple[datetime, datetime]],
    bookings: Iterable[Interval | tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
) -> bool:
    """True only if ``[start, end)`` lies wholly inside the weekly availability and touches no blackout
    and no booking (half-open intervals: ending exactly when a booking starts is fine).

    Raises
    ------
    AvailabilityError
        ``start``/``end`` naive or not ordered (``end``), a bad time zone (``timezone``), or a malformed
        blackout/booking (``blackouts[i]``/``bookings[i]``).
    """
    wanted = Interval(_aware_utc(start, "start"), _aware_utc(end, "end"))
    if wanted.end <= wanted.start:
        raise AvailabilityError("end", "must be after start")
    for name, intervals in (("blackouts", blackouts), ("bookings", bookings)):
        for i, item in enumerate(intervals):
            if _overlaps(_interval(item, f"{name}[{i}]"), wanted):
                return False
    # Clipped to the request and merged, full coverage means exactly one interval equal to the request.
    return expand_weekly(weekly, tz, wanted.start, wanted.end) == [wanted]
