"""YAML to checked Python values, with positions: PyYAML's node tree read the way acb's yaml.v2 reads it.

`compose` turns text into a node tree (syntax errors become `InvalidTaskFile` at the original
`file:line:column`, with hints for the usual pitfalls). A `Reader` then reads typed values out of
nodes: strings take any scalar's text (yaml.v2 does the same, so `user: 1000` is "1000"), numbers
and booleans must be YAML numbers and booleans, null is the zero value, and mappings may only hold
known keys (an unknown key names the nearest valid one).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.errors import InvalidTaskFile
from core.taskfile.positions import LineKind, TextMap, quote

_TAG = "tag:yaml.org,2002:"
_MAX_INT = 2**63 - 1  # Go's int on the agents acb runs on
_YAML_V2_BOOLS = {"y": True, "Y": True, "n": False, "N": False}  # yaml.v2 reads these as booleans too


@dataclass(frozen=True)
class Entry:
    """One `key: value` of a mapping."""

    key: str
    key_node: Node
    value: Node


def compose(text_map: TextMap, *, aliases_enabled: bool) -> Node | None:
    """The first YAML document of `text_map`'s text, or None when the text holds no document."""
    text = text_map.text
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(text_map, error, aliases_enabled=aliases_enabled) from None
    except yaml.reader.ReaderError as error:
        line, column = _index_to_position(text, error.position)
        code = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or "\0")
        raise text_map.error(
            line,
            column,
            f"the file contains the character U+{code:04X}, which YAML does not allow ({error.reason}); "
            "remove it, or write it as an escape such as \\u0000 in a double-quoted string",
        ) from None
    except yaml.YAMLError as error:
        raise text_map.error(0, 0, f"the file is not valid YAML: {type(error).__name__}") from None
    except RecursionError:
        raise text_map.error(0, 0, "the YAML nests lists or mappings too deeply to read") from None
    if len(documents) > 1:
        mark = documents[1].start_mark
        raise text_map.error(
            mark.line,
            mark.column,
            "the file holds more than one YAML document (separated by '---'); a task file is one document, "
            "and acb would silently ignore everything after the first, so remove the extra '---'",
        )
    return documents[0] if documents else None


class Reader:
    """Reads typed values from nodes composed from `text_map`, failing at the node's position."""

    def __init__(self, text_map: TextMap) -> None:
        self.text_map = text_map
        self._constructor = SafeConstructor()

    def error(self, node: Node, message: str, *, target: str | None) -> InvalidTaskFile:
        """An error at `node`, to raise."""
        mark = node.start_mark
        return self.text_map.error(mark.line, mark.column, message, target=target)

    def show(self, node: Node) -> str:
        """The node for a message: a scalar quoted as the user wrote it (or the original line when a
        template made it), a list or mapping by its kind."""
        if not isinstance(node, ScalarNode):
            return self._kind(node)
        return self.text_map.written(node.start_mark.line, node.value)

    def line(self, node: Node) -> int:
        return self.text_map.locate(node.start_mark.line, node.start_mark.column).line

    def changed(self, node: Node) -> bool:
        return self.text_map.kind(node.start_mark.line) is not LineKind.EXACT

    def mapping(
        self,
        node: Node,
        *,
        target: str,
        allowed: Sequence[str] | None,
        what: str,
        hints: Mapping[str, str] | None = None,
    ) -> dict[str, Entry]:
        """The entries of a mapping node; unknown keys (unless `allowed` is None) or repeated keys fail.
        `target` is the mapping's path ("" for the top level) and `what` names it in messages."""
        where = f"{target}: " if target else ""
        if not isinstance(node, MappingNode):
            raise self.error(
                node,
                f"{target or 'the task file'} must be a mapping of {what} properties; found {self._kind(node)}",
                target=target or None,
            )
        try:
            self._constructor.flatten_mapping(node)  # `<<: *anchor` merge keys, which yaml.v2 supports
        except ConstructorError as error:
            mark = error.problem_mark or node.start_mark
            raise self.text_map.error(
                mark.line, mark.column, f"{where}{error.problem}", target=target or None
            ) from None
        entries: dict[str, Entry] = {}
        for key_node, value in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.error(
                    key_node, f"{where}a key must be a plain name; found {self._kind(key_node)}", target=target or None
                )
            key = key_node.value
            path = f"{target}.{key}" if target else key
            if key in entries:
                first = self.line(entries[key].key_node)
                raise self.error(key_node, f"{where}{quote(key)} is given twice (first on line {first})", target=path)
            if allowed is not None and key not in allowed:
                hint = (hints or {}).get(key)
                message = (
                    f"{where}unknown property {quote(key)}; {hint}"
                    if hint
                    else unknown_key_message(target, key, allowed, what)
                )
                raise self.error(key_node, message, target=path)
            entries[key] = Entry(key, key_node, value)
        return entries

    def string(self, node: Node, *, target: str) -> str:
        if isinstance(node, ScalarNode):
            return "" if node.tag == _TAG + "null" else str(node.value)
        raise self.error(node, f"{target} must be a string; found {self._kind(node)}", target=target)

    def integer(self, node: Node, *, target: str, unit: str = "") -> int:
        """A YAML integer; `unit` words the message ("seconds")."""
        wanted = f"a whole number of {unit}" if unit else "a whole number"
        if isinstance(node, ScalarNode):
            if node.tag == _TAG + "null":
                return 0
            if node.tag == _TAG + "int":
                number = int(self._constructor.construct_yaml_int(node))
                if abs(number) > _MAX_INT:
                    raise self.error(
                        node, f"{target}: {self.show(node)} is too large; it must be {wanted}", target=target
                    )
                return number
        raise self.error(node, f"{target} must be {wanted}; found {self.show(node)}", target=target)

    def boolean(self, node: Node, *, target: str) -> bool:
        if isinstance(node, ScalarNode):
            if node.tag == _TAG + "null":
                return False
            if node.tag == _TAG + "bool":
                return bool(self._constructor.construct_yaml_bool(node))
            if node.style is None and node.value in _YAML_V2_BOOLS:
                return _YAML_V2_BOOLS[node.value]
        raise self.error(node, f"{target} must be true or false; found {self.show(node)}", target=target)

    def items(self, node: Node, *, target: str, example: str) -> list[Node]:
        """The items of a list; `example` shows the list syntax in the message."""
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"{target} must be a list, e.g. {example}; found {self._kind(node)}", target=target)
        return list(node.value)

    def strings(self, node: Node, *, target: str, example: str) -> list[tuple[str, Node]]:
        found = []
        for index, item in enumerate(self.items(node, target=target, example=example)):
            found.append((self.string(item, target=f"{target}[{index}]"), item))
        return found

    def integers(self, node: Node, *, target: str, example: str) -> list[int]:
        return [
            self.integer(item, target=f"{target}[{index}]")
            for index, item in enumerate(self.items(node, target=target, example=example))
        ]

    def _kind(self, node: Node) -> str:
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        if node.tag == _TAG + "null":
            return "nothing (null)"
        return f"the value {self.show(node)}"


def unknown_key_message(target: str, key: str, allowed: Sequence[str], what: str) -> str:
    where = f"{target}: unknown property" if target else f"unknown {what} property"
    guess = suggest(key, allowed)
    if guess:
        return f"{where} {quote(key)}; did you mean {quote(guess)}?"
    return f"{where} {quote(key)}; {what} properties are: {', '.join(allowed)}"


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The choice closest to `word` (ignoring case), if any is close."""
    by_lower = {choice.lower(): choice for choice in choices}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _index_to_position(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    line = before.count("\n")
    return line, index - (before.rfind("\n") + 1)


_HINTS = {
    "could not find expected ':'": (
        "YAML expected a 'key: value' line here. Usual causes: a value continued on the next line "
        "without being indented under its key or quoted; an $alias or {{ }} template that expanded "
        "to several lines or to text with ': ' in it; a line that is not indented like its neighbours"
    ),
    "mapping values are not allowed here": (
        "a value contains ': ' (or a key is indented too far); put the whole value in quotes, "
        "e.g. cmd: \"bash -c 'echo a: b'\""
    ),
    "that cannot start any token": "quote values that start with a special character such as @, ` or %",
    "found undefined alias": "a value starting with '*' is a YAML alias reference; put the value in quotes",
    "sequence entries are not allowed here": (
        "a '- ' after 'key:' on the same line does not start a list; write lists as [a, b] "
        '(for `when`, write when: ["-"])'
    ),
    "expected <block end>": "the indentation of this line does not match the lines above it",
    "did not find expected key": "the indentation of this line does not match the lines above it",
    "found unexpected end of stream": "a quote or bracket that was opened is never closed",
}


def _syntax_error(text_map: TextMap, error: yaml.MarkedYAMLError, *, aliases_enabled: bool) -> InvalidTaskFile:
    problem = error.problem or "invalid YAML"
    mark = error.problem_mark or error.context_mark
    context = error.context_mark
    if problem == "could not find expected ':'" and context is not None:
        mark, context = context, None  # the offending line is where the would-be key starts
    line, column = (mark.line, mark.column) if mark else (0, 0)
    message = f"YAML syntax error: {problem}"
    if error.context and context is not None:
        start = text_map.locate(context.line, context.column)
        message += f" ({error.context} that starts at line {start.line}, column {start.column})"
    if "\\t" in problem or "\t" in problem:
        message += "; YAML does not allow tabs for indentation, use spaces"
    else:
        message += next((f"; {hint}" for needle, hint in _HINTS.items() if needle in problem), "")
    row = min(line, len(text_map.lines) - 1)
    kind = text_map.kind(row)
    shown = quote(text_map.lines[row].strip())
    if kind is LineKind.EXACT and text_map.lines[row].strip():
        message += f"; the line reads {shown}"
    elif kind is LineKind.CHANGED:
        message += f"; after $aliases and {{{{ }}}} templates were expanded the line reads {shown}"
    if not aliases_enabled and "$" in text_map.lines[row]:
        message += "; note that $aliases are only expanded when the file's first line is version: v1.1.0"
    return text_map.error(line, column, message)
