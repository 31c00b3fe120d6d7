"""How template functions are described: Go parameter types, arity and a usage line.

Go's `text/template` checks every argument against the function's parameter types before the call
(`upper 3` fails: expected string; found 3). `GoFunction` carries those types so the executor can
do the same. A function signals a Go error, or what would be a Go panic, by raising `FunctionError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class GoType(Enum):
    """A parameter type, named as Go's error messages name it."""

    ANY = "interface {}"
    VALUE = "reflect.Value"  # builtins that inspect the value themselves (eq, len, index, ...)
    STRING = "string"
    INT = "int"
    INT64 = "int64"
    FLOAT = "float64"
    BOOL = "bool"
    MAP = "map[string]interface {}"

    @property
    def can_be_nil(self) -> bool:
        return self in (GoType.ANY, GoType.VALUE, GoType.MAP)


class FunctionError(Exception):
    """A template function failed; the executor reports `error calling NAME: MESSAGE`."""


@dataclass(frozen=True)
class GoFunction:
    """A template function: the implementation and its Go signature."""

    name: str
    impl: Callable[..., Any]
    params: tuple[GoType, ...] = ()
    variadic: GoType | None = None
    usage: str = ""
    builtin: bool = False  # a text/template builtin rather than a Sprig or caller function

    def describe_usage(self) -> str:
        if self.usage:
            return self.usage
        words = [t.value.split("[")[0].split(" ")[0].upper() for t in self.params]
        if self.variadic is not None:
            words.append(self.variadic.value.split(" ")[0].upper() + "...")
        return " ".join([self.name, *words])


def go_function(
    name: str, *params: GoType, variadic: GoType | None = None, usage: str = ""
) -> Callable[[Callable[..., Any]], GoFunction]:
    """Decorator: declare a Python function as a template function with a Go signature."""

    def wrap(impl: Callable[..., Any]) -> GoFunction:
        return GoFunction(name, impl, tuple(params), variadic, usage)

    return wrap


def from_callable(name: str, impl: Callable[..., Any]) -> GoFunction:
    """Describe a caller's plain Python function: each parameter is an `interface {}`."""
    if isinstance(impl, GoFunction):
        return impl
    try:
        parameters = list(inspect.signature(impl).parameters.values())
    except (TypeError, ValueError):
        return GoFunction(name, impl, (), GoType.ANY)
    positional = [
        p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = GoType.ANY if any(p.kind is p.VAR_POSITIONAL for p in parameters) else None
    return GoFunction(name, impl, tuple(GoType.ANY for _ in positional), variadic)


def table(functions: Iterable[GoFunction]) -> dict[str, GoFunction]:
    return {f.name: f for f in functions}


def collect(namespace: Mapping[str, object]) -> dict[str, GoFunction]:
    """Every template function a module defines at top level, by name."""
    return table(v for v in namespace.values() if isinstance(v, GoFunction))


def aliases(functions: Mapping[str, GoFunction], pairs: Mapping[str, str]) -> dict[str, GoFunction]:
    """Extra names for existing functions, e.g. Sprig's `push` for `append`."""
    out: dict[str, GoFunction] = {}
    for alias, original in pairs.items():
        f = functions[original]
        out[alias] = GoFunction(alias, f.impl, f.params, f.variadic, f.usage.replace(original, alias, 1))
    return out
