"""Timer triggers: which task timers are due, and claiming each occurrence exactly once.

A timer function ticks (about once a minute) and asks for the occurrences in `(since, now]`, where
`since` is the persisted "last evaluated at" mark. Rules:

- A timer fires for its occurrences strictly after `since` and at or before `now`, in UTC, only if the
  task and the timer are enabled, and never for an occurrence before the task was created.
- **Catch-up after downtime: at most one occurrence per timer per evaluation, the latest one.** A host
  that was down for a day runs an hourly timer once when it comes back, not 24 times; the occurrence
  it runs is the latest missed one (recorded on the run as `scheduleOccurrence`), so the run reflects
  the schedule slot it stands for. Occurrences before that are dropped, as ACR does not backfill.
- `claim_occurrence` inserts a row keyed by (task, timer, occurrence) and returns False if it exists,
  so two hosts ticking at once, or a retried tick, start one run. Release the claim if queuing the run
  fails so the next tick can try again (and do not advance the mark past it).

Parsed crons are cached by expression string, and each distinct expression is evaluated once per call,
so evaluating 10,000 tasks is a few dictionary lookups each (see the unit test for the measured time).

Table `timerstate`: partition `task-<name>` holds claims, row `<yyyymmddHHMM>-<timer>` (time-ordered,
so old claims are pruned by a range query); partition `scheduler`, row `timers`, holds the mark,
advanced with ETag compare-and-swap and never moved backwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from core.cron import CronSchedule, parse_cron
from core.errors import Conflict, SlipwayError, StorageError
from core.ports import TableStore
from core.tasks import Task

TIMERS_TABLE = "timerstate"
_MARK_KEYS = ("scheduler", "timers")
_MINUTE = timedelta(minutes=1)
_FAST_PATH_MINUTES = 5  # windows up to this many minutes are checked minute by minute
_MAX_CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class TimerOccurrence:
    """One scheduled slot of one timer; `occurrence` is the slot's time (UTC, whole minute)."""

    task: str
    timer: str
    occurrence: datetime
    schedule: str = ""

    @property
    def idempotency_key(self) -> str:
        return f"timer-{self.task.lower()}-{self.timer}-{self.occurrence.strftime('%Y%m%dT%H%MZ')}"

    def to_trigger(self) -> dict[str, str]:
        """ACR's `timerTrigger` run property."""
        return {"timerTriggerName": self.timer, "scheduleOccurrence": self.occurrence.isoformat()}


@dataclass(frozen=True)
class SchedulerMark:
    """When timers were last evaluated (None before the first tick), with the ETag to advance it."""

    evaluated_at: datetime | None
    etag: str | None


def claim_keys(occurrence: TimerOccurrence) -> tuple[str, str]:
    return f"task-{occurrence.task.lower()}", f"{occurrence.occurrence.strftime('%Y%m%d%H%M')}-{occurrence.timer}"


def ensure_timer_state(store: TableStore) -> None:
    store.ensure_table(TIMERS_TABLE)


@lru_cache(maxsize=65536)
def _schedule(expression: str) -> CronSchedule:
    return parse_cron(expression, with_seconds=False)


def due_timer_occurrences(tasks: Iterable[Task], *, since: datetime, now: datetime) -> list[TimerOccurrence]:
    """The timer occurrences in `(since, now]`, at most one (the latest) per timer; see the module rules.

    Example: with `since` 09:59:30 and `now` 10:00:30, a timer `0 * * * *` is due at 10:00.
    A timer whose expression does not parse (it was validated when saved) is skipped.
    """
    since, now = _utc(since), _utc(now)
    if now <= since:
        return []
    minutes = _minutes_in(since, now)
    latest_by_expression: dict[str, datetime | None] = {}
    due: list[TimerOccurrence] = []
    for task in tasks:
        if not task.timers or not task.enabled:
            continue
        lower = since if task.created is None else max(since, _utc(task.created))
        for timer in task.timers:
            if not timer.enabled:
                continue
            expression = timer.schedule
            if expression in latest_by_expression:
                latest = latest_by_expression[expression]
            else:
                latest = latest_by_expression[expression] = _latest(expression, since, now, minutes)
            if latest is not None and latest > lower:
                due.append(TimerOccurrence(task.name, timer.name, latest, expression))
    return due


def _minutes_in(since: datetime, now: datetime) -> list[datetime] | None:
    """The whole minutes in `(since, now]`, newest first; None when the window is long."""
    if now - since > _FAST_PATH_MINUTES * _MINUTE:
        return None
    minute = now.replace(second=0, microsecond=0)
    found = []
    while minute > since:
        found.append(minute)
        minute -= _MINUTE
    return found


def _latest(expression: str, since: datetime, now: datetime, minutes: list[datetime] | None) -> datetime | None:
    if minutes is not None:
        minute_field = expression.split(None, 1)[0]
        # A plain number is that one minute: most timers are ruled out without parsing (cold starts).
        if minute_field.isdigit() and all(int(minute_field) != m.minute for m in minutes):
            return None
    try:
        schedule = _schedule(expression)
    except SlipwayError:
        return None
    if minutes is not None:
        return next((m for m in minutes if schedule.matches(m)), None)
    latest = schedule.latest_at_or_before(now)
    return latest if latest > since else None


def claim_occurrence(store: TableStore, occurrence: TimerOccurrence, *, now: datetime | None = None) -> bool:
    """Record that this occurrence is being run; False if some host (or an earlier try) already did."""
    partition, row = claim_keys(occurrence)
    properties: dict[str, object] = {
        "PartitionKey": partition,
        "RowKey": row,
        "TaskName": occurrence.task,
        "Timer": occurrence.timer,
        "Occurrence": occurrence.occurrence.isoformat(),
        "ClaimedAt": (now or datetime.now(UTC)).isoformat(),
    }
    try:
        store.insert(TIMERS_TABLE, properties)
    except Conflict:
        return False
    return True


def release_occurrence(store: TableStore, occurrence: TimerOccurrence) -> None:
    """Undo a claim whose run could not be queued, so the next tick can claim it again."""
    store.delete(TIMERS_TABLE, *claim_keys(occurrence))


def prune_claims(store: TableStore, task_name: str, *, before: datetime) -> int:
    """Delete a task's claims for occurrences before `before` (they can never be claimed again)."""
    partition = f"task-{task_name.lower()}"
    rows = store.query(TIMERS_TABLE, partition, row_to=_utc(before).strftime("%Y%m%d%H%M"))
    for entity in rows:
        store.delete(TIMERS_TABLE, partition, str(entity.properties["RowKey"]))
    return len(rows)


def read_scheduler_mark(store: TableStore) -> SchedulerMark:
    entity = store.get(TIMERS_TABLE, *_MARK_KEYS)
    if entity is None:
        return SchedulerMark(None, None)
    return SchedulerMark(datetime.fromisoformat(str(entity.properties["EvaluatedAt"])), entity.etag)


def evaluation_since(mark: SchedulerMark, now: datetime, *, first_lookback: timedelta = _MINUTE) -> datetime:
    """The `since` for this tick: the mark, or `now - first_lookback` on the very first tick."""
    return mark.evaluated_at if mark.evaluated_at is not None else _utc(now) - first_lookback


def advance_scheduler_mark(store: TableStore, mark: SchedulerMark, evaluated_at: datetime) -> SchedulerMark:
    """Move the mark to `evaluated_at` unless another host already moved it as far; never backwards."""
    target = _utc(evaluated_at)
    for _ in range(_MAX_CAS_ATTEMPTS):
        if mark.evaluated_at is not None and mark.evaluated_at >= target:
            return mark
        partition, row = _MARK_KEYS
        properties = {"PartitionKey": partition, "RowKey": row, "EvaluatedAt": target.isoformat()}
        with contextlib.suppress(Conflict):  # ConcurrentUpdate included: re-read and compare
            if mark.etag is None:
                return SchedulerMark(target, store.insert(TIMERS_TABLE, properties))
            return SchedulerMark(target, store.replace(TIMERS_TABLE, properties, etag=mark.etag))
        mark = read_scheduler_mark(store)
    raise StorageError("the timer scheduler mark kept changing concurrently; the next tick will retry")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
