"""Go `text/template` with Sprig functions, rendering ACR task files exactly as `acb` does.

ACR renders a task file with Go's `text/template`, the Sprig v2.22 function library (with `b64enc`
replaced so that nil gives ""), the option `missingkey=zero`, and then deletes every `<no value>`
from the output, so a missing value renders as an empty string. `render_template` does the same.

Pipeline of modules, in the order a template flows through them:

- `lexer`      text to tokens; trim markers `{{- -}}` and comments are handled here
- `parser`     tokens to a tree (`nodes`); checks functions, variables, `{{end}}`s
- `executor`   walks the tree over the data; Go's argument type checks, truthiness, limits
- `builtins`   Go's builtin functions; `sprig*` the Sprig library; `funcs` their signatures
- `values`, `gofmt`, `gotime`, `gojson`, `goregex`, `gostrings`, `literals`
               Go's printing, time layouts, JSON, RE2 and string rules in Python

Every problem is a `TemplateError` whose message starts with `name:line:column:` (columns count
characters from 1; Go counts bytes from 0).

Known differences from acb, all outside what working task files do: Go's `Local` zone is UTC; `env`
and `expandenv` see an empty environment; `keys`/`values` return key order where Go is random;
regular expressions backtrack (no RE2 linear-time guarantee, no Unicode classes); complex numbers and
a few Sprig functions (`sprig.UNSUPPORTED_SPRIG`) are refused; Sprig 3's `get`/`fromJson` and Helm's
`required` are accepted although acb's Sprig 2.22 lacks them; runaway templates hit `Limits`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.errors import InvalidTaskFile
from core.templating.diagnostics import ParseFailure
from core.templating.executor import ExecFailure, Executor, Limits
from core.templating.funcs import FunctionError, GoFunction, GoType, from_callable
from core.templating.parser import parse
from core.templating.sprig import UNSUPPORTED_SPRIG, default_functions
from core.templating.sprig_env import Environment

__all__ = [
    "Environment",
    "FunctionError",
    "GoFunction",
    "GoType",
    "Limits",
    "TemplateError",
    "render_template",
]


class TemplateError(InvalidTaskFile):
    """A task file's template cannot be parsed or rendered; the message names the place."""

    def __init__(self, name: str, line: int, column: int, description: str) -> None:
        super().__init__(f"{name}:{line}:{column}: {description}", target=f"{name}:{line}:{column}")
        self.name = name
        self.line = line
        self.column = column
        self.description = description


def _position(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _error(name: str, text: str, offset: int, description: str) -> TemplateError:
    line, column = _position(text, offset)
    return TemplateError(name, line, column, description)


def _function_map(functions: Mapping[str, Callable[..., Any]] | None, env: Environment | None) -> dict[str, GoFunction]:
    table = default_functions(env)
    for fname, impl in (functions or {}).items():
        table[fname] = from_callable(fname, impl)
    return table


def render_template(
    text: str,
    data: Mapping[str, Any],
    *,
    name: str = "template",
    functions: Mapping[str, Callable[..., Any]] | None = None,
    env: Environment | None = None,
    limits: Limits | None = None,
) -> str:
    """Render `text` with `data` as acb does; raise TemplateError naming line and column.

    `functions` add to or replace the built-in function map (a plain callable takes any values;
    a `GoFunction` declares Go parameter types). `env` supplies the clock and randomness for
    `now`, `date` and `uuidv4`.

        >>> data = {"Run": {"ID": "ca1"}, "Values": {}}
        >>> render_template('{{ .Run.ID | upper }}:{{ .Values.tag | default "latest" }}', data)
        'CA1:latest'
    """
    table = _function_map(functions, env)
    unavailable = {f: "it is a Sprig function that Slipway does not support" for f in UNSUPPORTED_SPRIG}
    try:
        trees = parse(text, name, table, unavailable)
    except ParseFailure as failure:
        raise _error(name, text, failure.pos, failure.message) from None
    except RecursionError:
        raise _error(name, text, 0, "template nests too deeply to parse") from None
    executor = Executor(trees, table, limits or Limits())
    try:
        rendered = executor.execute(name, data)
    except ExecFailure as failure:
        description = f"at <{failure.context}>: {failure.message}" if failure.context else failure.message
        raise _error(name, text, failure.pos, description) from None
    except RecursionError:
        pos = executor.node.pos if executor.node is not None else 0
        raise _error(name, text, pos, "template recursion is too deep to render") from None
    return rendered.replace("<no value>", "")
