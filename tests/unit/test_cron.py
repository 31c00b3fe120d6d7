import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice, pairwise

import pytest

from core.cron import CronSchedule, DayMatch, parse_cron
from core.errors import InvalidRequest


def at(year: int, month: int, day: int, *clock: int) -> datetime:
    """A UTC datetime; `clock` is an optional hour, minute and second."""
    hour, minute, second = (*clock, 0, 0, 0)[:3]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def first_occurrences(schedule: CronSchedule, start: datetime, count: int) -> list[datetime]:
    return list(islice(schedule.occurrences_between(start, start + timedelta(days=366 * 30)), count))


def brute_force(schedule: CronSchedule, start: datetime, count: int) -> list[datetime]:
    """Scan day by day (skipping days that cannot match), then every second or minute of a matching day."""
    step = timedelta(seconds=1) if schedule.with_seconds else timedelta(minutes=1)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    found: list[datetime] = []
    while len(found) < count:
        first_time = day.replace(hour=schedule.hours[0], minute=schedule.minutes[0], second=schedule.seconds[0])
        if schedule.matches(first_time):
            t = day
            while t < day + timedelta(days=1) and len(found) < count:
                if t > start and schedule.matches(t):
                    found.append(t)
                t += step
        day += timedelta(days=1)
    return found


def test_five_field_expression_is_minute_hour_day_month_weekday_at_second_zero() -> None:
    schedule = parse_cron("30 4 * * *")

    assert not schedule.with_seconds
    assert schedule.next_after(at(2025, 1, 1)) == at(2025, 1, 1, 4, 30)
    assert schedule.next_after(at(2025, 1, 1, 4, 30)) == at(2025, 1, 2, 4, 30)


def test_six_field_expression_has_seconds_first() -> None:
    schedule = parse_cron("15 */5 * * * *")

    assert schedule.with_seconds
    assert first_occurrences(schedule, at(2025, 1, 1), 3) == [
        at(2025, 1, 1, 0, 0, 15),
        at(2025, 1, 1, 0, 5, 15),
        at(2025, 1, 1, 0, 10, 15),
    ]


def test_field_count_can_be_required() -> None:
    with pytest.raises(InvalidRequest, match="expected 6 fields"):
        parse_cron("* * * * *", with_seconds=True)
    with pytest.raises(InvalidRequest, match="expected 5 fields"):
        parse_cron("0 * * * * *", with_seconds=False)
    with pytest.raises(InvalidRequest, match=r"expected 5 fields .* or 6 fields .*, got 3"):
        parse_cron("* * *")


def test_next_after_is_strictly_after_and_ignores_microseconds() -> None:
    schedule = parse_cron("0 12 * * *")

    assert schedule.next_after(at(2025, 3, 1, 12)) == at(2025, 3, 2, 12)
    assert schedule.next_after(at(2025, 3, 1, 11, 59, 59) + timedelta(microseconds=999_999)) == at(2025, 3, 1, 12)


def test_lists_ranges_and_steps_combine() -> None:
    schedule = parse_cron("0,30 9-11 * * *")

    assert first_occurrences(schedule, at(2025, 1, 1), 7) == [
        at(2025, 1, 1, 9),
        at(2025, 1, 1, 9, 30),
        at(2025, 1, 1, 10),
        at(2025, 1, 1, 10, 30),
        at(2025, 1, 1, 11),
        at(2025, 1, 1, 11, 30),
        at(2025, 1, 2, 9),
    ]


def test_steps_over_a_range_and_from_a_start_value() -> None:
    assert parse_cron("1-30/7 * * * *").minutes == (1, 8, 15, 22, 29)
    assert parse_cron("5/15 * * * *").minutes == (5, 20, 35, 50)
    assert parse_cron("*/20 * * * *").minutes == (0, 20, 40)
    assert parse_cron("*/90 * * * *").minutes == (0,)


def test_question_mark_means_any() -> None:
    schedule = parse_cron("0 0 ? * ?")

    assert schedule.days == tuple(range(1, 32))
    assert not schedule.days_restricted
    assert not schedule.weekdays_restricted
    assert schedule.next_after(at(2025, 1, 1)) == at(2025, 1, 2)


def test_month_and_weekday_names_are_case_insensitive() -> None:
    schedule = parse_cron("0 9 * JAN-mar Mon-FRI")

    assert schedule.months == (1, 2, 3)
    assert schedule.weekdays == (1, 2, 3, 4, 5)
    assert parse_cron("0 0 * jan,Jul,DEC sun").months == (1, 7, 12)
    assert parse_cron("0 0 * * sunday,Saturday").weekdays == (0, 6)


def test_weekday_range_skips_the_weekend() -> None:
    schedule = parse_cron("*/15 9-17 * * mon-fri")

    # Friday 2025-01-03 17:50 -> Monday 09:00
    assert schedule.next_after(at(2025, 1, 3, 17, 50)) == at(2025, 1, 6, 9)


def test_sunday_is_both_zero_and_seven() -> None:
    assert parse_cron("0 0 * * 0").weekdays == parse_cron("0 0 * * 7").weekdays == (0,)
    assert parse_cron("0 0 * * 5-7").weekdays == (0, 5, 6)
    # 2025-01-05 is a Sunday
    assert parse_cron("0 0 * * 7").next_after(at(2025, 1, 1)) == at(2025, 1, 5)


def test_restricted_day_of_month_and_weekday_match_either_by_default() -> None:
    schedule = parse_cron("30 4 1,15 * 5")
    occurrences = first_occurrences(schedule, at(2025, 1, 1), 6)

    # the 1st and 15th of each month, plus every Friday
    assert [o.day for o in occurrences] == [1, 3, 10, 15, 17, 24]
    assert all(o.day in (1, 15) or o.weekday() == 4 for o in occurrences)


def test_day_match_both_requires_day_of_month_and_weekday_like_ncrontab() -> None:
    friday_13th = parse_cron("0 0 0 13 * fri", day_match=DayMatch.BOTH)

    assert first_occurrences(friday_13th, at(2025, 1, 1), 3) == [at(2025, 6, 13), at(2026, 2, 13), at(2026, 3, 13)]


def test_a_star_day_field_leaves_the_other_field_in_charge() -> None:
    weekdays_only = parse_cron("0 0 * * 1")
    days_only = parse_cron("0 0 10 * *")

    assert weekdays_only.next_after(at(2025, 1, 1)) == at(2025, 1, 6)
    assert days_only.next_after(at(2025, 1, 1)) == at(2025, 1, 10)


def test_a_stepped_star_counts_as_restricted() -> None:
    schedule = parse_cron("0 0 */10 * 1")

    assert schedule.days_restricted
    assert schedule.weekdays_restricted
    # the 1st, 11th, 21st, 31st, or any Monday
    assert [o.day for o in first_occurrences(schedule, at(2025, 1, 1), 6)] == [6, 11, 13, 20, 21, 27]


def test_month_ends_skip_months_without_the_day() -> None:
    schedule = parse_cron("0 0 31 * *")

    assert [(o.month, o.day) for o in first_occurrences(schedule, at(2025, 1, 1), 4)] == [
        (1, 31),
        (3, 31),
        (5, 31),
        (7, 31),
    ]


def test_february_29th_fires_only_in_leap_years() -> None:
    schedule = parse_cron("0 0 29 2 *")

    assert first_occurrences(schedule, at(2025, 1, 1), 3) == [at(2028, 2, 29), at(2032, 2, 29), at(2036, 2, 29)]
    assert schedule.latest_at_or_before(at(2027, 12, 31)) == at(2024, 2, 29)


def test_century_years_follow_the_gregorian_leap_rule() -> None:
    schedule = parse_cron("0 0 29 2 *")

    assert schedule.next_after(at(2096, 3, 1)) == at(2104, 2, 29)
    assert schedule.next_after(at(1996, 3, 1)) == at(2000, 2, 29)


def test_year_end_rolls_over() -> None:
    assert parse_cron("59 23 31 12 *").next_after(at(2025, 12, 31, 23, 59)) == at(2026, 12, 31, 23, 59)
    assert parse_cron("0 0 1 1 *").next_after(at(2025, 12, 31, 23, 59, 59)) == at(2026, 1, 1)


def test_latest_at_or_before_includes_the_time_itself() -> None:
    schedule = parse_cron("*/15 * * * *")

    assert schedule.latest_at_or_before(at(2025, 1, 1, 10, 30)) == at(2025, 1, 1, 10, 30)
    assert schedule.latest_at_or_before(at(2025, 1, 1, 10, 29, 59)) == at(2025, 1, 1, 10, 15)
    assert schedule.latest_at_or_before(at(2025, 1, 1, 0, 5)) == at(2025, 1, 1)


def test_latest_at_or_before_crosses_month_and_year_boundaries() -> None:
    assert parse_cron("0 12 31 * *").latest_at_or_before(at(2025, 5, 30)) == at(2025, 3, 31, 12)
    assert parse_cron("0 0 * * mon").latest_at_or_before(at(2025, 1, 1)) == at(2024, 12, 30)
    saturday_night = parse_cron("0 30 23 * * 6", with_seconds=True)
    assert saturday_night.latest_at_or_before(at(2025, 1, 3)) == at(2024, 12, 28, 23, 30)


def test_occurrences_between_excludes_start_and_includes_end() -> None:
    schedule = parse_cron("0 * * * *")

    assert list(schedule.occurrences_between(at(2025, 1, 1, 1), at(2025, 1, 1, 3))) == [
        at(2025, 1, 1, 2),
        at(2025, 1, 1, 3),
    ]
    assert list(schedule.occurrences_between(at(2025, 1, 1, 1, 1), at(2025, 1, 1, 1, 59))) == []


def test_matches_checks_every_field_to_the_second() -> None:
    schedule = parse_cron("0 30 9 * * mon-fri")

    assert schedule.matches(at(2025, 1, 6, 9, 30))
    assert not schedule.matches(at(2025, 1, 6, 9, 30, 1))
    assert not schedule.matches(at(2025, 1, 5, 9, 30))  # Sunday
    assert parse_cron("30 9 * * *").matches(at(2025, 1, 5, 9, 30))
    assert not parse_cron("30 9 * * *").matches(at(2025, 1, 5, 9, 30, 5))


def test_times_in_other_zones_are_converted_to_utc() -> None:
    schedule = parse_cron("0 12 * * *")
    noon_utc_in_paris = datetime(2025, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))

    assert schedule.matches(noon_utc_in_paris)
    assert schedule.next_after(noon_utc_in_paris).tzinfo is UTC


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_cron("* * * * *").next_after(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "expression",
    [
        "*/7 3-20/4 * * *",
        "0 0 13 * 5",
        "0 0 1-7 * 5",
        "5/15 * 1,15 * sun",
        "0 12 * jan-mar 1-5",
        "*/20 */2 */3 * *",
        "0 0 31 * 6",
        "59 23 28-31 2 *",
        "*/10 * 8-9 * * 1,3",
    ],
)
@pytest.mark.parametrize("day_match", list(DayMatch))
def test_next_and_previous_agree_with_a_brute_force_scan(expression: str, day_match: DayMatch) -> None:
    schedule = parse_cron(expression, day_match=day_match)
    start = at(2023, 12, 28, 13, 7, 3)
    occurrences = first_occurrences(schedule, start, 12)

    assert occurrences == brute_force(schedule, start, 12)
    for previous, current in pairwise(occurrences):
        assert schedule.latest_at_or_before(current - timedelta(seconds=1)) == previous


def test_ten_thousand_schedules_are_evaluated_quickly() -> None:
    schedules = [parse_cron(f"{i % 60} {i % 24} * * {i % 7}") for i in range(10_000)]
    tick = at(2025, 6, 1, 12, 0)

    matching = [s for s in schedules if s.matches(tick)]
    nexts = [s.next_after(tick) for s in schedules]

    assert len(matching) > 0
    assert all(n > tick for n in nexts)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 25 * * *", "cron '0 25 * * *': hour field '25' is out of range 0-23"),
        ("60 * * * *", "minute field '60' is out of range 0-59"),
        ("* * 0 * *", "day-of-month field '0' is out of range 1-31"),
        ("* * * 13 *", "month field '13' is out of range 1-12"),
        ("* * * * 8", "day-of-week field '8' is out of range 0-7"),
        ("61 * * * * *", "second field '61' is out of range 0-59"),
        ("*/0 * * * *", "minute field '*/0' has step 0"),
        ("30-10 * * * *", "minute field '30-10' is a range that starts after it ends"),
        ("* * L * *", "day-of-month field 'L' is not valid; use numbers"),
        ("* * * foo *", "month field 'foo' is not valid; use numbers, '*', '?', lists (a,b), ranges (a-b)"),
        ("* * * foo *", "steps (*/n, a-b/n, a/n), or names such as jan, january, feb"),
        ("* * * * mon#2", "day-of-week field 'mon#2' is not valid"),
        ("1,,2 * * * *", "minute field '1,,2' has an empty list item"),
        ("-5 * * * *", "minute field '-5' is not valid"),
    ],
)
def test_invalid_fields_name_the_field_the_text_and_what_is_allowed(expression: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        parse_cron(expression)


def test_impossible_schedules_are_rejected_when_parsed() -> None:
    with pytest.raises(InvalidRequest, match=r"cron '0 0 30 2 \*' never fires: day-of-month 30 .* Feb"):
        parse_cron("0 0 30 2 *")
    with pytest.raises(InvalidRequest, match="never fires"):
        parse_cron("0 0 31 4,6,9,11 *")
    with pytest.raises(InvalidRequest, match="never fires"):
        parse_cron("0 0 0 30 2 mon", day_match=DayMatch.BOTH)


def test_a_weekday_rescues_an_impossible_day_of_month_under_the_either_rule() -> None:
    schedule = parse_cron("0 0 30 2 mon")

    assert schedule.next_after(at(2025, 2, 1)) == at(2025, 2, 3)


def test_errors_are_invalid_request_with_status_400() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_cron("bad")

    assert raised.value.status == 400
    assert raised.value.code == "InvalidRequest"
