"""Go's `unicode` and `strings` behaviour that differs from Python's str methods.

Go maps case one rune at a time (`strings.ToUpper("ß")` is "ß", Python gives "SS"), has its own
notion of white space (Python also counts \\x1c-\\x1f), and works on UTF-8 bytes where Sprig slices
strings (`substr`, `trunc`).
"""

from __future__ import annotations

import unicodedata

_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def is_space(ch: str) -> bool:
    return ch in _WHITE_SPACE


def is_upper(ch: str) -> bool:
    return unicodedata.category(ch) == "Lu"


def is_lower(ch: str) -> bool:
    return unicodedata.category(ch) == "Ll"


def is_title(ch: str) -> bool:
    return unicodedata.category(ch) == "Lt"


def is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def is_number(ch: str) -> bool:
    return unicodedata.category(ch).startswith("N")


def to_upper(ch: str) -> str:
    upper = ch.upper()
    return upper if len(upper) == 1 else ch


def to_lower(ch: str) -> str:
    lower = ch.lower()
    return lower if len(lower) == 1 else lower[0]


def to_title(ch: str) -> str:
    title = ch.title()
    return title if len(title) == 1 else ch


def upper(text: str) -> str:
    return "".join(to_upper(ch) for ch in text)


def lower(text: str) -> str:
    return "".join(to_lower(ch) for ch in text)


def trim_space(text: str) -> str:
    """strings.TrimSpace."""
    start, end = 0, len(text)
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_separator(ch: str) -> bool:
    if ord(ch) < 0x80:
        return not (ch.isalnum() or ch == "_")
    if is_letter(ch) or is_digit(ch):
        return False
    return is_space(ch)


def title(text: str) -> str:
    """strings.Title: upper-case the first letter of each word."""
    out, previous = [], " "
    for ch in text:
        out.append(to_title(ch) if _is_separator(previous) else ch)
        previous = ch
    return "".join(out)


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def from_bytes(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def byte_slice(text: str, start: int | None, end: int | None) -> str:
    """Go's s[start:end] on the UTF-8 bytes, panicking (ValueError) when out of range."""
    data = to_bytes(text)
    low = 0 if start is None else start
    high = len(data) if end is None else end
    if low < 0 or high < low or high > len(data):
        shown = f"[{'' if start is None else start}:{'' if end is None else end}]"
        raise ValueError(f"runtime error: slice bounds out of range {shown} with length {len(data)}")
    return from_bytes(data[low:high])


def split(text: str, sep: str, limit: int = -1) -> list[str]:
    """strings.SplitN (limit < 0: all parts; 0: none)."""
    if limit == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < limit < len(chars):
            return [*chars[: limit - 1], "".join(chars[limit - 1 :])]
        return chars
    return text.split(sep, limit - 1) if limit > 0 else text.split(sep)


def snake_or_kebab(text: str, connector: str) -> str:  # noqa: PLR0912
    """xstrings v1.3.2 camelCaseToLowerCase: "HTTPServer" -> "http_server"."""
    out: list[str] = []
    chars = list(text)
    i = 0
    current = connector
    while i < len(chars):
        previous = current
        current = chars[i]
        i += 1
        if is_upper(current):
            if previous != connector and not is_number(previous):
                out.append(connector)
            out.append(to_lower(current))
            if i >= len(chars):
                continue
            current = chars[i]
            i += 1
            if not is_upper(current):
                out.append(current)
                continue
            # A run of capitals: the last one starts the next word ("HTTPServer").
            while i < len(chars):
                last = current
                current = chars[i]
                i += 1
                if not is_upper(current):
                    if current in "_ -":
                        current = connector
                        out.append(to_lower(last))
                    elif is_number(current):
                        out.extend([to_lower(last), connector, current])
                    else:
                        out.extend([connector, to_lower(last), current])
                    break
                out.append(to_lower(last))
            if i >= len(chars) or current == connector:
                out.append(to_lower(current))
        elif is_number(current):
            if previous != connector and not is_number(previous):
                out.append(connector)
            out.append(current)
        else:
            if current in " -_":
                current = connector
            out.append(current)
    return "".join(out)


def camel_case(text: str) -> str:
    """xstrings v1.3.2 ToCamelCase: "http_server" -> "HttpServer"."""
    if not text:
        return ""
    out: list[str] = []
    chars = list(text)
    i = 0
    while i < len(chars) and chars[i] == "_":
        out.append("_")
        i += 1
    if i + 1 >= len(chars):
        return "".join(out)  # xstrings drops a lone final character here ("a" -> "").
    current = to_upper(chars[i])
    i += 1
    while i < len(chars):
        previous = current
        current = chars[i]
        i += 1
        if previous == "_" and current == "_":
            out.append(previous)
            continue
        current = to_upper(current) if previous == "_" else to_lower(current)
        if previous != "_":
            out.append(previous)
    out.append(current)
    return "".join(out)
