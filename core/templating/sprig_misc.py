"""Sprig v2.22 defaults, JSON, arithmetic, dates, regular expressions, paths, reflection and more.

Also Helm's `required` and Sprig 3's `fromJson`, which acb's Sprig 2 lacks; they are accepted so
that task files written for Helm-style templates render. `env` and `expandenv` see an empty
environment: the worker's own environment must not leak into task files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from math import ceil, floor, isinf, isnan, modf
from typing import Any

from core.templating import goregex
from core.templating.funcs import FunctionError, GoFunction, GoType, collect, go_function, table
from core.templating.gojson import JsonError, decode, encode
from core.templating.sprig_env import Environment, date_functions, random_functions
from core.templating.values import Int64, deep_equal, dig, go_type, is_int, is_true, reflect_kind

A, S, N, B, F = GoType.ANY, GoType.STRING, GoType.INT, GoType.BOOL, GoType.FLOAT
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_INT64 = 1 << 63


def is_empty(value: Any) -> bool:
    """Sprig's empty: nil, false, 0 and empty strings, lists and maps (the opposite of Go's truth)."""
    return not is_true(value)[0]


def _wrap(number: int) -> Int64:
    return Int64((number + _INT64) % (2 * _INT64) - _INT64)


def to_int64(value: Any) -> Int64:  # noqa: PLR0911 - one return per Go kind
    """Sprig 2's toInt64: numbers truncate, bools are 0/1, decimal strings parse, anything else is 0."""
    value = dig(value)
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value) or not -_INT64 <= int(value) < _INT64:
            return Int64(0)
        return Int64(int(value))
    if isinstance(value, bool):
        return Int64(1 if value else 0)
    if is_int(value):
        return _wrap(value)
    if isinstance(value, float):
        if isnan(value) or isinf(value) or not -_INT64 <= value < _INT64:
            return Int64(-_INT64)
        return Int64(int(value))
    return Int64(0)


def to_float64(value: Any) -> float:
    value = dig(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() == value and "_" not in value else 0.0
        except ValueError:
            return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return 0.0


# ---- defaults -----------------------------------------------------------------------------------


@go_function("default", A, variadic=A, usage="default DEFAULT VALUE")
def _default(fallback: Any, *given: Any) -> Any:
    return fallback if not given or is_empty(given[0]) else given[0]


@go_function("empty", A, usage="empty VALUE")
def _empty(value: Any) -> bool:
    return is_empty(value)


@go_function("coalesce", variadic=A, usage="coalesce VALUE...")
def _coalesce(*values: Any) -> Any:
    return next((v for v in values if not is_empty(v)), None)


@go_function("ternary", A, A, B, usage="ternary IF_TRUE IF_FALSE CONDITION")
def _ternary(if_true: Any, if_false: Any, condition: bool) -> Any:
    return if_true if condition else if_false


@go_function("required", S, A, usage='required "MESSAGE" VALUE')
def _required(message: str, value: Any) -> Any:
    if value is None or value == "":
        raise FunctionError(message)
    return value


@go_function("fail", S, usage='fail "MESSAGE"')
def _fail(message: str) -> str:
    raise FunctionError(message)


@go_function("toJson", A, usage="toJson VALUE")
def _to_json(value: Any) -> str:
    try:
        return encode(value)
    except JsonError:
        return ""


@go_function("toPrettyJson", A, usage="toPrettyJson VALUE")
def _to_pretty_json(value: Any) -> str:
    try:
        return encode(value, indent="  ")
    except JsonError:
        return ""


@go_function("fromJson", S, usage="fromJson STRING")
def _from_json(text: str) -> Any:
    try:
        return decode(text)
    except ValueError:
        return None


# ---- numbers ------------------------------------------------------------------------------------


@go_function("int", A, usage="int VALUE")
def _int(value: Any) -> int:
    return int(to_int64(value))


@go_function("int64", A, usage="int64 VALUE")
def _int64(value: Any) -> Int64:
    return to_int64(value)


@go_function("float64", A, usage="float64 VALUE")
def _float64(value: Any) -> float:
    return to_float64(value)


@go_function("atoi", S, usage="atoi STRING")
def _atoi(text: str) -> int:
    return int(to_int64(text))


@go_function("add", variadic=A, usage="add NUMBER...")
def _add(*values: Any) -> Int64:
    return _wrap(sum(to_int64(v) for v in values))


@go_function("add1", A, usage="add1 NUMBER")
def _add1(value: Any) -> Int64:
    return _wrap(to_int64(value) + 1)


@go_function("sub", A, A, usage="sub A B (A minus B)")
def _sub(a: Any, b: Any) -> Int64:
    return _wrap(to_int64(a) - to_int64(b))


@go_function("mul", A, variadic=A, usage="mul NUMBER NUMBER...")
def _mul(a: Any, *rest: Any) -> Int64:
    product = int(to_int64(a))
    for value in rest:
        product = int(_wrap(product * to_int64(value)))
    return Int64(product)


def _quotient(a: int, b: int) -> int:
    if b == 0:
        raise FunctionError("runtime error: integer divide by zero")
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


@go_function("div", A, A, usage="div A B (A divided by B, rounded toward zero)")
def _div(a: Any, b: Any) -> Int64:
    return _wrap(_quotient(to_int64(a), to_int64(b)))


@go_function("mod", A, A, usage="mod A B")
def _mod(a: Any, b: Any) -> Int64:
    x, y = to_int64(a), to_int64(b)
    return _wrap(x - y * _quotient(x, y))


@go_function("max", A, variadic=A, usage="max NUMBER...")
def _max(a: Any, *rest: Any) -> Int64:
    return max([to_int64(a), *(to_int64(v) for v in rest)])


@go_function("min", A, variadic=A, usage="min NUMBER...")
def _min(a: Any, *rest: Any) -> Int64:
    return min([to_int64(a), *(to_int64(v) for v in rest)])


@go_function("floor", A, usage="floor NUMBER")
def _floor(value: Any) -> float:
    number = to_float64(value)
    return number if isnan(number) or isinf(number) else float(floor(number))


@go_function("ceil", A, usage="ceil NUMBER")
def _ceil(value: Any) -> float:
    number = to_float64(value)
    return number if isnan(number) or isinf(number) else float(ceil(number))


@go_function("round", A, N, variadic=F, usage="round NUMBER PLACES")
def _round(value: Any, places: int, *round_on: float) -> float:
    threshold = round_on[0] if round_on else 0.5
    power = 10.0**places
    digits = power * to_float64(value)
    fraction, _ = modf(digits)
    rounded = ceil(digits) if fraction >= threshold else floor(digits)
    return rounded / power


# ---- regular expressions ------------------------------------------------------------------------


def _compile(pattern: str) -> Any:
    try:
        return goregex.compile_go(pattern)
    except goregex.RegexError as error:
        raise FunctionError(f"regexp: Compile(`{pattern}`): {error}") from None


@go_function("regexMatch", S, S, usage='regexMatch "REGEX" STRING')
def _regex_match(pattern: str, text: str) -> bool:
    try:
        return goregex.compile_go(pattern).search(text) is not None
    except goregex.RegexError:
        return False


@go_function("regexFind", S, S, usage='regexFind "REGEX" STRING')
def _regex_find(pattern: str, text: str) -> str:
    found = goregex.all_matches(_compile(pattern), text, 1)
    return found[0].group(0) if found else ""


@go_function("regexFindAll", S, S, N, usage='regexFindAll "REGEX" STRING COUNT')
def _regex_find_all(pattern: str, text: str, count: int) -> list[str]:
    return [m.group(0) for m in goregex.all_matches(_compile(pattern), text, count)]


@go_function("regexReplaceAll", S, S, S, usage='regexReplaceAll "REGEX" STRING "REPLACEMENT"')
def _regex_replace_all(pattern: str, text: str, replacement: str) -> str:
    return goregex.replace_all(_compile(pattern), text, lambda m: goregex.expand(replacement, m))


@go_function("regexReplaceAllLiteral", S, S, S, usage='regexReplaceAllLiteral "REGEX" STRING "REPLACEMENT"')
def _regex_replace_all_literal(pattern: str, text: str, replacement: str) -> str:
    return goregex.replace_all(_compile(pattern), text, lambda _: replacement)


@go_function("regexSplit", S, S, N, usage='regexSplit "REGEX" STRING COUNT')
def _regex_split(pattern: str, text: str, count: int) -> list[str]:
    return goregex.split(_compile(pattern), text, count)


# ---- paths, reflection, environment -------------------------------------------------------------


def clean_path(path: str) -> str:
    """Go's path.Clean."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    return ("/" + joined) if rooted else (joined or ".")


@go_function("base", S, usage="base PATH")
def _base(path: str) -> str:
    if path == "":
        return "."
    path = path.rstrip("/")
    return path[path.rfind("/") + 1 :] if path else "/"


@go_function("dir", S, usage="dir PATH")
def _dir(path: str) -> str:
    return clean_path(path[: path.rfind("/") + 1])


@go_function("clean", S, usage="clean PATH")
def _clean(path: str) -> str:
    return clean_path(path)


@go_function("ext", S, usage="ext PATH")
def _ext(path: str) -> str:
    tail = path[path.rfind("/") + 1 :]
    dot = tail.rfind(".")
    return tail[dot:] if dot >= 0 else ""


@go_function("isAbs", S, usage="isAbs PATH")
def _is_abs(path: str) -> bool:
    return path.startswith("/")


@go_function("typeOf", A, usage="typeOf VALUE")
def _type_of(value: Any) -> str:
    return go_type(value)


@go_function("typeIs", S, A, usage='typeIs "TYPE" VALUE')
def _type_is(target: str, value: Any) -> bool:
    return target == go_type(value)


@go_function("typeIsLike", S, A, usage='typeIsLike "TYPE" VALUE')
def _type_is_like(target: str, value: Any) -> bool:
    return go_type(value) in (target, "*" + target)


@go_function("kindOf", A, usage="kindOf VALUE")
def _kind_of(value: Any) -> str:
    return reflect_kind(value)


@go_function("kindIs", S, A, usage='kindIs "KIND" VALUE')
def _kind_is(target: str, value: Any) -> bool:
    return target == reflect_kind(value)


@go_function("deepEqual", A, A, usage="deepEqual A B")
def _deep_equal(a: Any, b: Any) -> bool:
    return deep_equal(a, b)


@go_function("env", S, usage='env "NAME" (always "" in Slipway)')
def _env(_: str) -> str:
    return ""


@go_function("expandenv", S, usage='expandenv STRING ($NAME expands to "" in Slipway)')
def _expandenv(text: str) -> str:
    return re.sub(r"\$(\{[^}]*\}|\{|[*#$@!?0-9-]|[A-Za-z_][A-Za-z0-9_]*)", "", text)


def misc_functions(env: Environment) -> Mapping[str, GoFunction]:
    functions = collect(globals()) | table([*date_functions(env), *random_functions(env)])
    functions["biggest"] = GoFunction("biggest", _max.impl, _max.params, _max.variadic, "biggest NUMBER...")
    return functions
