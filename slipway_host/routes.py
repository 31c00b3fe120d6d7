"""HTTP route templates, as the Functions host (ASP.NET Core routing) understands them.

A template is a `/`-separated list of segments: literals (matched case-insensitively), parameters
`{name}`, optional parameters `{name?}` (last segment only), defaults `{name=value}`, catch-all
`{*rest}` (last segment only) and constraints such as `{id:int}`, `{x:length(3)}` or `{v:regex(^a)}`.
A segment may mix literals and parameters (`{name}.{ext}`). Templates are compiled once; a request
path is split once and tried against the routes in ASP.NET's precedence order (literal segments
before parameters, constrained parameters before free ones, catch-alls last), then definition order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

from slipway_host.config import HostConfigError

log = logging.getLogger("slipway_host")

T = TypeVar("T")

_GUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
_SIMPLE_CONSTRAINTS: dict[str, re.Pattern[str]] = {
    "int": re.compile(r"-?\d+"),
    "long": re.compile(r"-?\d+"),
    "bool": re.compile(r"(?i:true|false)"),
    "guid": re.compile(r"\{?" + _GUID + r"\}?|\(?" + _GUID + r"\)?"),
    "alpha": re.compile(r"[a-zA-Z]+"),
    "double": re.compile(_NUMBER),
    "float": re.compile(_NUMBER),
    "decimal": re.compile(_NUMBER),
}
_CONSTRAINT = re.compile(r"^(?P<name>\w+)(?:\((?P<args>.*)\))?$", re.DOTALL)


Check = Callable[[str], bool]


@dataclass(frozen=True)
class Parameter:
    name: str
    checks: tuple[Check, ...] = ()
    optional: bool = False
    catch_all: bool = False
    default: str | None = None

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.checks)


@dataclass(frozen=True)
class Segment:
    """One template segment: a literal, a lone parameter, or a regex over literals and parameters."""

    literal: str | None = None
    parameter: Parameter | None = None
    pattern: re.Pattern[str] | None = None
    parameters: tuple[Parameter, ...] = ()

    @property
    def rank(self) -> int:
        if self.literal is not None:
            return 1
        if self.parameter is None:
            return 2
        if self.parameter.catch_all:
            return 6
        if self.parameter.optional:
            return 5
        return 3 if self.parameter.checks else 4

    def match(self, text: str, values: dict[str, str]) -> bool:
        if self.literal is not None:
            return text.lower() == self.literal
        if self.parameter is not None:
            if not self.parameter.accepts(text):
                return False
            values[self.parameter.name] = text
            return True
        found = self.pattern.fullmatch(text) if self.pattern is not None else None
        if found is None:
            return False
        for index, parameter in enumerate(self.parameters):
            value = found.group(f"p{index}")
            if not parameter.accepts(value):
                return False
            values[parameter.name] = value
        return True


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    segments: tuple[Segment, ...]
    precedence: tuple[int, ...] = field(compare=False)

    def match(self, path: Sequence[str]) -> dict[str, str] | None:
        """Route values if `path` (decoded segments) matches, else None."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            parameter = segment.parameter
            if parameter is not None and parameter.catch_all:
                rest = "/".join(path[index:])
                if rest:
                    if not parameter.accepts(rest):
                        return None
                    values[parameter.name] = rest
                elif parameter.default is not None:
                    values[parameter.name] = parameter.default
                return values
            if index >= len(path):
                return self._fill_optional(index, values)
            if not segment.match(path[index], values):
                return None
        return values if len(path) == len(self.segments) else None

    def _fill_optional(self, index: int, values: dict[str, str]) -> dict[str, str] | None:
        for segment in self.segments[index:]:
            parameter = segment.parameter
            if parameter is None or not (parameter.optional or parameter.default is not None):
                return None
            if parameter.default is not None:
                values[parameter.name] = parameter.default
        return values


def compile_template(template: str, prefix: str = "") -> RouteTemplate:
    """Compile `prefix/template` (either may be empty); raise `HostConfigError` if malformed."""
    parts = [part for part in f"{prefix.strip('/')}/{template.strip('/')}".split("/") if part]
    segments = tuple(_compile_segment(part, template) for part in parts)
    for index, segment in enumerate(segments):
        parameter = segment.parameter
        last = index == len(segments) - 1
        if parameter is not None and parameter.catch_all and not last:
            raise HostConfigError(f"route '{template}': a catch-all parameter must be the last segment")
        if (
            parameter is not None
            and parameter.optional
            and not all(
                s.parameter is not None and (s.parameter.optional or s.parameter.catch_all) for s in segments[index:]
            )
        ):
            raise HostConfigError(f"route '{template}': only trailing segments can be optional")
    return RouteTemplate(template, segments, tuple(segment.rank for segment in segments))


def split_path(raw_path: str) -> list[str]:
    """Split a raw URL path into percent-decoded segments, ignoring empty ones."""
    return [unquote(part) for part in raw_path.split("/") if part]


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    target: T
    values: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


class RouteTable(Generic[T]):
    """Routes of all HTTP functions; `resolve` finds the function for a method and path."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._routes: list[tuple[RouteTemplate, frozenset[str] | None, T]] = []

    def add(self, template: str, methods: Iterable[str] | None, target: T) -> RouteTemplate:
        compiled = compile_template(template, self._prefix)
        allowed = frozenset(m.upper() for m in methods) if methods else None
        self._routes.append((compiled, allowed, target))
        # sort is stable, so equal precedence keeps definition order
        self._routes.sort(key=lambda route: route[0].precedence)
        return compiled

    def resolve(self, method: str, raw_path: str) -> RouteMatch[T] | MethodNotAllowed | None:
        path = split_path(raw_path)
        allowed: set[str] = set()
        for template, methods, target in self._routes:
            values = template.match(path)
            if values is None:
                continue
            if methods is None or method in methods:
                return RouteMatch(target, values)
            allowed.update(methods)
        return MethodNotAllowed(tuple(sorted(allowed))) if allowed else None


def _compile_segment(text: str, template: str) -> Segment:
    if "{" not in text and "}" not in text:
        return Segment(literal=text.lower())
    tokens = [piece for piece in re.split(r"(\{[^{}]*\})", text) if piece]
    if any(("{" in t or "}" in t) and not (t.startswith("{") and t.endswith("}")) for t in tokens):
        raise HostConfigError(f"route '{template}': segment '{text}' has unbalanced braces")
    if len(tokens) == 1:
        return Segment(parameter=_parse_parameter(tokens[0][1:-1], template))
    regex: list[str] = []
    parameters: list[Parameter] = []
    for token in tokens:
        if token.startswith("{"):
            parameter = _parse_parameter(token[1:-1], template)
            if parameter.catch_all:
                raise HostConfigError(f"route '{template}': a catch-all must be a whole segment")
            regex.append(f"(?P<p{len(parameters)}>.+?)")
            parameters.append(parameter)
        else:
            regex.append(re.escape(token))
    return Segment(pattern=re.compile("".join(regex), re.IGNORECASE), parameters=tuple(parameters))


def _parse_parameter(body: str, template: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    head, equals, tail = body.partition("=")
    if equals:
        body, default = head, tail
    optional = body.endswith("?")
    body = body.removesuffix("?")
    name, *constraints = _split_constraints(body)
    if not re.fullmatch(r"\w+", name):
        raise HostConfigError(f"route '{template}': parameter name '{name}' must be letters, digits or _")
    checks = tuple(check for c in constraints if (check := _compile_constraint(c, template)) is not None)
    return Parameter(name, checks, optional or catch_all, catch_all, default)


def _split_constraints(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in body:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


def _compile_constraint(text: str, template: str) -> Check | None:
    match = _CONSTRAINT.match(text)
    name = match["name"].lower() if match else text
    args = (match["args"] or "") if match else ""
    simple = _SIMPLE_CONSTRAINTS.get(name)
    if simple is not None:
        return lambda value: simple.fullmatch(value) is not None
    numbers = [int(a) for a in args.split(",") if a.strip().lstrip("-").isdigit()]
    if name in ("min", "max", "range") and numbers:
        low = numbers[0] if name != "max" else None
        high = numbers[-1] if name != "min" else None
        return lambda value: _int_between(value, low, high)
    if name in ("minlength", "maxlength", "length") and numbers:
        shortest = numbers[0] if name != "maxlength" else 0
        longest = numbers[-1] if name != "minlength" else None
        return lambda value: len(value) >= shortest and (longest is None or len(value) <= longest)
    if name == "regex" and args:
        pattern = re.compile(args, re.IGNORECASE)
        return lambda value: pattern.search(value) is not None
    log.warning("route '%s': constraint '%s' is not supported and is ignored", template, text)
    return None


def _int_between(value: str, low: int | None, high: int | None) -> bool:
    if not re.fullmatch(r"-?\d+", value):
        return False
    number = int(value)
    return (low is None or number >= low) and (high is None or number <= high)
