"""Cron schedules: parse once, then answer "does this time match" and "when is the next/previous run".

One parser serves two dialects:

- 5-field cron (`minute hour day-of-month month day-of-week`), used by task timer triggers;
- 6-field NCRONTAB (`second minute hour day-of-month month day-of-week`), used by Azure Functions
  timer triggers.

All times are UTC. Fields accept `*`, `?` (same as `*`), lists (`1,15`), ranges (`1-5`), steps
(`*/5`, `1-30/2`, `5/15` meaning `5-<max>/15`), month names (`jan`..`dec`) and weekday names
(`sun`..`sat`), case-insensitive. Day-of-week 0 and 7 both mean Sunday.

When both day-of-month and day-of-week are restricted (neither written as `*`), standard cron
matches a day if *either* matches (`DayMatch.EITHER`, the default). NCRONTAB, the library behind the
Functions timer trigger, requires *both* to match; pass `day_match=DayMatch.BOTH` for that.

Schedules are frozen values holding each field as a sorted tuple, so `next_after` and
`latest_at_or_before` move field by field (at most a few dozen steps per year searched) instead of
minute by minute. Schedules that can never fire (`0 0 30 2 *`) are rejected when parsed.
"""

from __future__ import annotations

import calendar
import enum
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.errors import InvalidRequest

__all__ = ["CronSchedule", "DayMatch", "parse_cron"]


class DayMatch(enum.Enum):
    """How day-of-month and day-of-week combine when both are restricted."""

    EITHER = "either"  # standard (Vixie/POSIX) cron
    BOTH = "both"  # NCRONTAB (Azure Functions timer trigger)


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: dict[str, int]


_MONTH_NAMES = {
    name.lower(): number
    for number, (abbr, full) in enumerate(zip(calendar.month_abbr[1:], calendar.month_name[1:], strict=True), start=1)
    for name in (abbr, full)
}
# cron numbers weekdays from Sunday = 0; `calendar.day_abbr` starts on Monday.
_WEEKDAY_NAMES = {
    name.lower(): (index + 1) % 7
    for index, (abbr, full) in enumerate(zip(calendar.day_abbr, calendar.day_name, strict=True))
    for name in (abbr, full)
}

_SECOND = _FieldSpec("second", 0, 59, {})
_MINUTE = _FieldSpec("minute", 0, 59, {})
_HOUR = _FieldSpec("hour", 0, 23, {})
_DAY = _FieldSpec("day-of-month", 1, 31, {})
_MONTH = _FieldSpec("month", 1, 12, _MONTH_NAMES)
_WEEKDAY = _FieldSpec("day-of-week", 0, 7, _WEEKDAY_NAMES)

_FIVE_FIELDS = "minute hour day-of-month month day-of-week"
_MAX_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Every day/weekday/month combination that can occur at all recurs within one 400-year
# Gregorian cycle, so a search that has not found an occurrence by then never will.
_SEARCH_YEARS = 401


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron schedule; build one with `parse_cron`.

    Example: `parse_cron("*/15 9-17 * * mon-fri").next_after(datetime(2025, 1, 3, 17, 50, tzinfo=UTC))`
    is Monday 2025-01-06 09:00 UTC.
    """

    expression: str
    with_seconds: bool
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday .. 6 = Saturday
    days_restricted: bool
    weekdays_restricted: bool
    day_match: DayMatch = DayMatch.EITHER
    _day_set: frozenset[int] = field(init=False, repr=False, compare=False)
    _weekday_set: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_day_set", frozenset(self.days))
        object.__setattr__(self, "_weekday_set", frozenset(self.weekdays))

    def matches(self, t: datetime) -> bool:
        """True if the schedule fires at `t` (to the second; a 5-field schedule fires at second 0)."""
        t = _as_utc(t)
        return (
            t.second in self.seconds
            and t.minute in self.minutes
            and t.hour in self.hours
            and t.month in self.months
            and self._day_matches(t.year, t.month, t.day)
        )

    def next_after(self, t: datetime) -> datetime:
        """The first occurrence strictly after `t`, as an aware UTC datetime."""
        start = _as_utc(t).replace(microsecond=0, tzinfo=None) + timedelta(seconds=1)
        return self._search_forward(start)

    def latest_at_or_before(self, t: datetime) -> datetime:
        """The last occurrence at or before `t`, as an aware UTC datetime."""
        return self._search_backward(_as_utc(t).replace(microsecond=0, tzinfo=None))

    def occurrences_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Occurrences `o` with `start < o <= end`, oldest first."""
        end = _as_utc(end)
        occurrence = self.next_after(start)
        while occurrence <= end:
            yield occurrence
            occurrence = self.next_after(occurrence)

    def _day_matches(self, year: int, month: int, day: int) -> bool:
        weekday = (calendar.weekday(year, month, day) + 1) % 7
        return self._day_matches_weekday(day, weekday)

    def _day_matches_weekday(self, day: int, weekday: int) -> bool:
        day_ok = day in self._day_set
        weekday_ok = weekday in self._weekday_set
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok if self.day_match is DayMatch.EITHER else day_ok and weekday_ok
        return day_ok and weekday_ok

    def _first_day_from(self, year: int, month: int, day: int) -> int | None:
        last = calendar.monthrange(year, month)[1]
        weekday = (calendar.weekday(year, month, day) + 1) % 7 if day <= last else 0
        for candidate in range(day, last + 1):
            if self._day_matches_weekday(candidate, weekday):
                return candidate
            weekday = (weekday + 1) % 7
        return None

    def _last_day_until(self, year: int, month: int, day: int) -> int | None:
        day = min(day, calendar.monthrange(year, month)[1])
        if day < 1:
            return None
        weekday = (calendar.weekday(year, month, day) + 1) % 7
        for candidate in range(day, 0, -1):
            if self._day_matches_weekday(candidate, weekday):
                return candidate
            weekday = (weekday - 1) % 7
        return None

    def _search_forward(self, start: datetime) -> datetime:
        year, month, day = start.year, start.month, start.day
        hour, minute, second = start.hour, start.minute, start.second
        limit = year + _SEARCH_YEARS
        while year <= limit:
            found_month = _first_at_least(self.months, month)
            if found_month is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if found_month != month:
                month, day, hour, minute, second = found_month, 1, 0, 0, 0
            found_day = self._first_day_from(year, month, day)
            if found_day is None:
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                day, hour, minute, second = 1, 0, 0, 0
                continue
            if found_day != day:
                day, hour, minute, second = found_day, 0, 0, 0
            found_hour = _first_at_least(self.hours, hour)
            if found_hour is None:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if found_hour != hour:
                hour, minute, second = found_hour, 0, 0
            found_minute = _first_at_least(self.minutes, minute)
            if found_minute is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if found_minute != minute:
                minute, second = found_minute, 0
            found_second = _first_at_least(self.seconds, second)
            if found_second is None:
                minute, second = minute + 1, 0
                continue
            return datetime(year, month, day, hour, minute, found_second, tzinfo=UTC)
        raise InvalidRequest(f"cron '{self.expression}' has no occurrence within {_SEARCH_YEARS} years")

    def _search_backward(self, start: datetime) -> datetime:
        year, month, day = start.year, start.month, start.day
        hour, minute, second = start.hour, start.minute, start.second
        limit = year - _SEARCH_YEARS
        while year >= max(limit, 1):
            found_month = _last_at_most(self.months, month)
            if found_month is None:
                year, month, day, hour, minute, second = year - 1, 12, 31, 23, 59, 59
                continue
            if found_month != month:
                month, day, hour, minute, second = found_month, 31, 23, 59, 59
            found_day = self._last_day_until(year, month, day)
            if found_day is None:
                year, month = (year - 1, 12) if month == 1 else (year, month - 1)
                day, hour, minute, second = 31, 23, 59, 59
                continue
            if found_day != day:
                day, hour, minute, second = found_day, 23, 59, 59
            found_hour = _last_at_most(self.hours, hour)
            if found_hour is None:
                day, hour, minute, second = day - 1, 23, 59, 59
                continue
            if found_hour != hour:
                hour, minute, second = found_hour, 59, 59
            found_minute = _last_at_most(self.minutes, minute)
            if found_minute is None:
                hour, minute, second = hour - 1, 59, 59
                continue
            if found_minute != minute:
                minute, second = found_minute, 59
            found_second = _last_at_most(self.seconds, second)
            if found_second is None:
                minute, second = minute - 1, 59
                continue
            return datetime(year, month, day, hour, minute, found_second, tzinfo=UTC)
        raise InvalidRequest(f"cron '{self.expression}' has no occurrence within {_SEARCH_YEARS} years")


def parse_cron(expr: str, *, with_seconds: bool | None = None, day_match: DayMatch = DayMatch.EITHER) -> CronSchedule:
    """Parse a 5-field cron or 6-field NCRONTAB expression (UTC).

    `with_seconds=None` infers the dialect from the number of fields.
    Example: `parse_cron("0 */5 * * * *").with_seconds` is True.
    """
    text = expr.strip()
    fields = text.split()
    expected = {None: (5, 6), True: (6,), False: (5,)}[with_seconds]
    if len(fields) not in expected:
        raise InvalidRequest(_field_count_message(expr, len(fields), with_seconds))
    has_seconds = len(fields) == 6
    if not has_seconds:
        fields = ["0", *fields]
    seconds, minutes, hours, days, months, weekdays = (
        _parsed_field(expr, value, spec)
        for value, spec in zip(fields, (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY), strict=True)
    )
    weekday_values = tuple(sorted({value % 7 for value in weekdays[0]}))
    schedule = CronSchedule(
        expression=text,
        with_seconds=has_seconds,
        seconds=seconds[0],
        minutes=minutes[0],
        hours=hours[0],
        days=days[0],
        months=months[0],
        weekdays=weekday_values,
        days_restricted=not days[1],
        weekdays_restricted=not weekdays[1],
        day_match=day_match,
    )
    _check_possible(schedule)
    return schedule


def _field_count_message(expr: str, count: int, with_seconds: bool | None) -> str:
    six = f"6 fields (second {_FIVE_FIELDS})"
    five = f"5 fields ({_FIVE_FIELDS})"
    wanted = {None: f"{five} or {six}", True: six, False: five}[with_seconds]
    return f"cron '{expr}': expected {wanted}, got {count}"


_FIELD_CACHE: dict[tuple[str, str], tuple[tuple[int, ...], bool]] = {}
_FIELD_CACHE_LIMIT = 100_000


def _parsed_field(expr: str, text: str, spec: _FieldSpec) -> tuple[tuple[int, ...], bool]:
    """`_parse_field`, remembered: fields like `*` or `0` repeat across thousands of task schedules."""
    key = (spec.name, text)
    found = _FIELD_CACHE.get(key)
    if found is None:
        found = _parse_field(expr, text, spec)  # raises, naming the whole expression, if invalid
        if len(_FIELD_CACHE) < _FIELD_CACHE_LIMIT:
            _FIELD_CACHE[key] = found
    return found


def _parse_field(expr: str, text: str, spec: _FieldSpec) -> tuple[tuple[int, ...], bool]:
    """The field's sorted values, and whether it was written as an unrestricted `*`."""
    values: set[int] = set()
    star = False
    for item in text.split(","):
        if not item:
            raise InvalidRequest(f"cron '{expr}': {spec.name} field '{text}' has an empty list item")
        item_values, item_star = _parse_item(expr, item, spec)
        values.update(item_values)
        star = star or item_star
    return tuple(sorted(values)), star


def _parse_item(expr: str, item: str, spec: _FieldSpec) -> tuple[range, bool]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        step = _parse_number(expr, step_text, spec, item, what="step")
        if step < 1:
            raise InvalidRequest(f"cron '{expr}': {spec.name} field '{item}' has step 0; steps start at 1")
    if base in ("*", "?"):
        return range(spec.low, spec.high + 1, step), step == 1
    low_text, dash, high_text = base.partition("-")
    low = _parse_value(expr, low_text, spec, item)
    if dash:
        high = _parse_value(expr, high_text, spec, item)
    elif slash:
        high = spec.high  # `5/15` means `5-<max>/15`
    else:
        high = low
    if low > high:
        raise InvalidRequest(
            f"cron '{expr}': {spec.name} field '{item}' is a range that starts after it ends; "
            f"write the lower bound first"
        )
    return range(low, high + 1, step), False


def _parse_value(expr: str, text: str, spec: _FieldSpec, item: str) -> int:
    named = spec.names.get(text.lower())
    if named is not None:
        return named
    value = _parse_number(expr, text, spec, item, what="value")
    if not spec.low <= value <= spec.high:
        raise InvalidRequest(f"cron '{expr}': {spec.name} field '{item}' is out of range {spec.low}-{spec.high}")
    return value


def _parse_number(expr: str, text: str, spec: _FieldSpec, item: str, *, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        allowed = "numbers, '*', '?', lists (a,b), ranges (a-b) and steps (*/n, a-b/n, a/n)"
        if spec.names and what == "value":
            examples = ", ".join(list(spec.names)[:3])
            allowed += f", or names such as {examples}"
        raise InvalidRequest(f"cron '{expr}': {spec.name} field '{item}' is not valid; use {allowed}")
    return int(text)


def _check_possible(schedule: CronSchedule) -> None:
    if schedule.weekdays_restricted and schedule.day_match is DayMatch.EITHER:
        return  # some weekday occurs in every month
    if any(schedule.days[0] <= _MAX_DAYS_IN_MONTH[month] for month in schedule.months):
        return
    month_names = ", ".join(calendar.month_abbr[month] for month in schedule.months)
    raise InvalidRequest(
        f"cron '{schedule.expression}' never fires: day-of-month {schedule.days[0]} or later "
        f"does not occur in {month_names}"
    )


def _as_utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"cron times must be timezone-aware (UTC), got naive {t.isoformat()}")
    return t.astimezone(UTC)


def _first_at_least(values: tuple[int, ...], value: int) -> int | None:
    index = bisect_left(values, value)
    return values[index] if index < len(values) else None


def _last_at_most(values: tuple[int, ...], value: int) -> int | None:
    index = bisect_right(values, value)
    return values[index - 1] if index else None
