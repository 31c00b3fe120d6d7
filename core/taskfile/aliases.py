"""Task-file aliases (version v1.1.0 and later), as acb's `graph/preprocessor.go` implements them.

acb reads the version from the file's first line that is neither blank nor a comment and compares
it as a string with "v1.1.0"; only then does it preprocess the text: every comment line is dropped,
the top-level `alias:` block is cut out and rendered as a template, and `$name` tokens in the rest
are replaced (the name ends at the first character that is not an ASCII letter or digit, `$$` is a
literal `$`, an unknown `$name` is left alone). The map is built from `alias.values` first, then the
`alias.src` files (the last one wins), then the built-in aliases: `$ID`, `$Registry` … become
`{{.Run.X}}`, and the image aliases (`bash`, `az` …) name the images this server configures.
After parsing, a `cmd` whose first word is an alias name gets that word replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from yaml.nodes import Node

from core.errors import InvalidTaskFile, SlipwayError
from core.taskfile.parse import Entry, Reader, compose
from core.taskfile.positions import LineKind, TextMap, quote, split_lines

ALIAS_VERSION = "v1.1.0"
DEFAULT_DIRECTIVE = "$"
RUN_ALIASES = ("ID", "SharedVolume", "Registry", "RegistryName", "Date", "OS", "Architecture", "Commit", "Branch")
IMAGE_ALIASES = ("acr", "az", "bash", "curl", "cssc")  # acb graph/global-defaults-linux.go

_NAME = re.compile(r"\A[a-zA-Z0-9]+\Z")
_ALIAS_LINE = re.compile(r"\Aalias\s*:.*\Z", re.DOTALL)
_TOP_LEVEL_LINE = re.compile(r"\A[^\s:]+[^:]*:.*\Z", re.DOTALL)
_COMMENT_LINE = re.compile(r"\A\s*#")
_REMOTE = re.compile(r"\Ahttps?://", re.IGNORECASE)


@dataclass(frozen=True)
class Aliases:
    values: Mapping[str, str]  # every alias name → its text, in acb's order of precedence
    directive: str = DEFAULT_DIRECTIVE


def find_version(text: str) -> str:
    """acb's FindVersion: the `version:` value only if it is on the first meaningful line."""
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line.startswith("version"):
            key, colon, value = line.partition(":")
            if colon and key.strip() == "version":
                return value.strip()
        break
    return ""


def aliases_enabled(found_version: str) -> bool:
    return found_version >= ALIAS_VERSION  # a string comparison, exactly as acb does it


def separate_alias_block(source: TextMap) -> tuple[TextMap, TextMap]:
    """acb's SeparateAliasFromRest: (the `alias:` block, the rest), comment lines dropped from both."""
    block: list[tuple[str, int]] = []
    rest: list[tuple[str, int]] = []
    inside = False
    for index, line in enumerate(source.lines):
        if _COMMENT_LINE.match(line):
            continue
        if not inside and _ALIAS_LINE.match(line):
            inside = True
        elif inside and _TOP_LEVEL_LINE.match(line):
            inside = False
        (block if inside else rest).append((line, index))
    return _keep(source, block), _keep(source, rest)


def read_aliases(
    block: TextMap,
    *,
    image_aliases: Mapping[str, str],
    read_alias_source: Callable[[str], str] | None,
) -> Aliases:
    """The alias map from the (already rendered) alias block, `alias.src` files and the built-ins."""
    reader = Reader(block)
    root = compose(block, aliases_enabled=True)
    values: dict[str, str] = {}
    where: dict[str, Node] = {}  # where each alias name was defined, for errors
    directive = DEFAULT_DIRECTIVE
    entries: dict[str, Entry] = {}
    if root is not None:
        top = reader.mapping(root, target="alias block", allowed=("alias",), what="alias block")
        if "alias" in top:
            allowed = ("src", "values", "directive")
            entries = reader.mapping(top["alias"].value, target="alias", allowed=allowed, what="alias")
    if "values" in entries:
        _read_values(reader, entries["values"].value, values, where)
    if "src" in entries:
        _read_sources(reader, entries["src"].value, read_alias_source, values, where)
    if "directive" in entries:
        directive = _directive(reader, entries["directive"].value)
    for name in RUN_ALIASES:
        values.setdefault(name, f"{{{{.Run.{name}}}}}")
    for name, image in image_aliases.items():
        if _NAME.match(name):
            values.setdefault(name, image)
    for name, node in where.items():
        if not _NAME.match(name):
            raise reader.error(
                node,
                f"alias name {quote(name)} is not allowed; alias names use only the letters a-z, A-Z "
                "and the digits 0-9",
                target="alias.values",
            )
    return Aliases(values, directive)


def _read_values(reader: Reader, node: Node, values: dict[str, str], where: dict[str, Node]) -> None:
    for name, entry in reader.mapping(node, target="alias.values", allowed=None, what="").items():
        values[name] = reader.string(entry.value, target=f"alias.values.{name}")
        where[name] = entry.key_node


def _read_sources(
    reader: Reader,
    node: Node,
    read_alias_source: Callable[[str], str] | None,
    values: dict[str, str],
    where: dict[str, Node],
) -> None:
    sources = reader.strings(node, target="alias.src", example="[./aliases.yaml]")
    for index in reversed(range(len(sources))):  # acb: the last file listed wins
        path, path_node = sources[index]
        for name, value in _load_source(reader, path_node, path, index, read_alias_source).items():
            if name not in values:
                values[name] = value
                where[name] = path_node


def substitute(text_map: TextMap, aliases: Aliases) -> TextMap:
    """`text_map` with every `$name` replaced (acb's preprocessString), line by line."""
    lines: list[str] = []
    origins: list[tuple[int, LineKind]] = []
    for index, line in enumerate(text_map.lines):
        out = _substitute(line + "\n", aliases.values, aliases.directive)[:-1]
        pieces = split_lines(out)
        kind = LineKind.EXACT if out == line else LineKind.CHANGED if len(pieces) == 1 else LineKind.APPROX
        lines.extend(pieces)
        origins.extend((index, kind) for _ in pieces)
    return text_map.derive(lines, origins)


def expansion_map(aliases: Aliases, run: Mapping[str, str]) -> dict[str, str]:
    """The map for a `cmd`'s first word: the aliases, with the `.Run` built-ins as their values
    (acb would leave `{{.Run.ID}}` unrendered there)."""
    mapping = dict(aliases.values)
    for name in RUN_ALIASES:
        if mapping.get(name) == f"{{{{.Run.{name}}}}}":
            mapping[name] = str(run.get(name, ""))
    return mapping


def expand_image_alias(cmd: str, mapping: Mapping[str, str]) -> str:
    """acb's ExpandCommandAliases for one `cmd`: replace its first word if that word is an alias."""
    first, space, rest = cmd.strip().partition(" ")
    if first in mapping:
        return mapping[first] + space + rest
    return cmd


def _keep(source: TextMap, kept: Sequence[tuple[str, int]]) -> TextMap:
    if not kept:
        return source.derive([""], [(len(source.lines) - 1, LineKind.EXACT)])
    lines = [line for line, _ in kept] + [""]
    origins = [(index, LineKind.EXACT) for _, index in kept] + [(kept[-1][1], LineKind.EXACT)]
    return source.derive(lines, origins)


def _load_source(
    reader: Reader, node: Node, path: str, index: int, read_alias_source: Callable[[str], str] | None
) -> dict[str, str]:
    target = f"alias.src[{index}]"
    if _REMOTE.match(path):
        raise reader.error(
            node,
            f"{target}: remote alias files ({quote(path)}) are not fetched by Slipway; copy the file into "
            "the build context and list its path relative to the context",
            target=target,
        )
    if read_alias_source is None:
        raise reader.error(
            node, f"{target}: alias files can only be read from a build context, and this run has none", target=target
        )
    try:
        content = read_alias_source(path)
    except OSError as error:
        raise reader.error(
            node,
            f"{target}: cannot read {quote(path)} from the build context ({error.strerror or error})",
            target=target,
        ) from None
    except SlipwayError as error:
        raise reader.error(node, f"{target}: cannot read {quote(path)}: {error.message}", target=target) from None
    source = TextMap.of_source(path, content)
    try:
        inner = Reader(source)
        root = compose(source, aliases_enabled=False)
        if root is None:
            return {}
        entries = inner.mapping(root, target="alias file", allowed=None, what="")
        return {name: inner.string(entry.value, target=name) for name, entry in entries.items()}
    except InvalidTaskFile as error:
        raise reader.error(node, f"{target}: {error.message}", target=target) from None


def _directive(reader: Reader, node: Node) -> str:
    directive = reader.string(node, target="alias.directive") or DEFAULT_DIRECTIVE
    if len(directive) != 1:
        raise reader.error(
            node, f"alias.directive must be a single character; found {reader.show(node)}", target="alias.directive"
        )
    if _NAME.match(directive) or directive in "\r\n\x85\u2028\u2029":
        raise reader.error(
            node,
            f"alias.directive {reader.show(node)} cannot be a letter, a digit or a line break; "
            "choose a symbol such as # or %",
            target="alias.directive",
        )
    return directive


def _substitute(text: str, values: Mapping[str, str], directive: str) -> str:
    out: list[str] = []
    name: list[str] = []
    ongoing = False
    for char in text:
        if ongoing:
            if char == directive and not name:  # `$$` escapes the directive
                out.append(directive)
                ongoing = False
            elif not _is_alphanumeric(char):
                key = "".join(name)
                name.clear()
                if key not in values:
                    out.append(directive + key + char)
                    ongoing = False
                else:
                    out.append(values[key])
                    if char != directive:  # `$a$b`: the next alias starts right away
                        out.append(char)
                        ongoing = False
            else:
                name.append(char)
        elif char == directive:
            ongoing = True
        else:
            out.append(char)
    return "".join(out)


def _is_alphanumeric(char: str) -> bool:
    return "a" <= char <= "z" or "A" <= char <= "Z" or "0" <= char <= "9"
