import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.memory_storage import MemoryTableStore
from core.schedules import (
    TIMERS_TABLE,
    SchedulerMark,
    TimerOccurrence,
    advance_scheduler_mark,
    claim_occurrence,
    due_timer_occurrences,
    ensure_timer_state,
    evaluation_since,
    prune_claims,
    read_scheduler_mark,
    release_occurrence,
)
from core.tasks import Task, TaskKind, TaskStatus, TimerTrigger


def at(year: int, month: int, day: int, *clock: int) -> datetime:
    """A UTC datetime; `clock` is an optional hour, minute and second."""
    hour, minute, second = (*clock, 0, 0, 0)[:3]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def task(name: str, *timers: tuple[str, str] | TimerTrigger, **changes: Any) -> Task:
    made = tuple(t if isinstance(t, TimerTrigger) else TimerTrigger(*t) for t in timers)
    return Task(name=name, kind=TaskKind.DOCKER, context="/dev/null", timers=made, **changes)


def due(tasks: list[Task], since: datetime, now: datetime) -> list[tuple[str, str, datetime]]:
    return [(o.task, o.timer, o.occurrence) for o in due_timer_occurrences(tasks, since=since, now=now)]


@pytest.fixture
def store() -> MemoryTableStore:
    tables = MemoryTableStore()
    ensure_timer_state(tables)
    return tables


def test_a_timer_is_due_for_an_occurrence_after_since_and_at_or_before_now() -> None:
    tasks = [task("nightly", ("t1", "0 3 * * *")), task("hourly", ("t1", "0 * * * *"))]

    assert due(tasks, since=at(2025, 1, 6, 2, 59, 30), now=at(2025, 1, 6, 3, 0, 30)) == [
        ("nightly", "t1", at(2025, 1, 6, 3)),
        ("hourly", "t1", at(2025, 1, 6, 3)),
    ]
    assert due(tasks, since=at(2025, 1, 6, 3, 0, 30), now=at(2025, 1, 6, 3, 1, 30)) == []


def test_the_window_excludes_since_and_includes_now() -> None:
    tasks = [task("app", ("t1", "0 3 * * *"))]

    assert due(tasks, since=at(2025, 1, 6, 3), now=at(2025, 1, 6, 3, 0, 59)) == []
    assert due(tasks, since=at(2025, 1, 6, 2, 59), now=at(2025, 1, 6, 3)) == [("app", "t1", at(2025, 1, 6, 3))]
    assert due(tasks, since=at(2025, 1, 6, 3, 1), now=at(2025, 1, 6, 3)) == []


def test_after_downtime_each_timer_catches_up_once_with_its_latest_missed_occurrence() -> None:
    tasks = [task("app", ("hourly", "0 * * * *"), ("every-5", "*/5 * * * *"), ("weekly", "0 0 * * sun"))]

    result = due(tasks, since=at(2025, 1, 6, 2, 10), now=at(2025, 1, 7, 9, 42))  # 31 hours down, a Monday

    assert result == [("app", "hourly", at(2025, 1, 7, 9)), ("app", "every-5", at(2025, 1, 7, 9, 40))]


def test_month_and_day_names_are_understood() -> None:
    tasks = [task("weekdays", ("t1", "30 9 * * Mon-Fri")), task("january", ("t1", "0 0 1 Jan *"))]

    saturday = due(tasks, since=at(2025, 1, 4, 9, 29), now=at(2025, 1, 4, 9, 31))
    friday = due(tasks, since=at(2025, 1, 3, 9, 29), now=at(2025, 1, 3, 9, 31))
    new_year = due(tasks, since=at(2024, 12, 31, 23, 59), now=at(2025, 1, 1, 0, 0, 10))

    assert (saturday, friday, new_year) == (
        [],
        [("weekdays", "t1", at(2025, 1, 3, 9, 30))],
        [("january", "t1", at(2025, 1, 1))],
    )


def test_disabled_tasks_and_disabled_timers_are_never_due() -> None:
    tasks = [
        task("off", ("t1", "* * * * *"), status=TaskStatus.DISABLED),
        task("on", TimerTrigger("paused", "* * * * *", enabled=False), ("t2", "* * * * *")),
    ]

    assert due(tasks, since=at(2025, 1, 1, 0, 0, 30), now=at(2025, 1, 1, 0, 1, 30)) == [
        ("on", "t2", at(2025, 1, 1, 0, 1))
    ]


def test_an_occurrence_before_the_task_was_created_is_not_run() -> None:
    tasks = [task("new", ("t1", "0 * * * *"), created=at(2025, 1, 1, 9, 30))]

    assert due(tasks, since=at(2025, 1, 1, 8), now=at(2025, 1, 1, 9, 45)) == []
    assert due(tasks, since=at(2025, 1, 1, 9, 45), now=at(2025, 1, 1, 10, 0, 5)) == [("new", "t1", at(2025, 1, 1, 10))]


def test_two_timers_with_the_same_schedule_each_get_their_occurrence() -> None:
    tasks = [task("app", ("a", "0 3 * * *"), ("b", "0 3 * * *"))]

    assert [t for _, t, _ in due(tasks, since=at(2025, 1, 1, 2, 59), now=at(2025, 1, 1, 3))] == ["a", "b"]


def test_a_timer_with_an_expression_that_no_longer_parses_is_skipped_not_fatal() -> None:
    tasks = [task("broken", ("t1", "61 * * * *")), task("fine", ("t1", "* * * * *"))]

    assert due(tasks, since=at(2025, 1, 1), now=at(2025, 1, 1, 0, 1)) == [("fine", "t1", at(2025, 1, 1, 0, 1))]


def test_the_occurrence_becomes_acr_s_timer_trigger_and_a_stable_idempotency_key() -> None:
    occurrence = TimerOccurrence("App", "nightly", at(2025, 1, 6, 3), "0 3 * * *")

    assert occurrence.to_trigger() == {"timerTriggerName": "nightly", "scheduleOccurrence": "2025-01-06T03:00:00+00:00"}
    assert occurrence.idempotency_key == "timer-app-nightly-20250106T0300Z"


def test_an_occurrence_is_claimed_once_and_a_retried_tick_is_refused(store: MemoryTableStore) -> None:
    occurrence = TimerOccurrence("app", "t1", at(2025, 1, 6, 3))

    assert claim_occurrence(store, occurrence, now=at(2025, 1, 6, 3, 0, 1)) is True
    assert claim_occurrence(store, occurrence, now=at(2025, 1, 6, 3, 0, 2)) is False
    assert claim_occurrence(store, TimerOccurrence("app", "t1", at(2025, 1, 6, 4))) is True


def test_two_hosts_claiming_the_same_occurrence_at_once_get_exactly_one_win(store: MemoryTableStore) -> None:
    occurrence = TimerOccurrence("app", "t1", at(2025, 1, 6, 3))
    start = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def host() -> None:
        start.wait()
        won = claim_occurrence(store, occurrence, now=at(2025, 1, 6, 3, 0, 1))
        with lock:
            results.append(won)

    threads = [threading.Thread(target=host) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


def test_a_released_claim_can_be_claimed_again(store: MemoryTableStore) -> None:
    occurrence = TimerOccurrence("app", "t1", at(2025, 1, 6, 3))
    claim_occurrence(store, occurrence, now=at(2025, 1, 6, 3))

    release_occurrence(store, occurrence)

    assert claim_occurrence(store, occurrence, now=at(2025, 1, 6, 3, 0, 5)) is True


def test_old_claims_are_pruned_by_occurrence_time(store: MemoryTableStore) -> None:
    for hour in (1, 2, 3):
        claim_occurrence(store, TimerOccurrence("app", "t1", at(2025, 1, 6, hour)), now=at(2025, 1, 6, hour))

    assert prune_claims(store, "app", before=at(2025, 1, 6, 3)) == 2
    assert [e.properties["Occurrence"] for e in store.query(TIMERS_TABLE, "task-app")] == ["2025-01-06T03:00:00+00:00"]


def test_the_first_tick_looks_back_one_minute_and_later_ticks_start_at_the_mark(store: MemoryTableStore) -> None:
    now = at(2025, 1, 6, 3, 0, 20)
    first = read_scheduler_mark(store)

    assert first == SchedulerMark(None, None)
    assert evaluation_since(first, now) == at(2025, 1, 6, 2, 59, 20)
    advance_scheduler_mark(store, first, now)
    assert evaluation_since(read_scheduler_mark(store), now + timedelta(minutes=1)) == now


def test_the_mark_never_moves_backwards_when_hosts_race(store: MemoryTableStore) -> None:
    stale = read_scheduler_mark(store)
    advance_scheduler_mark(store, stale, at(2025, 1, 6, 3, 1))  # another host got there first

    kept = advance_scheduler_mark(store, stale, at(2025, 1, 6, 3, 0, 30))
    moved = advance_scheduler_mark(store, kept, at(2025, 1, 6, 3, 2))

    assert kept.evaluated_at == at(2025, 1, 6, 3, 1)
    assert read_scheduler_mark(store).evaluated_at == moved.evaluated_at == at(2025, 1, 6, 3, 2)


def test_two_hosts_ticking_at_once_start_one_run_per_occurrence(store: MemoryTableStore) -> None:
    tasks = [task(f"t{i}", ("t1", "*/2 * * * *")) for i in range(20)]
    now = at(2025, 1, 6, 3, 0, 10)
    runs: list[str] = []
    for _host in ("a", "b"):
        mark = read_scheduler_mark(store)
        for occurrence in due_timer_occurrences(tasks, since=evaluation_since(mark, now), now=now):
            if claim_occurrence(store, occurrence, now=now):
                runs.append(occurrence.idempotency_key)
        advance_scheduler_mark(store, mark, now)

    assert len(runs) == len(set(runs)) == 20


def shared_schedules(count: int) -> list[Task]:
    """Tasks as a real installation has them: about 1,500 distinct expressions, two timers on every third task."""
    made = []
    for i in range(count):
        timers = [TimerTrigger("t1", f"{i % 60} {(i // 60) % 24} * * *")]
        if i % 3 == 0:
            timers.append(TimerTrigger("t2", f"*/{1 + i % 15} * * * mon-fri"))
        made.append(Task(name=f"task-{i}", kind=TaskKind.DOCKER, context="/dev/null", timers=tuple(timers)))
    return made


def distinct_schedules(count: int, months: str) -> list[Task]:
    """The worst case: every task has its own expression, never parsed before in this process."""
    return [
        Task(
            name=f"task-{i}",
            kind=TaskKind.DOCKER,
            context="/dev/null",
            timers=(TimerTrigger("t1", f"{i % 60} {(i // 60) % 24} {1 + (i // 1440) % 28} {months} *"),),
        )
        for i in range(count)
    ]


def measure(tasks: list[Task], since: datetime, now: datetime) -> str:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        found = due_timer_occurrences(tasks, since=since, now=now)
        timings.append((time.perf_counter() - started) * 1000)
    return f"first {timings[0]:.0f} ms, then {min(timings[1:]):.0f} ms ({len(found)} due)"


def test_evaluating_ten_thousand_tasks_is_fast() -> None:
    now = at(2025, 3, 6, 12, 0, 20)
    tick, downtime = now - timedelta(minutes=1), now - timedelta(days=3)
    shared = shared_schedules(10_000)

    figures = [
        f"shared expressions, one-minute tick: {measure(shared, tick, now)}",
        f"shared expressions, after 3 days down: {measure(shared, downtime, now)}",
        f"10,000 distinct expressions, one-minute tick: {measure(distinct_schedules(10_000, '*'), tick, now)}",
        f"10,000 distinct expressions, after 3 days down: {measure(distinct_schedules(10_000, '1-6'), downtime, now)}",
    ]

    print("\n10,000 tasks with timers:\n  " + "\n  ".join(figures))
