"""Sprig v2.22 string, encoding and hashing functions, with acb's `b64enc`.

Argument order is Sprig's: the string being worked on comes last, so it can be piped in
(`{{ .x | replace "-" "_" }}`, `{{ .x | trimSuffix "/" }}`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.templating import gostrings
from core.templating.funcs import FunctionError, GoFunction, GoType, aliases, collect, go_function
from core.templating.goprint import go_quote
from core.templating.values import StrMap, dig, format_time_default, format_value, go_type

S, N, A = GoType.STRING, GoType.INT, GoType.ANY
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_MAX_RESULT = 8 * 1024 * 1024  # the same bound as the rendered output (executor.Limits)


def strval(value: Any) -> str:
    """Sprig's strval: strings as they are, anything else as Go's %v prints it."""
    value = dig(value)
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return format_time_default(value)
    return format_value(value)


def strslice(value: Any) -> list[str]:
    """Sprig's strslice: a list of strings from a list (nils dropped) or a single value."""
    value = dig(value)
    if isinstance(value, list | tuple):
        return [strval(v) for v in value if dig(v) is not None]
    if value is None:
        return []
    return [strval(value)]


@go_function("upper", S, usage="upper STRING")
def _upper(text: str) -> str:
    return gostrings.upper(text)


@go_function("lower", S, usage="lower STRING")
def _lower(text: str) -> str:
    return gostrings.lower(text)


@go_function("title", S, usage="title STRING")
def _title(text: str) -> str:
    return gostrings.title(text)


@go_function("untitle", S, usage="untitle STRING")
def _untitle(text: str) -> str:
    out, lower_next = [], True
    for ch in text:
        if gostrings.is_space(ch):
            lower_next = True
            out.append(ch)
        elif lower_next:
            out.append(gostrings.to_lower(ch))
            lower_next = False
        else:
            out.append(ch)
    return "".join(out)


@go_function("swapcase", S, usage="swapcase STRING")
def _swapcase(text: str) -> str:
    def swap(ch: str) -> str:
        if gostrings.is_upper(ch) or gostrings.is_title(ch):
            return gostrings.to_lower(ch)
        return gostrings.to_upper(ch) if gostrings.is_lower(ch) else ch

    return "".join(swap(ch) for ch in text)


@go_function("trim", S, usage="trim STRING")
def _trim(text: str) -> str:
    return gostrings.trim_space(text)


@go_function("trimAll", S, S, usage="trimAll CHARACTERS STRING")
def _trim_all(cutset: str, text: str) -> str:
    return text.strip(cutset) if cutset else text


@go_function("trimPrefix", S, S, usage="trimPrefix PREFIX STRING")
def _trim_prefix(prefix: str, text: str) -> str:
    return text.removeprefix(prefix)


@go_function("trimSuffix", S, S, usage="trimSuffix SUFFIX STRING")
def _trim_suffix(suffix: str, text: str) -> str:
    return text.removesuffix(suffix)


@go_function("nospace", S, usage="nospace STRING")
def _nospace(text: str) -> str:
    return "".join(ch for ch in text if not gostrings.is_space(ch))


@go_function("trunc", N, S, usage="trunc LENGTH STRING")
def _trunc(length: int, text: str) -> str:
    if len(gostrings.to_bytes(text)) <= length:
        return text
    return gostrings.byte_slice(text, 0, length)


@go_function("substr", N, N, S, usage="substr START END STRING")
def _substr(start: int, end: int, text: str) -> str:
    if start < 0:
        return gostrings.byte_slice(text, None, end)
    if end < 0 or end > len(gostrings.to_bytes(text)):
        return gostrings.byte_slice(text, start, None)
    return gostrings.byte_slice(text, start, end)


@go_function("abbrev", N, S, usage="abbrev WIDTH STRING")
def _abbrev(width: int, text: str) -> str:
    if width < 4 or len(gostrings.to_bytes(text)) <= width:
        return text
    return gostrings.byte_slice(text, 0, width - 3) + "..."


@go_function("initials", S, usage="initials STRING")
def _initials(text: str) -> str:
    out, gap = [], True
    for ch in text:
        if gostrings.is_space(ch):
            gap = True
        elif gap:
            out.append(ch)
            gap = False
    return "".join(out)


@go_function("repeat", N, S, usage="repeat COUNT STRING")
def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise FunctionError("strings: negative Repeat count")
    if len(text) * count > _MAX_RESULT:
        raise FunctionError(f"repeat would produce {len(text) * count} characters; the limit is {_MAX_RESULT}")
    return text * count


@go_function("replace", S, S, S, usage="replace OLD NEW STRING")
def _replace(old: str, new: str, text: str) -> str:
    return text.replace(old, new)


@go_function("contains", S, S, usage="contains SUBSTRING STRING")
def _contains(part: str, text: str) -> bool:
    return part in text


@go_function("hasPrefix", S, S, usage="hasPrefix PREFIX STRING")
def _has_prefix(prefix: str, text: str) -> bool:
    return text.startswith(prefix)


@go_function("hasSuffix", S, S, usage="hasSuffix SUFFIX STRING")
def _has_suffix(suffix: str, text: str) -> bool:
    return text.endswith(suffix)


@go_function("quote", variadic=A, usage="quote VALUE...")
def _quote(*values: Any) -> str:
    return " ".join(go_quote(strval(v)) for v in values if v is not None)


@go_function("squote", variadic=A, usage="squote VALUE...")
def _squote(*values: Any) -> str:
    return " ".join(f"'{format_value(v)}'" for v in values if v is not None)


@go_function("cat", variadic=A, usage="cat VALUE...")
def _cat(*values: Any) -> str:
    return " ".join(format_value(v) for v in values if v is not None)


@go_function("indent", N, S, usage="indent SPACES STRING")
def _indent(spaces: int, text: str) -> str:
    if spaces < 0:
        raise FunctionError("strings: negative Repeat count")
    if spaces * (text.count("\n") + 1) > _MAX_RESULT:
        raise FunctionError(f"indent would produce more than {_MAX_RESULT} characters")
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


@go_function("nindent", N, S, usage="nindent SPACES STRING")
def _nindent(spaces: int, text: str) -> str:
    return "\n" + str(_indent.impl(spaces, text))


@go_function("plural", S, S, N, usage="plural ONE MANY COUNT")
def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


@go_function("snakecase", S, usage="snakecase STRING")
def _snakecase(text: str) -> str:
    return gostrings.snake_or_kebab(text, "_")


@go_function("kebabcase", S, usage="kebabcase STRING")
def _kebabcase(text: str) -> str:
    return gostrings.snake_or_kebab(text, "-")


@go_function("camelcase", S, usage="camelcase STRING")
def _camelcase(text: str) -> str:
    return gostrings.camel_case(text)


@go_function("split", S, S, usage="split SEPARATOR STRING (a map with keys _0, _1, ...)")
def _split(sep: str, text: str) -> StrMap:
    return StrMap({f"_{i}": part for i, part in enumerate(gostrings.split(text, sep))})


@go_function("splitn", S, N, S, usage="splitn SEPARATOR COUNT STRING")
def _splitn(sep: str, count: int, text: str) -> StrMap:
    return StrMap({f"_{i}": part for i, part in enumerate(gostrings.split(text, sep, count))})


@go_function("splitList", S, S, usage="splitList SEPARATOR STRING")
def _split_list(sep: str, text: str) -> list[str]:
    return gostrings.split(text, sep)


@go_function("join", S, A, usage="join SEPARATOR LIST")
def _join(sep: str, values: Any) -> str:
    return sep.join(strslice(values))


@go_function("toString", A, usage="toString VALUE")
def _to_string(value: Any) -> str:
    return strval(value)


@go_function("toStrings", A, usage="toStrings LIST")
def _to_strings(value: Any) -> list[str]:
    return strslice(value)


@go_function("sortAlpha", A, usage="sortAlpha LIST")
def _sort_alpha(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return sorted(strslice(value), key=gostrings.to_bytes)
    return [strval(value)]


@go_function("b64enc", A, usage="b64enc STRING")
def _b64enc(value: Any) -> str:
    # acb replaces Sprig's b64enc: nil gives "", a non-string encodes reflect's "<T Value>".
    if value is None:
        return ""
    text = value if isinstance(value, str) else f"<{go_type(value)} Value>"
    return base64.b64encode(gostrings.to_bytes(text)).decode("ascii")


def go_base64_decode(text: str) -> bytes:  # noqa: PLR0912 - mirrors Go's decodeQuantum
    """Go's base64.StdEncoding.DecodeString, with its error positions; newlines are ignored."""
    data = gostrings.to_bytes(text)
    out = bytearray()
    si = 0
    while si < len(data):
        quantum: list[int] = []
        while len(quantum) < 4:
            if si == len(data):
                if not quantum:
                    return bytes(out)
                raise ValueError(f"illegal base64 data at input byte {si - len(quantum)}")
            byte = data[si]
            si += 1
            if chr(byte) in _B64:
                quantum.append(_B64.index(chr(byte)))
                continue
            if byte in (10, 13):
                continue
            if byte != ord("=") or len(quantum) < 2:
                raise ValueError(f"illegal base64 data at input byte {si - 1}")
            if len(quantum) == 2:
                while si < len(data) and data[si] in (10, 13):
                    si += 1
                if si == len(data):
                    raise ValueError(f"illegal base64 data at input byte {len(data)}")
                if data[si] != ord("="):
                    raise ValueError(f"illegal base64 data at input byte {si - 1}")
                si += 1
            while si < len(data) and data[si] in (10, 13):
                si += 1
            if si < len(data):
                raise ValueError(f"illegal base64 data at input byte {si}")
            break
        value = 0
        for n in [*quantum, 0, 0, 0][:4]:
            value = value << 6 | n
        out.extend(value.to_bytes(3, "big")[: len(quantum) - 1])
    return bytes(out)


@go_function("b64dec", S, usage="b64dec STRING")
def _b64dec(text: str) -> str:
    try:
        return gostrings.from_bytes(go_base64_decode(text))
    except ValueError as error:
        return str(error)


@go_function("b32enc", S, usage="b32enc STRING")
def _b32enc(text: str) -> str:
    return base64.b32encode(gostrings.to_bytes(text)).decode("ascii")


@go_function("b32dec", S, usage="b32dec STRING")
def _b32dec(text: str) -> str:
    try:
        return gostrings.from_bytes(base64.b32decode(text.replace("\n", "").replace("\r", "")))
    except (binascii.Error, ValueError):
        return "illegal base32 data at input byte 0"


@go_function("sha1sum", S, usage="sha1sum STRING")
def _sha1sum(text: str) -> str:
    return hashlib.sha1(gostrings.to_bytes(text), usedforsecurity=False).hexdigest()


@go_function("sha256sum", S, usage="sha256sum STRING")
def _sha256sum(text: str) -> str:
    return hashlib.sha256(gostrings.to_bytes(text)).hexdigest()


@go_function("adler32sum", S, usage="adler32sum STRING")
def _adler32sum(text: str) -> str:
    return str(zlib.adler32(gostrings.to_bytes(text)))


def string_functions() -> Mapping[str, GoFunction]:
    functions = collect(globals())
    return functions | aliases(functions, {"trimall": "trimAll"})
