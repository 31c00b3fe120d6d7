"""Go's `text/template` builtin functions (`funcs.go`): logic, comparison, indexing, printing, escaping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

from core.templating.funcs import FunctionError, GoFunction, GoType, collect, go_function
from core.templating.gofmt import sprintf
from core.templating.goprint import sprint, sprintln
from core.templating.values import NIL, StrMap, basic_kind, dig, go_type, is_int, is_true

V = GoType.VALUE
A = GoType.ANY


def _unreachable(*_: Any) -> Any:
    raise FunctionError("and/or are evaluated by the executor")


@go_function("not", V, usage="not VALUE")
def _not(value: Any) -> bool:
    return not is_true(value)[0]


@go_function("len", V, usage="len LIST|MAP|STRING")
def _len(item: Any) -> int:
    if item is NIL or item is None:
        raise FunctionError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogatepass"))
    if isinstance(item, list | tuple | Mapping):
        return len(item)
    raise FunctionError(f"len of type {go_type(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if index is None:
        raise FunctionError("cannot index slice/array with nil")
    if not is_int(index):
        raise FunctionError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise FunctionError(f"index out of range: {index}")
    return int(index)


@go_function("index", V, variadic=V, usage="index COLLECTION KEY...")
def _index(item: Any, *indexes: Any) -> Any:
    item = dig(item)
    if item is None:
        raise FunctionError("index of untyped nil")
    for raw in indexes:
        index = dig(raw)
        if item is NIL or item is None:
            raise FunctionError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            data = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
            position = _index_arg(index, len(data))
            if position == len(data):
                raise FunctionError(f"index out of range: {position}")
            element = data[position]
            item = NIL if element is None else element
        elif isinstance(item, Mapping):
            if index is None:
                raise FunctionError("value is nil; should be of type string")
            if not isinstance(index, str) and not any(type(k) is type(index) for k in item):
                raise FunctionError(f"value has type {go_type(index)}; should be string")
            if isinstance(item, StrMap):
                item = item.get(index, "")
            else:
                found = item.get(index)
                item = NIL if found is None else found
        else:
            raise FunctionError(f"can't index item of type {go_type(item)}")
    return item


@go_function("slice", V, variadic=V, usage="slice STRING|LIST [START [END]]")
def _slice(item: Any, *indexes: Any) -> Any:
    item = dig(item)
    if item is None:
        raise FunctionError("slice of untyped nil")
    if len(indexes) > 3:
        raise FunctionError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FunctionError("cannot 3-index slice a string")
        data: Any = item.encode("utf-8", "surrogatepass")
    elif isinstance(item, list | tuple):
        data = list(item)
    else:
        raise FunctionError(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(data)]
    for i, index in enumerate(indexes[:2]):
        bounds[i] = _index_arg(dig(index), len(data))
    if len(indexes) == 3:
        _index_arg(dig(indexes[2]), len(data))
    if bounds[0] > bounds[1]:
        raise FunctionError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    part = data[bounds[0] : bounds[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else part


def _comparable(value: Any) -> bool:
    return not isinstance(value, list | tuple | Mapping)


def equal(arg1: Any, *others: Any) -> bool:
    """Go's `eq`: arg1 == others[0] || arg1 == others[1] || ..."""
    arg1 = dig(arg1)
    if not others:
        raise FunctionError("missing argument for comparison")
    k1 = basic_kind(arg1)
    for raw in others:
        arg = dig(raw)
        k2 = basic_kind(arg)
        if k1 != k2:
            if k1 in ("invalid", "other") and k2 in ("invalid", "other"):
                truth = arg1 is None and arg is None
            elif arg1 is not None and arg is not None:
                raise FunctionError(f"incompatible types for comparison: {go_type(arg1)} and {go_type(arg)}")
            else:
                truth = False
        elif k1 in ("invalid", "other"):
            if arg1 is None or arg is None:
                truth = arg1 is None and arg is None
            elif not _comparable(arg) or not _comparable(arg1):
                raise FunctionError(f"non-comparable type {arg}: {go_type(arg)}")
            else:
                truth = type(arg1) is type(arg) and arg1 == arg
        else:
            truth = arg1 == arg
        if truth:
            return True
    return False


@go_function("eq", V, variadic=V, usage="eq A B [C...] (true if A equals any of the others)")
def _eq(arg1: Any, *others: Any) -> bool:
    return equal(arg1, *others)


@go_function("ne", V, V, usage="ne A B")
def _ne(arg1: Any, arg2: Any) -> bool:
    return not equal(arg1, arg2)


def less(arg1: Any, arg2: Any) -> bool:
    """Go's `lt`: only numbers and strings are ordered."""
    arg1, arg2 = dig(arg1), dig(arg2)
    k1, k2 = basic_kind(arg1), basic_kind(arg2)
    if k1 in ("invalid", "other") or k2 in ("invalid", "other"):
        raise FunctionError("invalid type for comparison")
    if k1 != k2:
        raise FunctionError(f"incompatible types for comparison: {go_type(arg1)} and {go_type(arg2)}")
    if k1 == "bool":
        raise FunctionError("invalid type for comparison")
    return bool(arg1 < arg2)


@go_function("lt", V, V, usage="lt A B")
def _lt(arg1: Any, arg2: Any) -> bool:
    return less(arg1, arg2)


@go_function("le", V, V, usage="le A B")
def _le(arg1: Any, arg2: Any) -> bool:
    return less(arg1, arg2) or equal(arg1, arg2)


@go_function("gt", V, V, usage="gt A B")
def _gt(arg1: Any, arg2: Any) -> bool:
    return not (less(arg1, arg2) or equal(arg1, arg2))


@go_function("ge", V, V, usage="ge A B")
def _ge(arg1: Any, arg2: Any) -> bool:
    return not less(arg1, arg2)


@go_function("print", variadic=A, usage="print VALUE...")
def _print(*args: Any) -> str:
    return sprint(list(args))


@go_function("printf", GoType.STRING, variadic=A, usage='printf "FORMAT" VALUE...')
def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, list(args))


@go_function("println", variadic=A, usage="println VALUE...")
def _println(*args: Any) -> str:
    return sprintln(list(args))


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if dig(a) is None else a for a in args])


def html_escape(text: str) -> str:
    """Go's `template.HTMLEscapeString`."""
    table_ = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return "".join(table_.get(ch, ch) for ch in text)


def js_escape(text: str) -> str:
    """Go's `template.JSEscapeString`."""
    special = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    out = []
    for ch in text:
        if ch in special:
            out.append(special[ch])
        elif ch < " ":
            out.append(f"\\u00{ord(ch):02X}")
        elif ord(ch) >= 0x80 and not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


@go_function("html", variadic=A, usage="html VALUE...")
def _html(*args: Any) -> str:
    return html_escape(_eval_args(args))


@go_function("js", variadic=A, usage="js VALUE...")
def _js(*args: Any) -> str:
    return js_escape(_eval_args(args))


@go_function("urlquery", variadic=A, usage="urlquery VALUE...")
def _urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args), safe="", encoding="utf-8", errors="surrogatepass")


@go_function("call", V, variadic=V, usage="call FUNCTION ARG...")
def _call(function: Any, *args: Any) -> Any:
    function = dig(function)
    if function is None:
        raise FunctionError("call of nil")
    if not callable(function) or isinstance(function, Mapping | list | tuple | str):
        raise FunctionError(f"non-function of type {go_type(function)}")
    return function(*(dig(a) for a in args))


def builtin_functions() -> dict[str, GoFunction]:
    """The builtins every template has, before Sprig and caller functions are added."""
    functions = collect(globals())
    functions["and"] = GoFunction("and", _unreachable, (V,), V, "and VALUE... (the first false value, or the last)")
    functions["or"] = GoFunction("or", _unreachable, (V,), V, "or VALUE... (the first true value, or the last)")
    return {
        name: GoFunction(f.name, f.impl, f.params, f.variadic, f.usage, builtin=True) for name, f in functions.items()
    }
