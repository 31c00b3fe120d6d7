"""Go literal syntax inside actions: quoted strings, raw strings, characters and numbers.

Follows `strconv.Unquote`, `strconv.UnquoteChar`, `strconv.ParseInt/ParseUint/ParseFloat` with
base 0 (prefixes `0x`, `0o`, `0b`, a leading `0` for octal, `_` between digits), and the way
`parse.NumberNode` records every type that can hold a number.
"""

from __future__ import annotations

from core.templating.nodes import NumberNode

_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_INT64 = 1 << 63
_UINT64 = 1 << 64


class LiteralError(ValueError):
    """A literal that Go would not accept; the message says why."""


def _unquote_char(text: str, i: int, quote: str) -> tuple[int, bool, int]:
    """Decode one (possibly escaped) character at text[i]: (value, is_byte, next index)."""
    ch = text[i]
    if ch != "\\":
        return ord(ch), False, i + 1
    if i + 1 >= len(text):
        raise LiteralError("invalid syntax")
    esc = text[i + 1]
    if esc in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[esc], False, i + 2
    if esc in "'\"":
        if esc != quote:
            raise LiteralError(f"invalid escape \\{esc} in a {quote}-quoted literal")
        return ord(esc), False, i + 2
    if esc in "xuU":
        size = {"x": 2, "u": 4, "U": 8}[esc]
        digits = text[i + 2 : i + 2 + size]
        if len(digits) != size or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise LiteralError(f"invalid \\{esc} escape: want {size} hex digits")
        value = int(digits, 16)
        if esc != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            raise LiteralError(f"invalid Unicode code point \\{esc}{digits}")
        return value, esc == "x", i + 2 + size
    if "0" <= esc <= "7":
        digits = text[i + 1 : i + 4]
        if len(digits) != 3 or any(not "0" <= c <= "7" for c in digits) or int(digits, 8) > 255:
            raise LiteralError("invalid octal escape: want 3 octal digits up to \\377")
        return int(digits, 8), True, i + 4
    raise LiteralError(f"unknown escape sequence \\{esc}")


def unquote(token: str) -> str:
    """The value of a Go string literal: "..." with escapes, or `...` taken as written."""
    if len(token) < 2 or token[0] != token[-1] or token[0] not in '"`':
        raise LiteralError("invalid syntax")
    body = token[1:-1]
    if token[0] == "`":
        return body.replace("\r", "")
    out = bytearray()
    i = 0
    while i < len(body):
        value, is_byte, i = _unquote_char(body, i, '"')
        if is_byte:
            out.append(value)
        else:
            out.extend(chr(value).encode("utf-8", "surrogatepass"))
    return out.decode("utf-8", "replace")


def unquote_char(token: str) -> int:
    """The value of a Go character literal such as 'a' or '\\n'."""
    if len(token) < 3 or token[0] != "'" or token[-1] != "'":
        raise LiteralError(f"malformed character constant: {token}")
    value, _, end = _unquote_char(token, 1, "'")
    if end != len(token) - 1:
        raise LiteralError(f"malformed character constant: {token}")
    return value


def _underscore_ok(text: str) -> bool:
    saw = "^"
    if text[:1] in ("+", "-"):
        text = text[1:]
    i = 0
    hexadecimal = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        i, saw, hexadecimal = 2, "0", text[1].lower() == "x"
    for ch in text[i:]:
        if "0" <= ch <= "9" or (hexadecimal and "a" <= ch.lower() <= "f"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _parse_integer(text: str, *, signed: bool) -> int | None:
    """strconv.ParseInt(text, 0, 64) (signed) or strconv.ParseUint(text, 0, 64); None if invalid."""
    body = text
    negative = False
    if signed and body[:1] in ("+", "-"):
        negative, body = body[0] == "-", body[1:]
    if not body or ("_" in body and not _underscore_ok(body)):
        return None
    base, digits = 10, body
    if body[0] == "0" and len(body) > 1:
        prefix = body[1].lower()
        base, digits = {"x": (16, body[2:]), "o": (8, body[2:]), "b": (2, body[2:])}.get(prefix, (8, body[1:]))
    digits = digits.replace("_", "")
    allowed = "0123456789abcdefABCDEF"[: {16: 22, 10: 10, 8: 8, 2: 2}[base]]
    if not digits or any(c not in allowed for c in digits):
        return None
    value = -int(digits, base) if negative else int(digits, base)
    if signed:
        return value if -_INT64 <= value < _INT64 else None
    return value if value < _UINT64 else None


def _parse_float(text: str) -> float | None:
    body = text.lstrip("+-")
    negative = text.startswith("-")
    if "_" in body and not _underscore_ok(body):
        return None
    cleaned = body.replace("_", "")
    try:
        if cleaned[:2].lower() == "0x":
            if "p" not in cleaned.lower():
                return None  # Go requires a p exponent on a hexadecimal mantissa.
            value = float.fromhex(cleaned)
        else:
            if any(c not in "0123456789.eE+-" for c in cleaned):
                return None
            value = float(cleaned)
    except (ValueError, OverflowError):
        return None
    if value in (float("inf"), float("-inf")):
        return None  # Go's ParseFloat reports a range error.
    return -value if negative else value


def number_node(pos: int, text: str, *, char: bool = False) -> NumberNode:  # noqa: PLR0912 - mirrors Go
    """Parse a number token as Go's parser does, recording every type that can hold it."""
    node = NumberNode(pos, text)
    if char:
        value = unquote_char(text)
        node.is_int = node.is_uint = node.is_float = True
        node.int_value = node.uint_value = value
        node.float_value = float(value)
        return node
    if text.endswith("i") and _parse_float(text[:-1]) is not None:
        raise LiteralError(f"complex number {text} is not supported; use an integer or a float")
    unsigned = _parse_integer(text, signed=False)
    if unsigned is not None:
        node.is_uint, node.uint_value = True, unsigned
    signed = _parse_integer(text, signed=True)
    if signed is not None:
        node.is_int, node.int_value = True, signed
        if signed == 0:
            node.is_uint, node.uint_value = True, 0
    if node.is_int:
        node.is_float, node.float_value = True, float(node.int_value)
    elif node.is_uint:
        node.is_float, node.float_value = True, float(node.uint_value)
    else:
        number = _parse_float(text)
        if number is not None:
            if not any(c in text for c in ".eEpP"):
                raise LiteralError(f"integer overflow: {text!r}")
            node.is_float, node.float_value = True, number
            if number.is_integer() and -_INT64 <= number < _INT64:
                node.is_int, node.int_value = True, int(number)
            if number.is_integer() and 0 <= number < _UINT64:
                node.is_uint, node.uint_value = True, int(number)
    if not (node.is_int or node.is_uint or node.is_float):
        raise LiteralError(f"illegal number syntax: {text!r}")
    return node
