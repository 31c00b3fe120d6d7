import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from core.cron import CronSchedule
from slipway_host.clock import ManualClock
from slipway_host.config import HostConfigError
from slipway_host.invocation import Invoker
from slipway_host.loader import Argument, ArgumentKind, FunctionDefinition
from slipway_host.timers import (
    IntervalSchedule,
    ScheduleStatus,
    TimerListener,
    check_past_due,
    parse_timer_schedule,
    should_use_monitor,
)

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def timer_function(body: Callable[[TimerRequest], Awaitable[None]], **trigger: Any) -> FunctionDefinition:
    return FunctionDefinition(
        name="tick",
        func=body,
        is_async=True,
        trigger={"type": "timerTrigger", "name": "timer", "schedule": "0 * * * * *", **trigger},
        outputs=(),
        arguments=(Argument("timer", ArgumentKind.TRIGGER),),
    )


async def settle(clock: ManualClock, sleepers: int = 1) -> None:
    """Let the listener run until it is asleep on the clock again."""
    for _ in range(200):
        await asyncio.sleep(0)
        if clock.sleepers >= sleepers:
            return
    raise AssertionError("the timer listener never went back to sleep")


def test_six_field_schedules_use_ncrontab_day_rules() -> None:
    schedule = parse_timer_schedule("0 0 0 13 * 5")

    assert isinstance(schedule, CronSchedule)
    # NCRONTAB needs both the 13th and a Friday
    assert schedule.next_after(START) == datetime(2025, 6, 13, tzinfo=UTC)


def test_five_field_schedules_are_accepted_too() -> None:
    assert parse_timer_schedule("*/5 * * * *").next_after(START) == START + timedelta(minutes=5)


def test_timespan_schedules_repeat_after_each_run() -> None:
    schedule = parse_timer_schedule("00:00:30")

    assert schedule == IntervalSchedule(timedelta(seconds=30))
    assert schedule.next_after(START) == START + timedelta(seconds=30)


def test_invalid_schedules_explain_the_problem() -> None:
    with pytest.raises(HostConfigError, match="schedule: cron '0 61 \\* \\* \\* \\*': minute field '61'"):
        parse_timer_schedule("0 61 * * * *")
    with pytest.raises(HostConfigError, match="positive interval"):
        parse_timer_schedule("00:00:00")


def test_the_monitor_is_on_by_default_only_for_schedules_of_a_minute_or_more() -> None:
    assert should_use_monitor(parse_timer_schedule("0 */5 * * * *"), None, START)
    assert should_use_monitor(parse_timer_schedule("0 * * * * *"), None, START)
    assert not should_use_monitor(parse_timer_schedule("*/10 * * * * *"), None, START)
    assert not should_use_monitor(parse_timer_schedule("0 */5 * * * *"), False, START)
    assert should_use_monitor(parse_timer_schedule("*/10 * * * * *"), True, START)


def test_first_start_records_the_next_occurrence_and_is_not_past_due() -> None:
    schedule = parse_timer_schedule("0 0 * * * *")

    status, lateness = check_past_due(schedule, None, START)

    assert lateness == timedelta(0)
    assert status == ScheduleStatus(last=None, next=START + timedelta(hours=1), last_updated=START)


def test_a_stored_next_occurrence_in_the_past_is_past_due() -> None:
    schedule = parse_timer_schedule("0 0 * * * *")
    stored = ScheduleStatus(last=START, next=START + timedelta(hours=1), last_updated=START)

    status, lateness = check_past_due(schedule, stored, START + timedelta(hours=3))

    assert status == stored
    assert lateness == timedelta(hours=2)


def test_a_changed_schedule_uses_its_own_next_occurrence_after_the_last_update() -> None:
    stored = ScheduleStatus(last=START, next=START + timedelta(hours=1), last_updated=START)
    every_day = parse_timer_schedule("0 0 0 * * *")

    status, lateness = check_past_due(every_day, stored, START + timedelta(hours=3))

    assert status.next == datetime(2025, 1, 2, tzinfo=UTC)
    assert lateness == timedelta(0)


def test_schedule_status_payload_round_trips() -> None:
    status = ScheduleStatus(last=None, next=START, last_updated=START - timedelta(minutes=1))

    payload = status.to_payload()

    assert payload == {
        "Last": "0001-01-01T00:00:00+00:00",
        "Next": "2025-01-01T12:00:00+00:00",
        "LastUpdated": "2025-01-01T11:59:00+00:00",
    }
    assert ScheduleStatus.from_payload(payload) == status


def run_timer(
    scenario: Callable[[ManualClock, list[TimerRequest], TimerListener], Awaitable[None]],
    *,
    run_on_startup: bool = False,
    schedule: str = "0 * * * * *",
    body: Callable[[TimerRequest], Awaitable[None]] | None = None,
) -> list[TimerRequest]:
    calls: list[TimerRequest] = []

    async def record(timer: TimerRequest) -> None:
        calls.append(timer)
        if body is not None:
            await body(timer)

    async def main() -> None:
        clock = ManualClock(START + timedelta(seconds=30))
        stop = asyncio.Event()
        with ThreadPoolExecutor(1) as pool:
            invoker = Invoker(pool, ".")
            function = timer_function(record, runOnStartup=run_on_startup)
            listener = TimerListener(function, parse_timer_schedule(schedule), invoker, clock, None)
            task = asyncio.create_task(listener.run(stop))
            await settle(clock)
            await scenario(clock, calls, listener)
            stop.set()
            await task

    asyncio.run(main())
    return calls


def test_run_on_startup_invokes_once_before_the_first_occurrence() -> None:
    async def scenario(clock: ManualClock, calls: list[TimerRequest], listener: TimerListener) -> None:
        assert len(calls) == 1
        clock.advance(timedelta(seconds=30))
        await settle(clock)

    calls = run_timer(scenario, run_on_startup=True)

    assert [c.past_due for c in calls] == [False, False]


def test_each_occurrence_invokes_the_function_once_with_its_schedule_status() -> None:
    async def scenario(clock: ManualClock, calls: list[TimerRequest], listener: TimerListener) -> None:
        assert calls == []
        for _ in range(3):
            clock.advance(timedelta(minutes=1))
            await settle(clock)
        assert listener.status is not None
        assert listener.status.last == START + timedelta(minutes=3)

    calls = run_timer(scenario)

    assert len(calls) == 3
    assert calls[1].schedule_status["Last"] == (START + timedelta(minutes=1)).isoformat()
    assert calls[1].schedule_status["Next"] == (START + timedelta(minutes=2)).isoformat()


def test_an_occurrence_that_fires_late_is_past_due() -> None:
    async def scenario(clock: ManualClock, calls: list[TimerRequest], listener: TimerListener) -> None:
        clock.advance(timedelta(seconds=30, milliseconds=500))  # within tolerance
        await settle(clock)
        clock.advance(timedelta(seconds=59, milliseconds=500) + timedelta(seconds=5))  # 5 s late
        await settle(clock)

    calls = run_timer(scenario)

    assert [c.past_due for c in calls] == [False, True]


def test_a_timer_never_overlaps_itself_and_skips_occurrences_missed_while_running() -> None:
    release = asyncio.Event()
    running = 0
    overlaps = 0

    async def slow(timer: TimerRequest) -> None:
        nonlocal running, overlaps
        running += 1
        overlaps = max(overlaps, running)
        await release.wait()
        running -= 1

    async def scenario(clock: ManualClock, calls: list[TimerRequest], listener: TimerListener) -> None:
        clock.advance(timedelta(seconds=30))  # 12:01:00 fires and blocks
        for _ in range(5):
            await asyncio.sleep(0)
        clock.advance(timedelta(minutes=3))  # 12:02, 12:03 and 12:04 pass while it runs
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(calls) == 1
        release.set()
        await settle(clock)
        assert listener.status is not None
        assert listener.status.next == START + timedelta(minutes=2)
        clock.advance(timedelta(minutes=1))  # 12:05
        await settle(clock)

    calls = run_timer(scenario, body=slow)

    assert len(calls) == 2
    assert overlaps == 1
