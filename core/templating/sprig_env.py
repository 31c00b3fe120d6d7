"""Sprig functions that read the clock or randomness, which the caller can supply.

Go's `Local` time zone is UTC here, as on ACR's build agents. `date` given anything but a time or a
Unix timestamp formats the current time, as Sprig does.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.templating.funcs import FunctionError, GoFunction, GoType
from core.templating.gotime import format_time
from core.templating.values import dig, go_type, is_int

A, S, N = GoType.ANY, GoType.STRING, GoType.INT


@dataclass(frozen=True)
class Environment:
    """What the non-repeatable functions read: the clock and a source of randomness."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    random_bytes: Callable[[int], bytes] = field(default=secrets.token_bytes)


# ---- dates --------------------------------------------------------------------------------------


def _moment(value: Any, now: datetime, zone: str) -> datetime:
    value = dig(value)
    if isinstance(value, datetime):
        moment = value
    elif is_int(value):
        moment = datetime.fromtimestamp(int(value), UTC)
    else:
        moment = now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a naive time is UTC, never the worker's own zone
    try:
        location = UTC if zone in ("Local", "UTC", "") else ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        location = UTC
    return moment.astimezone(location)


def date_functions(env: Environment) -> list[GoFunction]:
    def now() -> datetime:
        return env.clock()

    def date(layout: str, value: Any) -> str:
        return format_time(_moment(value, env.clock(), "Local"), layout)

    def date_in_zone(layout: str, value: Any, zone: str) -> str:
        return format_time(_moment(value, env.clock(), zone), layout)

    def html_date(value: Any) -> str:
        return date("2006-01-02", value)

    def html_date_in_zone(value: Any, zone: str) -> str:
        return date_in_zone("2006-01-02", value, zone)

    def unix_epoch(value: Any) -> str:
        if not isinstance(value, datetime):
            raise FunctionError(f"wrong type for value; expected time.Time; got {go_type(value)}")
        return str(int(value.timestamp()))

    return [
        GoFunction("now", now, usage="now"),
        GoFunction("date", date, (S, A), usage='date "2006-01-02" TIME'),
        GoFunction("dateInZone", date_in_zone, (S, A, S), usage='dateInZone "2006-01-02" TIME "UTC"'),
        GoFunction("date_in_zone", date_in_zone, (S, A, S), usage='date_in_zone "2006-01-02" TIME "UTC"'),
        GoFunction("htmlDate", html_date, (A,), usage="htmlDate TIME"),
        GoFunction("htmlDateInZone", html_date_in_zone, (A, S), usage='htmlDateInZone TIME "UTC"'),
        GoFunction("unixEpoch", unix_epoch, (A,), usage="unixEpoch TIME"),
    ]


def random_functions(env: Environment) -> list[GoFunction]:
    def uuidv4() -> str:
        return str(uuid.UUID(bytes=env.random_bytes(16), version=4))

    def chooser(name: str, alphabet: str) -> GoFunction:
        def choose(count: int) -> str:
            if count < 0 or count > 1_000_000:
                raise FunctionError(f"{name} count must be between 0 and 1000000")
            return "".join(alphabet[b % len(alphabet)] for b in env.random_bytes(count))

        return GoFunction(name, choose, (N,), usage=f"{name} COUNT")

    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [
        GoFunction("uuidv4", uuidv4, usage="uuidv4"),
        chooser("randAlphaNum", letters + "0123456789"),
        chooser("randAlpha", letters),
        chooser("randNumeric", "0123456789"),
        chooser("randAscii", "".join(chr(c) for c in range(32, 127))),
    ]
