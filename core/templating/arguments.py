"""Argument checks as Go's `text/template` makes them before calling a function.

A literal must already have the parameter's type (`upper 3`: expected string; found 3). A computed
value must be assignable to it: no conversions, so an `int64` from `add` does not fit an `int`
parameter. Nil fits only interfaces, maps and `reflect.Value`. A number with no type to fit
(`{{ 3 }}`, `print 1.5`) becomes an int or a float64 by its spelling, as a Go constant would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.templating.funcs import GoType
from core.templating.nodes import BoolNode, Node, NumberNode, StringNode
from core.templating.values import NIL, Int64, StrMap, dig, go_type, is_int

_MISSING_HINT = 'the value is missing or null, so give it a default first, e.g. {{ .Values.x | default "..." }}'
TYPE_HINTS = {
    GoType.STRING: "convert it with toString or printf",
    GoType.INT: "convert it with int or atoi",
    GoType.INT64: "convert it with int64",
    GoType.FLOAT: "convert it with float64",
    GoType.BOOL: "compare it with eq or test it with not",
    GoType.MAP: "pass a map such as .Values or the result of dict",
}
_LITERAL_NAMES = {
    GoType.BOOL: "bool",
    GoType.STRING: "string",
    GoType.INT: "integer",
    GoType.INT64: "integer",
    GoType.FLOAT: "float",
}


class ArgumentError(Exception):
    """An argument Go would refuse; the message is Go's, with a hint."""


def _assignable(value: Any, typ: GoType) -> bool:
    checks = {
        GoType.STRING: lambda v: isinstance(v, str),
        GoType.INT: lambda v: is_int(v) and not isinstance(v, Int64),
        GoType.INT64: lambda v: isinstance(v, Int64),
        GoType.FLOAT: lambda v: isinstance(v, float),
        GoType.BOOL: lambda v: isinstance(v, bool),
        GoType.MAP: lambda v: isinstance(v, Mapping) and not isinstance(v, StrMap),
    }
    check = checks.get(typ)
    return check is None or bool(check(value))


def validate_type(value: Any, typ: GoType | None) -> Any:
    """Go's validateType: the value as the function will receive it, or ArgumentError."""
    if value is None:
        if typ is None or typ.can_be_nil:
            return None
        raise ArgumentError(f"invalid value; expected {typ.value}; {_MISSING_HINT}")
    if typ is None or typ is GoType.VALUE:
        return value
    if typ is GoType.ANY:
        return dig(value)
    if value is NIL:
        raise ArgumentError(f"wrong type for value; expected {typ.value}; got interface {{}}; {_MISSING_HINT}")
    if not _assignable(value, typ):
        raise ArgumentError(f"wrong type for value; expected {typ.value}; got {go_type(value)}; {TYPE_HINTS[typ]}")
    return value


def ideal_constant(number: NumberNode) -> Any:
    """A number literal with no parameter type to fit: float64 if spelled like one, else int."""
    text = number.text
    hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
    if number.is_float and not hex_int and text[0] != "'" and any(c in text for c in ".eEpP"):
        return number.float_value
    if number.is_int:
        return number.int_value
    raise ArgumentError(f"{text} overflows int")


def literal_argument(node: Node, typ: GoType | None) -> Any:  # noqa: PLR0911 - one per literal kind
    """A literal (bool, number or string node) passed for a parameter of type `typ`."""
    if typ in (GoType.ANY, GoType.VALUE):
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return ideal_constant(node)
        if isinstance(node, StringNode):
            return node.text
    elif typ is GoType.BOOL and isinstance(node, BoolNode):
        return node.value
    elif typ is GoType.STRING and isinstance(node, StringNode):
        return node.text
    elif typ in (GoType.INT, GoType.INT64) and isinstance(node, NumberNode) and node.is_int:
        return node.int_value if typ is GoType.INT else Int64(node.int_value)
    elif typ is GoType.FLOAT and isinstance(node, NumberNode) and node.is_float:
        return node.float_value
    if typ in _LITERAL_NAMES:
        raise ArgumentError(f"expected {_LITERAL_NAMES[typ]}; found {node}; {TYPE_HINTS[typ]}")
    raise ArgumentError(f"can't handle {node} for arg of type {typ.value if typ else 'nothing'}")
