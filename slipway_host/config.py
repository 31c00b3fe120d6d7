"""Host configuration: app settings, local.settings.json, host.json and its env overrides.

App settings are the process environment. `local.settings.json` `Values` are added to it without
overriding what is already set, as Core Tools does. host.json is read once; any value in it can be
overridden by an app setting named `AzureFunctionsJobHost__path__to__key` (keys match
case-insensitively, as .NET configuration does). Binding fields written as `%Name%` are resolved from
app settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

OVERRIDE_PREFIX = "AzureFunctionsJobHost__"
_TIMESPAN = re.compile(
    r"^(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})"
    r"(?::(?P<seconds>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?)?$"
)
_SETTING_EXPRESSION = re.compile(r"%([^%\s]+)%")


class HostConfigError(Exception):
    """host.json, local.settings.json, an app setting or a binding cannot be used as written."""


def parse_timespan(text: str, *, name: str = "value") -> timedelta:
    """Parse a .NET TimeSpan string: `[-][d.]hh:mm[:ss[.fffffff]]` or a whole number of days.

    Example: `parse_timespan("00:00:00.500")` is half a second.
    """
    if not isinstance(text, str):
        raise HostConfigError(f"{name} must be a TimeSpan string such as '00:00:30', got {text!r}")
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return timedelta(days=int(stripped))
    match = _TIMESPAN.match(stripped)
    if not match:
        raise HostConfigError(f"{name} '{text}' is not a TimeSpan; use [d.]hh:mm:ss[.fff], for example '00:00:30'")
    hours, minutes = int(match["hours"]), int(match["minutes"])
    seconds = int(match["seconds"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise HostConfigError(f"{name} '{text}' has hours above 23 or minutes/seconds above 59")
    fraction = (match["fraction"] or "").ljust(7, "0")
    value = timedelta(
        days=int(match["days"] or 0),
        hours=hours,
        minutes=minutes,
        seconds=seconds,
        microseconds=int(fraction) // 10,
    )
    return -value if match["sign"] else value


def load_local_settings(app_dir: Path, environ: MutableMapping[str, str]) -> dict[str, Any]:
    """Add `local.settings.json` `Values` to `environ` (existing variables win); return the document."""
    path = app_dir / "local.settings.json"
    if not path.is_file():
        return {}
    document = _read_json(path)
    if document.get("IsEncrypted") is True:
        raise HostConfigError(f"{path}: encrypted settings are not supported; set IsEncrypted to false")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise HostConfigError(f"{path}: 'Values' must be an object of setting names to strings")
    for key, value in values.items():
        if key not in environ:
            environ[key] = value if isinstance(value, str) else json.dumps(value)
    return document


def load_host_json(app_dir: Path, settings: Mapping[str, str]) -> dict[str, Any]:
    """Read `host.json` and apply `AzureFunctionsJobHost__...` overrides from `settings`."""
    path = app_dir / "host.json"
    if not path.is_file():
        raise HostConfigError(f"host.json not found in {app_dir}; every Functions app needs one")
    return apply_host_overrides(_read_json(path), settings)


def apply_host_overrides(document: dict[str, Any], settings: Mapping[str, str]) -> dict[str, Any]:
    """Return a copy of a host.json document with `AzureFunctionsJobHost__a__b=v` settings applied."""
    result: dict[str, Any] = json.loads(json.dumps(document))
    prefix = OVERRIDE_PREFIX.lower()
    for key in sorted(settings):
        if not key.lower().startswith(prefix):
            continue
        path = [part for part in key[len(prefix) :].split("__") if part]
        if not path:
            continue
        node = result
        for part in path[:-1]:
            existing = _find_key(node, part)
            child = node.get(existing) if existing is not None else None
            if not isinstance(child, dict):
                child = {}
                node[existing if existing is not None else part] = child
            node = child
        existing = _find_key(node, path[-1])
        node[existing if existing is not None else path[-1]] = settings[key]
    return result


def resolve_setting_expressions(value: str, settings: Mapping[str, str], *, where: str) -> str:
    """Replace every `%Name%` in `value` with the app setting `Name`, as the Functions host does."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise HostConfigError(f"{where}: '%{name}%' does not resolve to a value; set app setting '{name}'")
        return settings[name]

    return _SETTING_EXPRESSION.sub(replace, value)


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the Functions defaults (polling at most every 2 s locally)."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: timedelta = timedelta(seconds=2)
    visibility_timeout: timedelta = timedelta(0)
    max_dequeue_count: int = 5
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostOptions:
    """The parts of host.json this host acts on."""

    route_prefix: str = "api"
    queues: QueueOptions = QueueOptions()


def read_host_options(document: Mapping[str, Any]) -> HostOptions:
    """Validate and extract the host.json values the host uses."""
    extensions = _section(document, "extensions")
    http = _section(extensions, "http")
    prefix = _get(http, "routePrefix", "api")
    if not isinstance(prefix, str):
        raise HostConfigError("host.json extensions.http.routePrefix must be a string ('' for none)")
    return HostOptions(route_prefix=prefix.strip("/"), queues=_read_queue_options(_section(extensions, "queues")))


def _read_queue_options(queues: Mapping[str, Any]) -> QueueOptions:
    where = "host.json extensions.queues"
    batch_size = _int(queues, "batchSize", 16, where)
    if not 1 <= batch_size <= 32:
        raise HostConfigError(f"{where}.batchSize is {batch_size}; it must be between 1 and 32")
    threshold = _int(queues, "newBatchThreshold", batch_size // 2, where)
    if threshold < 0:
        raise HostConfigError(f"{where}.newBatchThreshold is {threshold}; it must be 0 or more")
    polling = _timespan(queues, "maxPollingInterval", timedelta(seconds=2), where)
    if polling < timedelta(milliseconds=100):
        raise HostConfigError(f"{where}.maxPollingInterval must be at least 00:00:00.100")
    visibility = _timespan(queues, "visibilityTimeout", timedelta(0), where)
    if visibility < timedelta(0):
        raise HostConfigError(f"{where}.visibilityTimeout must not be negative")
    max_dequeue = _int(queues, "maxDequeueCount", 5, where)
    if max_dequeue < 1:
        raise HostConfigError(f"{where}.maxDequeueCount is {max_dequeue}; it must be 1 or more")
    encoding = str(_get(queues, "messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        raise HostConfigError(f"{where}.messageEncoding is '{encoding}'; use 'base64' or 'none'")
    return QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=threshold,
        max_polling_interval=polling,
        visibility_timeout=visibility,
        max_dequeue_count=max_dequeue,
        message_encoding=encoding,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise HostConfigError(f"{path}: cannot read JSON: {error}") from error
    if not isinstance(document, dict):
        raise HostConfigError(f"{path}: expected a JSON object at the top level")
    return document


def _find_key(node: Mapping[str, Any], key: str) -> str | None:
    lowered = key.lower()
    return next((existing for existing in node if existing.lower() == lowered), None)


def _get(node: Mapping[str, Any], key: str, default: Any) -> Any:
    existing = _find_key(node, key)
    return default if existing is None else node[existing]


def _section(node: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _get(node, key, {})
    if not isinstance(value, dict):
        raise HostConfigError(f"host.json '{key}' must be an object")
    return value


def _int(node: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = _get(node, key, default)
    if isinstance(value, bool):
        raise HostConfigError(f"{where}.{key} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise HostConfigError(f"{where}.{key} must be a whole number, got {value!r}")


def _timespan(node: Mapping[str, Any], key: str, default: timedelta, where: str) -> timedelta:
    value = _get(node, key, None)
    return default if value is None else parse_timespan(value, name=f"{where}.{key}")
