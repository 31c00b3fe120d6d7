"""Go's `encoding/json` for template values: `toJson`, `toPrettyJson` and `fromJson`.

Differences from Python's `json` that matter for output: map keys are sorted, `<`, `>` and `&` are
escaped as `\\u003c` and friends, floats use Go's shortest form (`1e+21`, `1e-7`), and decoding
turns every number into a float64 (so `1` decodes to `1.0` and prints as `1`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.templating.gotime import format_time
from core.templating.values import dig, format_float, format_value

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


class JsonError(ValueError):
    """A value Go's encoding/json cannot encode (NaN, infinity, functions)."""


def _string(text: str, escape_html: bool) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20:
            out.append(f"\\u00{code:02x}")
        elif escape_html and ch in _HTML:
            out.append(_HTML[ch])
        elif ch in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float(number: float) -> str:
    if math.isnan(number) or math.isinf(number):
        raise JsonError(f"json: unsupported value: {format_float(number)}")
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = format_float(number, "e", -1)
        mantissa, _, exponent = text.partition("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits}"
    return format_float(number, "f", -1)


def encode(value: Any, *, indent: str = "", escape_html: bool = True, level: int = 0) -> str:  # noqa: PLR0911
    """Go's json.Marshal (or MarshalIndent with `indent`) of a template value."""
    value = dig(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value, escape_html)
    if isinstance(value, datetime):
        return _string(format_time(value, "2006-01-02T15:04:05.999999999Z07:00"), escape_html)
    if isinstance(value, Mapping | list | tuple):
        if isinstance(value, Mapping):
            keys = sorted(value, key=format_value)
            parts = [
                _string(format_value(k), escape_html)
                + (": " if indent else ":")
                + encode(value[k], indent=indent, escape_html=escape_html, level=level + 1)
                for k in keys
            ]
            open_, close = "{", "}"
        else:
            parts = [encode(v, indent=indent, escape_html=escape_html, level=level + 1) for v in value]
            open_, close = "[", "]"
        if not parts:
            return open_ + close
        if not indent:
            return open_ + ",".join(parts) + close
        inner = "\n" + indent * (level + 1)
        return open_ + inner + ("," + inner).join(parts) + "\n" + indent * level + close
    raise JsonError(f"json: unsupported type: {type(value).__name__}")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def decode(text: str) -> Any:
    """Go's json.Unmarshal into interface{}: numbers become floats; raises ValueError."""
    return json.loads(text, parse_int=float, parse_constant=_refuse_constant)
