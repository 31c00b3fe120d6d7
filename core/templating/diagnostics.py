"""How syntax errors are worded: Go's message, then what would be allowed instead."""

from __future__ import annotations

import difflib
from collections.abc import Collection

HINTS = {
    "operand": 'an action holds arguments separated by spaces, "|" between commands, and ends with "}}"',
    "command": 'an action holds a pipeline such as {{ .Values.x | default "y" }}',
    "end": "write {{end}} alone",
    "else": "write {{else}}, {{else if ...}} or {{else with ...}}",
    "input": "text and actions may follow",
}
LEX_HINTS = {
    "unclosed action": 'every "{{" needs a matching "}}"',
    "unclosed comment": 'close the comment with "*/}}"',
    "comment ends before closing delimiter": "write comments as {{/* ... */}}",
    "unclosed left paren": 'close it with ")" before "}}"',
    "unterminated quoted string": 'close the string with " on the same line',
    "unterminated raw quoted string": "close the string with `",
    "unterminated character constant": "close the character with '",
    "expected :=": 'declare variables with ":=" and assign them with "="',
}


class ParseFailure(Exception):
    """A syntax error at a character offset; the caller adds the file name, line and column."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def suggest(name: str, known: Collection[str]) -> str:
    """A '; did you mean "x"?' suffix when a known name is close to `name`."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f'; did you mean "{close[0]}"?' if close else ""
