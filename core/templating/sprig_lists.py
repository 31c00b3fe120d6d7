"""Sprig v2.22 list and dictionary functions (plus `get` from Sprig 3).

Sprig 2 panics when a list function gets something that is not a list; Go's template engine turns
that panic into an error, and so do these functions (`Cannot find first on type string`).
Go iterates maps in random order; `keys` and `values` here return key order, which is one of the
orders Go could produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.templating.funcs import FunctionError, GoFunction, GoType, aliases, collect, go_function
from core.templating.sprig_misc import to_int64
from core.templating.sprig_strings import strval
from core.templating.values import deep_equal, dig, is_true, reflect_kind, sorted_items

A, S, N, M = GoType.ANY, GoType.STRING, GoType.INT, GoType.MAP
_NIL_PANIC = "runtime error: invalid memory address or nil pointer dereference"


def _as_list(value: Any, what: str) -> list[Any]:
    value = dig(value)
    if value is None:
        raise FunctionError(_NIL_PANIC)
    if not isinstance(value, list | tuple):
        raise FunctionError(f"Cannot find {what} on type {reflect_kind(value)}")
    return list(value)


@go_function("list", variadic=A, usage="list VALUE...")
def _list(*values: Any) -> list[Any]:
    return list(values)


@go_function("first", A, usage="first LIST")
def _first(value: Any) -> Any:
    items = _as_list(value, "first")
    return items[0] if items else None


@go_function("last", A, usage="last LIST")
def _last(value: Any) -> Any:
    items = _as_list(value, "last")
    return items[-1] if items else None


@go_function("rest", A, usage="rest LIST")
def _rest(value: Any) -> list[Any]:
    return _as_list(value, "rest")[1:]


@go_function("initial", A, usage="initial LIST")
def _initial(value: Any) -> list[Any]:
    return _as_list(value, "initial")[:-1]


@go_function("reverse", A, usage="reverse LIST")
def _reverse(value: Any) -> list[Any]:
    return _as_list(value, "reverse")[::-1]


@go_function("uniq", A, usage="uniq LIST")
def _uniq(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in _as_list(value, "uniq"):
        if not any(deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


@go_function("compact", A, usage="compact LIST")
def _compact(value: Any) -> list[Any]:
    return [item for item in _as_list(value, "compact") if is_true(item)[0]]


@go_function("without", A, variadic=A, usage="without LIST VALUE...")
def _without(value: Any, *omit: Any) -> list[Any]:
    return [item for item in _as_list(value, "without") if not any(deep_equal(item, o) for o in omit)]


@go_function("has", A, A, usage="has VALUE LIST")
def _has(needle: Any, haystack: Any) -> bool:
    if dig(haystack) is None:
        return False
    return any(deep_equal(needle, item) for item in _as_list(haystack, "has"))


@go_function("append", A, A, usage="append LIST VALUE")
def _append(value: Any, item: Any) -> list[Any]:
    items = _as_list(value, "push")
    return [*items, item]


@go_function("prepend", A, A, usage="prepend LIST VALUE")
def _prepend(value: Any, item: Any) -> list[Any]:
    return [item, *_as_list(value, "prepend")]


@go_function("concat", variadic=A, usage="concat LIST...")
def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for value in lists:
        if not isinstance(value, list | tuple):
            raise FunctionError(f"Cannot concat type {reflect_kind(value)} as list")
        out.extend(value)
    return out


@go_function("slice", A, variadic=A, usage="slice LIST [START [END]]")
def _slice(value: Any, *indexes: Any) -> Any:
    value = dig(value)
    if value is None:
        raise FunctionError(_NIL_PANIC)
    if not isinstance(value, list | tuple):
        raise FunctionError(f"list should be type of slice or array but {reflect_kind(value)}")
    if not value:
        return None
    start = int(to_int64(indexes[0])) if indexes else 0
    end = int(to_int64(indexes[1])) if len(indexes) > 1 else len(value)
    if not 0 <= start <= end <= len(value):
        raise FunctionError(f"reflect: slice index out of range [{start}:{end}]")
    return list(value[start:end])


@go_function("until", N, usage="until COUNT")
def _until(count: int) -> list[int]:
    return _until_step.impl(0, count, 1 if count >= 0 else -1)  # type: ignore[no-any-return]


@go_function("untilStep", N, N, N, usage="untilStep START STOP STEP")
def _until_step(start: int, stop: int, step: int) -> list[int]:
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return []
    if abs(stop - start) // abs(step) > 1_000_000:
        raise FunctionError("untilStep would produce more than 1000000 numbers")
    return list(range(start, stop, step))


@go_function("dict", variadic=A, usage="dict KEY VALUE [KEY VALUE...]")
def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


@go_function("get", M, S, usage="get MAP KEY")
def _get(mapping: Mapping[str, Any] | None, key: str) -> Any:
    if mapping is not None and key in mapping:
        return mapping[key]
    return ""


@go_function("set", M, S, A, usage="set MAP KEY VALUE")
def _set(mapping: Any, key: str, value: Any) -> Any:
    if mapping is None:
        raise FunctionError("assignment to entry in nil map")
    mapping[key] = value
    return mapping


@go_function("unset", M, S, usage="unset MAP KEY")
def _unset(mapping: Any, key: str) -> Any:
    if mapping is not None:
        mapping.pop(key, None)
    return mapping


@go_function("hasKey", M, S, usage="hasKey MAP KEY")
def _has_key(mapping: Mapping[str, Any] | None, key: str) -> bool:
    return mapping is not None and key in mapping


@go_function("keys", variadic=M, usage="keys MAP...")
def _keys(*mappings: Mapping[str, Any] | None) -> list[str]:
    return [str(k) for m in mappings if m is not None for k, _ in sorted_items(m)]


@go_function("values", M, usage="values MAP")
def _values(mapping: Mapping[str, Any] | None) -> list[Any]:
    return [v for _, v in sorted_items(mapping or {})]


@go_function("pluck", S, variadic=M, usage="pluck KEY MAP...")
def _pluck(key: str, *mappings: Mapping[str, Any] | None) -> list[Any]:
    return [m[key] for m in mappings if m is not None and key in m]


@go_function("pick", M, variadic=S, usage="pick MAP KEY...")
def _pick(mapping: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: mapping[k] for k in keys if mapping is not None and k in mapping}


@go_function("omit", M, variadic=S, usage="omit MAP KEY...")
def _omit(mapping: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (mapping or {}).items() if k not in keys}


def list_functions() -> Mapping[str, GoFunction]:
    functions = collect(globals())
    return functions | aliases(functions, {"tuple": "list", "push": "append"})
