"""Time for the host's schedulers: the system clock, or a manual clock that tests move by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

# Sleep in slices so a wall-clock jump (suspend, NTP step) delays a timer by at most this much.
_MAX_SLICE_SECONDS = 30.0


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, when: datetime, stop: asyncio.Event) -> bool:
        """Wait until `when`; return False early if `stop` is set first."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return True
            try:
                await asyncio.wait_for(stop.wait(), min(remaining, _MAX_SLICE_SECONDS))
            except TimeoutError:
                continue
        return False


class ManualClock:
    """A clock that only moves when told to; sleepers wake once it reaches their deadline."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    @property
    def sleepers(self) -> int:
        """How many tasks are still asleep on this clock (tests advance once the scheduler sleeps)."""
        return sum(1 for _, woken in self._sleepers if not woken.done())

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    def set(self, when: datetime) -> None:
        self._now = when
        for deadline, woken in self._sleepers:
            if deadline <= when and not woken.done():
                woken.set_result(None)

    async def sleep_until(self, when: datetime, stop: asyncio.Event) -> bool:
        if stop.is_set():
            return False
        if self._now >= when:
            return True
        entry = (when, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({entry[1], stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            self._sleepers.remove(entry)
        return not stop.is_set()
