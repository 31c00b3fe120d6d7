"""Go's `time.Time.Format`: layouts written as the reference time `Mon Jan 2 15:04:05 MST 2006`."""

from __future__ import annotations

from datetime import datetime, timedelta

_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Longest first, so "January" wins over "Jan" and "2006" over "2".
_CHUNKS = [
    "January", "Monday", "-07:00:00", "Z07:00:00", "-070000", "Z070000", "-07:00", "Z07:00",
    "-0700", "Z0700", "2006", "__2", "002", "Jan", "Mon", "MST", "-07", "Z07", "_2", "01", "02",
    "03", "04", "05", "06", "15", "PM", "pm", "1", "2", "3", "4", "5",
]  # fmt: skip


def _next_chunk(layout: str, i: int) -> tuple[str, int]:
    """The standard chunk starting at layout[i], or "" for a literal character; and its length."""
    if layout.startswith("_2006", i):
        return "", 1  # "_2006" is a literal "_" followed by the year.
    for chunk in _CHUNKS:
        if layout.startswith(chunk, i):
            # "Jan" and "Mon" followed by a lowercase letter are words ("Janet"), not chunks.
            if chunk in ("Jan", "Mon") and "a" <= layout[i + 3 : i + 4] <= "z":
                break
            return chunk, len(chunk)
    ch = layout[i]
    if ch in ".," and layout[i + 1 : i + 2] in ("0", "9"):
        j = i + 1
        while j < len(layout) and layout[j] == layout[i + 1]:
            j += 1
        if not (j < len(layout) and "0" <= layout[j] <= "9"):
            return layout[i:j], j - i
    return "", 1


def _zone(moment: datetime) -> tuple[str, int]:
    offset = moment.utcoffset() or timedelta(0)
    seconds = int(offset.total_seconds())
    name = moment.tzname() or ""
    if moment.tzinfo is None:
        name = "UTC"
    if seconds and name.startswith("UTC"):
        name = ""  # A bare offset has no abbreviation in Go either.
    return name, seconds


def _offset(seconds: int, *, colon: bool, with_seconds: bool, hours_only: bool) -> str:
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    text = f"{sign}{hh:02d}"
    if hours_only:
        return text
    text += (":" if colon else "") + f"{mm:02d}"
    if with_seconds:
        text += (":" if colon else "") + f"{ss:02d}"
    return text


def _format_chunk(chunk: str, moment: datetime) -> str:  # noqa: PLR0911
    hour12 = moment.hour % 12 or 12
    simple = {
        "January": _MONTHS[moment.month - 1],
        "Jan": _MONTHS[moment.month - 1][:3],
        "Monday": _DAYS[moment.weekday()],
        "Mon": _DAYS[moment.weekday()][:3],
        "2006": f"{moment.year:04d}",
        "06": f"{moment.year % 100:02d}",
        "01": f"{moment.month:02d}",
        "1": str(moment.month),
        "02": f"{moment.day:02d}",
        "_2": f"{moment.day:2d}",
        "2": str(moment.day),
        "002": f"{moment.timetuple().tm_yday:03d}",
        "__2": f"{moment.timetuple().tm_yday:3d}",
        "15": f"{moment.hour:02d}",
        "03": f"{hour12:02d}",
        "3": str(hour12),
        "04": f"{moment.minute:02d}",
        "4": str(moment.minute),
        "05": f"{moment.second:02d}",
        "5": str(moment.second),
        "PM": "PM" if moment.hour >= 12 else "AM",
        "pm": "pm" if moment.hour >= 12 else "am",
    }
    if chunk in simple:
        return simple[chunk]
    name, seconds = _zone(moment)
    if chunk == "MST":
        if name:
            return name
        return _offset(seconds, colon=False, with_seconds=False, hours_only=False)
    if chunk[0] in "-Z":
        if chunk[0] == "Z" and seconds == 0:
            return "Z"
        body = chunk[1:]
        return _offset(
            seconds, colon=":" in body, with_seconds=len(body.replace(":", "")) == 6, hours_only=body == "07"
        )
    # Fractional seconds: ".000" keeps the digits, ".999" drops trailing zeros.
    nanos = f"{moment.microsecond * 1000:09d}"[: len(chunk) - 1]
    if chunk[1] == "9":
        nanos = nanos.rstrip("0")
        return chunk[0] + nanos if nanos else ""
    return chunk[0] + nanos


def format_time(moment: datetime, layout: str) -> str:
    """Format `moment` with a Go layout such as `2006-01-02T15:04:05Z07:00`."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        chunk, size = _next_chunk(layout, i)
        if chunk:
            out.append(_format_chunk(chunk, moment))
        else:
            out.append(layout[i : i + size])
        i += size
    return "".join(out)
