"""Where text came from: positions in expanded text mapped back to the file the user wrote.

A task file is changed twice before YAML sees it: `$alias` substitution (which also drops comment
lines and the `alias:` block) and Go-template rendering. A `TextMap` holds the current text and, for
each of its lines, the original line it came from and how much it changed. Errors found in the
expanded text are reported at `file:line:column` of the original; columns inside a changed line are
aligned by a character diff, which points at the `{{`/`$` that produced the offending text. When a
line has no single original (a template expanded to several lines) the message says so and shows
the expanded line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import IntEnum

from core.errors import InvalidTaskFile

# The line breaks PyYAML counts (so our line numbers agree with its marks).
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_QUOTE_LIMIT = 120
_MIN_MATCH = 3


def split_lines(text: str) -> list[str]:
    """Lines as PyYAML counts them; a trailing line break yields a final empty line."""
    return _LINE_BREAK.split(text)


def quote(text: str) -> str:
    """`text` in single quotes for a message, shortened when long."""
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 3] + "..."
    return "'" + text.replace("\n", "\\n").replace("\t", "\\t") + "'"


class LineKind(IntEnum):
    """How a derived line relates to its original; larger is less exact."""

    EXACT = 0  # the same text as the original line
    CHANGED = 1  # the original line with aliases or templates expanded in place
    APPROX = 2  # one of several lines one original line expanded to, or a line a template added


@dataclass(frozen=True)
class LineOrigin:
    line: int  # 0-based index into the original file's lines
    kind: LineKind


@dataclass(frozen=True)
class Position:
    line: int  # 1-based, in the original file
    column: int  # 1-based
    note: str = ""  # set when the original position is approximate: shows the expanded line


@dataclass(frozen=True)
class TextMap:
    file_name: str
    source_lines: tuple[str, ...]
    lines: tuple[str, ...]
    origins: tuple[LineOrigin, ...]

    @classmethod
    def of_source(cls, file_name: str, text: str) -> TextMap:
        lines = tuple(split_lines(text))
        return cls(file_name, lines, lines, tuple(LineOrigin(i, LineKind.EXACT) for i in range(len(lines))))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def derive(self, lines: Sequence[str], origins: Sequence[tuple[int, LineKind]]) -> TextMap:
        """A text whose line `k` came from line `origins[k][0]` of this text."""
        composed = []
        for index, kind in origins:
            base = self.origins[min(index, len(self.origins) - 1)]
            composed.append(LineOrigin(base.line, max(base.kind, kind)))
        return TextMap(self.file_name, self.source_lines, tuple(lines), tuple(composed))

    def rendered(self, text: str) -> TextMap:
        """This text after template rendering; lines are matched by a line diff."""
        new_lines = split_lines(text)
        if tuple(new_lines) == self.lines:
            return self
        mapping: list[tuple[int, LineKind]] = []
        matcher = SequenceMatcher(None, self.lines, new_lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                mapping.extend((i1 + k, LineKind.EXACT) for k in range(j2 - j1))
            elif tag == "replace" and i2 - i1 == j2 - j1:
                mapping.extend((i1 + k, LineKind.CHANGED) for k in range(j2 - j1))
            elif tag == "replace":
                mapping.extend((min(i1 + k, i2 - 1), LineKind.APPROX) for k in range(j2 - j1))
            elif tag == "insert":
                mapping.extend((max(i1 - 1, 0), LineKind.APPROX) for _ in range(j2 - j1))
        return self.derive(new_lines, mapping)

    def kind(self, line: int) -> LineKind:
        return self.origins[self._clamp(line)].kind

    def locate(self, line: int, column: int) -> Position:
        """The original position of 0-based (`line`, `column`) in this text."""
        index = self._clamp(line)
        origin = self.origins[index]
        derived = self.lines[index]
        source = self.source_lines[origin.line]
        at = column if origin.kind is LineKind.EXACT else _align(derived, source, column)
        note = ""
        if origin.kind is LineKind.APPROX:
            note = (
                f" (a template or alias on this line expanded to several lines; the problem is on line "
                f"{index + 1} of the expanded task file: {quote(derived.strip())})"
            )
        return Position(origin.line + 1, max(at, 0) + 1, note)

    def error(self, line: int, column: int, message: str, *, target: str | None = None) -> InvalidTaskFile:
        """An error at 0-based (`line`, `column`) of this text, reported against the original file."""
        where = self.locate(line, column)
        return InvalidTaskFile(f"{self.file_name}:{where.line}:{where.column}: {message}{where.note}", target=target)

    def written(self, line: int, value: str) -> str:
        """How to quote a value found on `line`: as is when the user wrote it literally, otherwise the
        original line (a template's expansion may hold a secret, so it is not quoted)."""
        index = self._clamp(line)
        origin = self.origins[index]
        if origin.kind is LineKind.EXACT:
            return quote(value)
        return f"the value written as {quote(self.source_lines[origin.line].strip())}"

    def _clamp(self, line: int) -> int:
        return min(max(line, 0), len(self.lines) - 1)


# Inside text that a template or alias produced, a column maps to the start of that template or alias,
# which is what the user wrote and can fix.
def _align(derived: str, source: str, column: int) -> int:
    best = 0
    for i, j, size in SequenceMatcher(None, derived, source, autojunk=False).get_matching_blocks():
        anchored = (i == 0 and j == 0) or (i + size == len(derived) and j + size == len(source))
        if size < _MIN_MATCH and not anchored:
            continue  # one or two equal characters inside a template's output are coincidence
        if i <= column < i + size:
            return j + (column - i)
        if i + size <= column:
            best = j + size
    return min(best, len(source))
