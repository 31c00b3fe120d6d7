"""Go's view of template data: types, truth, comparison and `%v` printing.

Template data arrives as plain Python values (what a YAML loader produces); this module says which
Go type each one stands for, so that functions can check arguments the way `text/template` does:

| Python                         | Go                         |
|--------------------------------|----------------------------|
| `None`                         | nil                        |
| `bool`                         | `bool`                     |
| `int`                          | `int`                      |
| `Int64` (an `int`)             | `int64` (Sprig arithmetic) |
| `float`                        | `float64`                  |
| `str`                          | `string`                   |
| `list` / `tuple`               | `[]interface {}`           |
| other `Mapping`                | `map[string]interface {}`  |
| `StrMap` (a `dict`)            | `map[string]string`        |
| `datetime`                     | `time.Time`                |

`NIL` is the zero value of an interface: what `.Values.missing` yields under `missingkey=zero`.
It differs from `None` in one observable way: a field of it cannot be read (Go reports a nil pointer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.templating.gotime import format_time


class Int64(int):
    """An `int` that Go code would hold as `int64` (what Sprig's arithmetic returns)."""


class StrMap(dict[str, str]):
    """A Go `map[string]string` (what Sprig's `split` returns); a missing key reads as ""."""


class _NilInterface:
    """The zero value of Go's `interface{}`: a map entry that is missing or null."""

    _instance: _NilInterface | None = None

    def __new__(cls) -> _NilInterface:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NIL"


NIL: Any = _NilInterface()


def dig(value: Any) -> Any:
    """Forget that a value came out of an interface (Go's `indirectInterface`)."""
    return None if value is NIL else value


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def go_type(value: Any) -> str:  # noqa: PLR0911 - one return per Go type
    """The Go type name of a value, as Go's error messages spell it."""
    if value is None:
        return "<nil>"
    if value is NIL:
        return "interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, StrMap):
        return "map[string]string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, datetime):
        return "time.Time"
    if callable(value):
        return "func"
    return type(value).__name__


def is_true(value: Any) -> tuple[bool, bool]:  # noqa: PLR0911 - one return per Go kind
    """Go's truth: (truth, ok). False, 0, nil and empty strings, lists and maps are false."""
    value = dig(value)
    if value is None:
        return False, True
    if isinstance(value, bool):
        return value, True
    if isinstance(value, int | float):
        return value != 0, True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0, True
    if isinstance(value, datetime):
        return True, True
    if callable(value):
        return True, True
    return False, False


def basic_kind(value: Any) -> str:
    """The comparison class of a value: bool, int, float, string, invalid (nil) or other."""
    value = dig(value)
    if value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in the order Go's fmt and `range` use: keys sorted, numbers before strings."""

    def order(key: Any) -> tuple[int, Any]:
        if isinstance(key, bool):
            return (0, int(key))
        if isinstance(key, int | float):
            return (1, key)
        if isinstance(key, str):
            return (2, key)
        return (3, str(key))

    return sorted(mapping.items(), key=lambda item: order(item[0]))


# ---- %v -----------------------------------------------------------------------------------------


def format_value(value: Any) -> str:  # noqa: PLR0911 - one return per Go kind
    """Go's `fmt.Sprint` of one value (`%v`); nil prints as `<nil>`."""
    value = dig(value)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value, "g", -1)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        inner = " ".join(f"{format_value(k)}:{format_value(v)}" for k, v in sorted_items(value))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(item) for item in value) + "]"
    if isinstance(value, datetime):
        return format_time_default(value)
    return str(value)


def format_time_default(moment: datetime) -> str:
    """Go's `time.Time.String()` without the monotonic clock reading."""
    return format_time(moment, "2006-01-02 15:04:05.999999999 -0700 MST")


# ---- strconv.FormatFloat ------------------------------------------------------------------------


def _shortest_digits(number: float) -> tuple[str, int]:
    """Shortest round-tripping decimal digits of abs(number) and the decimal point position."""
    text = repr(abs(number))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    joined = whole + fraction
    stripped = joined.lstrip("0")
    if not stripped.rstrip("0"):
        return "", 0
    point = len(whole) + (int(exponent) if exponent else 0) - (len(joined) - len(stripped))
    return stripped.rstrip("0"), point


def _rounded_digits(number: float, count: int | None, places: int | None) -> tuple[str, int]:
    """Digits of abs(number) rounded half-to-even to `count` digits or `places` decimals."""
    exact = Decimal(abs(number))
    if exact == 0:
        return "", 0
    _, digit_tuple, exponent = exact.as_tuple()
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + int(exponent)
    keep = count if count is not None else point + (places or 0)
    if keep < 0 or keep >= len(digits):
        return digits.rstrip("0"), point
    head, tail = digits[:keep], digits[keep:]
    halfway = tail[0] == "5" and not tail[1:].strip("0")
    round_up = (keep > 0 and int(head[-1]) % 2 == 1) if halfway else tail[0] >= "5"
    if round_up:
        carried = str(int(head or "0") + 1)
        if len(carried) > len(head):
            point += 1
        head = carried[: max(keep, 1)]
    return head.rstrip("0"), point


def _fmt_e(digits: str, point: int, prec: int, letter: str) -> str:
    first = digits[0] if digits else "0"
    out = first
    if prec > 0:
        more = digits[1 : prec + 1]
        out += "." + more + "0" * (prec - len(more))
    exp = point - 1 if digits else 0
    sign = "-" if exp < 0 else "+"
    return f"{out}{letter}{sign}{abs(exp):02d}"


def _fmt_f(digits: str, point: int, prec: int) -> str:
    out = digits[:point] + "0" * max(point - len(digits), 0) if point > 0 else "0"
    if prec > 0:
        out += "." + "".join(digits[point + i] if 0 <= point + i < len(digits) else "0" for i in range(prec))
    return out


def format_float(number: float, verb: str = "g", prec: int = -1) -> str:
    """Go's `strconv.FormatFloat(number, verb, prec, 64)` for the verbs e, E, f, F, g and G."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    negative = math.copysign(1.0, number) < 0
    lower = verb.lower()
    shortest = prec < 0
    if shortest:
        digits, point = _shortest_digits(number)
        prec = {"e": max(len(digits) - 1, 0), "f": max(len(digits) - point, 0)}.get(lower, len(digits))
    elif lower == "e":
        digits, point = _rounded_digits(number, prec + 1, None)
    elif lower == "f":
        digits, point = _rounded_digits(number, None, prec)
    else:
        prec = max(prec, 1)
        digits, point = _rounded_digits(number, prec, None)
    sign = "-" if negative else ""
    if lower == "e":
        return sign + _fmt_e(digits, point, prec, verb)
    if lower == "f":
        return sign + _fmt_f(digits, point, prec)
    eprec = prec
    if eprec > len(digits) >= point:
        eprec = len(digits)
    if shortest:
        eprec = 6
    exp = point - 1
    if exp < -4 or exp >= eprec:
        prec = min(prec, len(digits))
        return sign + _fmt_e(digits, point, prec - 1, "e" if verb == "g" else "E")
    if prec > point:
        prec = len(digits)
    return sign + _fmt_f(digits, point, max(prec - point, 0))


def reflect_kind(value: Any) -> str:  # noqa: PLR0911 - one return per Go kind
    """Go's reflect.Kind name of a value."""
    value = dig(value)
    if value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "int64"
    if is_int(value):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "slice"
    if isinstance(value, datetime):
        return "struct"
    return "func" if callable(value) else "struct"


def deep_equal(a: Any, b: Any) -> bool:
    """Go's reflect.DeepEqual on template values: types must match exactly."""
    a, b = dig(a), dig(b)
    if go_type(a) != go_type(b):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
