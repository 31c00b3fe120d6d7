"""Timer triggers: NCRONTAB schedules, run-on-startup and the schedule monitor's past-due check.

Each timer function gets one `TimerListener` task. It never runs its function concurrently with
itself: the next occurrence is computed only after an invocation ends, so occurrences that pass while
a slow invocation runs are skipped, as in the real host. With the schedule monitor on (`useMonitor`,
default on for schedules that fire at most once a minute) the status (`Last`, `Next`, `LastUpdated`)
is kept in a JSON file per function; at start a stored `Next` in the past means an occurrence was
missed while the host was down, and the function runs once at once with `past_due=True`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from azure.functions.timer import TimerRequest

from core.cron import DayMatch, parse_cron
from core.errors import InvalidRequest
from slipway_host.clock import Clock
from slipway_host.config import HostConfigError, parse_timespan
from slipway_host.invocation import Invoker, log_outcome
from slipway_host.loader import FunctionDefinition

log = logging.getLogger("slipway_host")

# An occurrence that starts later than this after its scheduled time is reported as past due.
PAST_DUE_TOLERANCE = timedelta(seconds=1)
_NEVER = datetime(1, 1, 1, tzinfo=UTC)


class Schedule(Protocol):
    def next_after(self, t: datetime) -> datetime: ...


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule such as `00:05:00` (App Service plans): every interval after the last run."""

    interval: timedelta

    def next_after(self, t: datetime) -> datetime:
        return t + self.interval


def parse_timer_schedule(text: str) -> Schedule:
    """An NCRONTAB expression (6 fields; 5 accepted) or a TimeSpan, as the timer trigger allows."""
    if ":" in text:
        interval = parse_timespan(text, name="schedule")
        if interval <= timedelta(0):
            raise HostConfigError(f"schedule '{text}' must be a positive interval")
        return IntervalSchedule(interval)
    try:
        return parse_cron(text, day_match=DayMatch.BOTH)
    except InvalidRequest as error:
        raise HostConfigError(f"schedule: {error.message}") from error


def should_use_monitor(schedule: Schedule, use_monitor: bool | None, now: datetime) -> bool:
    """The trigger's `useMonitor`, or the default: on unless the schedule fires more than once a minute."""
    if use_monitor is not None:
        return use_monitor
    first = schedule.next_after(now)
    return schedule.next_after(first) - first >= timedelta(minutes=1)


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime | None
    next: datetime
    last_updated: datetime

    def to_payload(self) -> dict[str, str]:
        """The `ScheduleStatus` object the host sends with a timer invocation."""
        return {
            "Last": (self.last or _NEVER).isoformat(),
            "Next": self.next.isoformat(),
            "LastUpdated": self.last_updated.isoformat(),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ScheduleStatus:
        last = datetime.fromisoformat(payload["Last"])
        return cls(
            last=None if last == _NEVER else last,
            next=datetime.fromisoformat(payload["Next"]),
            last_updated=datetime.fromisoformat(payload["LastUpdated"]),
        )


class ScheduleStatusStore:
    """One JSON file per timer function, written atomically."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, function_name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", function_name)
        return self._directory / "timers" / f"{safe}.status.json"

    def load(self, function_name: str) -> ScheduleStatus | None:
        path = self._path(function_name)
        try:
            return ScheduleStatus.from_payload(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("Ignoring unreadable timer status %s: %s", path, error)
            return None

    def save(self, function_name: str, status: ScheduleStatus) -> None:
        path = self._path(function_name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(status.to_payload()), encoding="utf-8")
            temporary.replace(path)
        except OSError as error:
            log.warning("Cannot save timer status %s: %s", path, error)


def check_past_due(
    schedule: Schedule, stored: ScheduleStatus | None, now: datetime
) -> tuple[ScheduleStatus, timedelta]:
    """The status to start from and how far past due the recorded next occurrence is (zero if not).

    If the schedule changed since the status was written, the next occurrence the *current* schedule
    would have had after `LastUpdated` is used instead of the stored `Next`.
    """
    if stored is None:
        return ScheduleStatus(last=None, next=schedule.next_after(now), last_updated=now), timedelta(0)
    expected = schedule.next_after(stored.last_updated)
    status = stored if stored.next == expected else ScheduleStatus(stored.last, expected, stored.last_updated)
    return status, max(now - status.next, timedelta(0))


class TimerListener:
    """Runs one timer function on its schedule until stopped."""

    def __init__(
        self,
        function: FunctionDefinition,
        schedule: Schedule,
        invoker: Invoker,
        clock: Clock,
        store: ScheduleStatusStore | None,
    ) -> None:
        self.function = function
        self._schedule = schedule
        self._invoker = invoker
        self._clock = clock
        self._store = store
        self._run_on_startup = bool(function.trigger.get("runOnStartup", False))
        self.status: ScheduleStatus | None = None

    async def run(self, stop: asyncio.Event) -> None:
        now = self._clock.now()
        past_due = False
        if self._store is not None:
            self.status, lateness = check_past_due(self._schedule, self._store.load(self.function.name), now)
            self._store.save(self.function.name, self.status)
            past_due = lateness > timedelta(0)
        else:
            self.status = ScheduleStatus(last=None, next=self._schedule.next_after(now), last_updated=now)
        if past_due:
            log.info("Timer '%s' missed %s while the host was down; running now", self.function.name, self.status.next)
            await self._invoke(now, past_due=True, scheduled=self.status.next)
        elif self._run_on_startup:
            await self._invoke(now, past_due=False, scheduled=self.status.next, on_startup=True)
        while not stop.is_set():
            last = self.status.last if self.status is not None else None
            occurrence = self._schedule.next_after(max(self._clock.now(), last or _NEVER))
            if not await self._clock.sleep_until(occurrence, stop):
                break
            late = self._clock.now() - occurrence
            await self._invoke(occurrence, past_due=late > PAST_DUE_TOLERANCE, scheduled=occurrence)

    async def _invoke(
        self, invocation_time: datetime, *, past_due: bool, scheduled: datetime, on_startup: bool = False
    ) -> None:
        request = TimerRequest(
            past_due=past_due,
            schedule_status=self.status.to_payload() if self.status is not None else {},
            schedule={"AdjustForDST": True},
        )
        result = await self._invoker.invoke(self.function, request)
        reason = "past due" if past_due else "startup" if on_startup else f"scheduled {scheduled.isoformat()}"
        log_outcome(result, reason)
        # An early-firing timer records its scheduled time, so a restart never repeats that occurrence.
        adjusted = scheduled if not past_due and not on_startup and scheduled > invocation_time else invocation_time
        self.status = ScheduleStatus(last=adjusted, next=self._schedule.next_after(adjusted), last_updated=adjusted)
        if self._store is not None:
            self._store.save(self.function.name, self.status)
