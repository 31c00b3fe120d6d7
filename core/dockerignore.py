"""`.dockerignore` rules, matched exactly as Docker matches them.

This is a port of moby/patternmatcher (used by the docker CLI and BuildKit) plus the docker CLI's
context handling around it:

- *Reading* follows `ignorefile.ReadAll`: a UTF-8 BOM is dropped, a line whose first character is
  `#` is a comment, lines are trimmed, each pattern is cleaned like Go's `filepath.Clean` and a
  leading `/` is dropped; `!` marks an exception.
- *Matching* follows `PatternMatcher.MatchesOrParentMatches`: `*` and `?` stay inside one path
  element, `**` spans any number of them, `[...]` classes and `\\` escapes work as in Go, and a path
  is excluded when it or one of its parent directories matches; the last matching pattern wins.
- *Walking* follows BuildKit's fsutil: an excluded directory is still descended into when an
  exception could match something inside it (`can_prune_dir` says when it cannot).
- The Dockerfile and `.dockerignore` are always sent (docker/cli `TrimBuildFilesFromExcludes`), and
  `<Dockerfile>.dockerignore` next to the Dockerfile replaces `.dockerignore` (BuildKit dockerui).
- VCS folders at the context root (`.git`, `.hg`, `.svn`, `.bzr`) are excluded by default, as
  `az acr build` does, but an exception such as `!.git` brings them back.
"""

from __future__ import annotations

import enum
import posixpath
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InvalidContext

DOCKERIGNORE = ".dockerignore"
VCS_DIRECTORIES = (".git", ".hg", ".svn", ".bzr")

_UTF8_BOM = "\ufeff"
# Characters that are special in a regexp but literal in a Go filepath pattern (patternmatcher's
# `shouldEscape`); `[`, `]`, `*`, `?` and `\` keep their pattern meaning.
_REGEX_LITERALS = frozenset(".+()|{}$")
# A segment made only of these can be matched one path element at a time (see `_could_match_below`).
_SIMPLE_SEGMENT = re.compile(r"[^\[\\]*")


class _Kind(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEXP = "regexp"


@dataclass(frozen=True)
class IgnorePattern:
    """One cleaned pattern; `origin` says where it came from (`.dockerignore:3`, `default`)."""

    text: str
    exception: bool
    origin: str
    kind: _Kind = field(repr=False, compare=False)
    regex: re.Pattern[str] | None = field(repr=False, compare=False)

    def matches(self, path: str) -> bool:
        """Whether this pattern matches `path` itself (no parent-directory matching)."""
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix[0] == "/" and path == suffix[1:]
        return self.regex is not None and self.regex.fullmatch(path) is not None


@dataclass(frozen=True)
class MatchState:
    """Match results for one path, handed to its children so each pattern is tried once per path.

    `matched[i]` is true when pattern `i` matches the path or one of its parents.
    """

    excluded: bool
    matched: tuple[bool, ...]


@dataclass(frozen=True)
class IgnoreRules:
    """The patterns in force for one context, plus the files Docker always sends.

    Example: `rules.is_excluded("node_modules/x.js")`.
    """

    patterns: tuple[IgnorePattern, ...]
    always_included: frozenset[str] = frozenset()
    ignore_file: str | None = None

    def match(self, rel_path: str, parent: MatchState | None = None) -> MatchState:
        """Match `rel_path` (slash-separated, relative to the context root) given its parent's state."""
        if parent is None and "/" in rel_path:
            parent = self.match(rel_path.rsplit("/", 1)[0])
        previous = parent.matched if parent is not None else (False,) * len(self.patterns)
        matched = tuple(was or pattern.matches(rel_path) for was, pattern in zip(previous, self.patterns, strict=True))
        excluded = False
        for hit, pattern in zip(reversed(matched), reversed(self.patterns), strict=True):
            if hit:
                excluded = not pattern.exception
                break
        if rel_path in self.always_included:
            excluded = False
        return MatchState(excluded=excluded, matched=matched)

    def is_excluded(self, rel_path: str, is_dir: bool = False) -> bool:
        """Whether Docker leaves `rel_path` out of the context.

        `is_dir` is accepted for callers' convenience only: Docker patterns match files and
        directories alike (a trailing `/` in a pattern is cleaned away).
        """
        del is_dir
        path = _clean(rel_path)
        if path == ".":
            return False
        return self.match(path).excluded

    def can_prune_dir(self, rel_dir: str, state: MatchState | None = None) -> bool:
        """Whether nothing inside the excluded directory `rel_dir` can be included again.

        False when the directory is not excluded, when it holds a file Docker always sends, or when
        a later exception could match a path inside it (fsutil's "exclusion exceptions").
        """
        rel_dir = _clean(rel_dir)
        if state is None:
            state = self.match(rel_dir)
        if not state.excluded:
            return False
        prefix = rel_dir + "/"
        if any(path.startswith(prefix) for path in self.always_included):
            return False
        last = max(i for i, hit in enumerate(state.matched) if hit)
        segments = rel_dir.split("/")
        return not any(
            pattern.exception and _could_match_below(pattern.text, segments) for pattern in self.patterns[last + 1 :]
        )


def read_ignore_lines(text: str) -> list[tuple[int, str]]:
    """Parse `.dockerignore` text into `(line number, pattern)` pairs, like `ignorefile.ReadAll`."""
    if text.startswith(_UTF8_BOM):
        text = text[1:]
    patterns: list[tuple[int, str]] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        patterns.append((number, "!" + pattern if invert else pattern))
    return patterns


def compile_pattern(raw: str, origin: str) -> IgnorePattern | None:
    """Compile one pattern as `patternmatcher.New` does; None for a blank one.

    Raises `InvalidContext` naming `origin` for `!` alone or a malformed pattern.
    """
    text = raw.strip()
    if not text:
        return None
    text = _clean(text)
    exception = text[0] == "!"
    if exception:
        if len(text) == 1:
            raise InvalidContext(
                f"{origin}: the pattern '!' has nothing to re-include; write the path after '!', e.g. '!src'",
                target=origin,
            )
        text = text[1:]
    problem = _glob_syntax_error(text)
    kind, regex_source = _translate(text)
    regex: re.Pattern[str] | None = None
    if problem is None and kind is _Kind.REGEXP:
        try:
            with warnings.catch_warnings():
                # Python warns about `[[` ("possible nested set"); Go reads it as a plain class.
                warnings.simplefilter("ignore", FutureWarning)
                regex = re.compile(regex_source)
        except re.error as error:
            problem = str(error)
    if problem is not None:
        raise InvalidContext(
            f"{origin}: the pattern '{raw.strip()}' is malformed ({problem}); "
            "fix it or escape special characters with '\\'",
            target=origin,
        )
    return IgnorePattern(text=text, exception=exception, origin=origin, kind=kind, regex=regex)


def compile_patterns(patterns: Sequence[str], origin: str = "pattern") -> tuple[IgnorePattern, ...]:
    """Compile a list of patterns (like `patternmatcher.New`); origins are `origin[index]`."""
    compiled = (compile_pattern(p, f"{origin}[{i}]") for i, p in enumerate(patterns))
    return tuple(p for p in compiled if p is not None)


def matches_or_parent_matches(path: str, patterns: Sequence[str]) -> bool:
    """Docker's `patternmatcher.MatchesOrParentMatches(path, patterns)`.

    Example: `matches_or_parent_matches("docs/README.md", ["docs", "!docs/README.md"])` is False.
    """
    compiled = compile_patterns(patterns)
    path = _clean(path)
    if path == ".":
        return False
    return IgnoreRules(patterns=compiled).match(path).excluded


def rules_from_text(
    text: str | None,
    *,
    dockerfile: str | None = "Dockerfile",
    source: str = DOCKERIGNORE,
    extra_always_included: Sequence[str] = (),
) -> IgnoreRules:
    """Build the rules for a context from the ignore file's text (None when there is none).

    `dockerfile` is the Dockerfile's path relative to the context root, or None when it lies
    outside the context; it and `.dockerignore` are always sent.
    """
    patterns = [
        pattern
        for name in VCS_DIRECTORIES
        if (pattern := compile_pattern(name, f"default VCS exclusion '{name}'")) is not None
    ]
    for number, raw in read_ignore_lines(text or ""):
        pattern = compile_pattern(raw, f"{source}:{number}")
        if pattern is not None:
            patterns.append(pattern)
    always = {DOCKERIGNORE, *(_clean(p) for p in extra_always_included)}
    if dockerfile is not None:
        always.add(_clean(dockerfile))
    return IgnoreRules(
        patterns=tuple(patterns),
        always_included=frozenset(always),
        ignore_file=source if text is not None else None,
    )


def load_ignore_rules(context_root: Path, dockerfile: str = "Dockerfile") -> IgnoreRules:
    """Read the ignore file that applies to `dockerfile` and build the context's rules.

    `dockerfile` is relative to `context_root` (or absolute). A file named after the Dockerfile
    plus `.dockerignore`, next to it, takes precedence over the root `.dockerignore`, as in
    BuildKit; when it lies inside the context it is always sent too.
    """
    root = Path(posixpath.normpath(str(context_root.absolute())))
    dockerfile_path = Path(posixpath.normpath(str(root / dockerfile)))
    specific = dockerfile_path.with_name(dockerfile_path.name + DOCKERIGNORE)
    rel_dockerfile = _relative_inside(dockerfile_path, root)
    extra: list[str] = []
    if specific.is_file():
        chosen = specific
        rel_specific = _relative_inside(specific, root)
        if rel_specific is not None:
            extra.append(rel_specific)
        source = rel_specific if rel_specific is not None else str(specific)
    else:
        chosen = root / DOCKERIGNORE
        source = DOCKERIGNORE
    text: str | None = None
    if chosen.is_file():
        try:
            text = chosen.read_bytes().decode("utf-8", errors="surrogateescape")
        except OSError as error:
            raise InvalidContext(
                f"cannot read ignore file '{chosen}': {error.strerror}; fix its permissions or remove it",
                target=source,
            ) from error
    return rules_from_text(text, dockerfile=rel_dockerfile, source=source, extra_always_included=extra)


def _relative_inside(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix()


def _clean(path: str) -> str:
    """Go's `filepath.Clean` for slash-separated paths."""
    if path.startswith("/"):
        # posixpath keeps a leading '//' (POSIX allows it to mean something); Go does not.
        path = "/" + path.lstrip("/")
    return posixpath.normpath(path) if path else "."


def _translate(text: str) -> tuple[_Kind, str]:
    """patternmatcher's `Pattern.compile`: the match kind and, for REGEXP, the regexp source."""
    parts: list[str] = []
    kind = _Kind.EXACT
    pos, end, first = 0, len(text), True
    while pos < end:
        ch = text[pos]
        pos += 1
        if ch == "*" and pos < end and text[pos] == "*":
            pos += 2 if text[pos + 1 : pos + 2] == "/" else 1
            kind = _double_star(parts, kind, at_end=pos >= end)
            if first:
                kind = _Kind.SUFFIX
        elif ch == "*":
            parts.append("[^/]*")
            kind = _Kind.REGEXP
        elif ch == "?":
            parts.append("[^/]")
            kind = _Kind.REGEXP
        elif ch in _REGEX_LITERALS:
            parts.append("\\" + ch)
        elif ch == "\\":
            if pos < end:
                parts.append("\\" + text[pos])
                pos += 1
                kind = _Kind.REGEXP
            else:
                parts.append("\\\\")
        elif ch in "[]":
            parts.append(ch)
            kind = _Kind.REGEXP
        else:
            parts.append(ch)
        first = False
    return kind, "".join(parts)


def _double_star(parts: list[str], kind: _Kind, *, at_end: bool) -> _Kind:
    """Translate one `**` (a following `/` already eaten) and return the new match kind."""
    if not at_end:
        # any number of directories, including none
        parts.append("(.*/)?")
        return _Kind.REGEXP
    # "**" at the end accepts everything, as in .gitignore
    if kind is _Kind.EXACT:
        return _Kind.PREFIX
    parts.append(".*")
    return _Kind.REGEXP


def _glob_syntax_error(pattern: str) -> str | None:
    """The error Go's `filepath.Match` reports for a malformed pattern, or None."""
    pos, end = 0, len(pattern)
    while pos < end:
        ch = pattern[pos]
        if ch == "\\":
            if pos + 1 >= end:
                return "trailing '\\'"
            pos += 2
        elif ch == "[":
            pos += 1
            if pos < end and pattern[pos] == "^":
                pos += 1
            ranges = 0
            while True:
                if pos < end and pattern[pos] == "]" and ranges > 0:
                    pos += 1
                    break
                pos = _class_char_end(pattern, pos)
                if pos < 0:
                    return "unterminated or empty '[...]' class"
                if pattern[pos] == "-":
                    pos = _class_char_end(pattern, pos + 1)
                    if pos < 0:
                        return "bad range in '[...]' class"
                ranges += 1
        else:
            pos += 1
    return None


def _class_char_end(pattern: str, pos: int) -> int:
    """Go's `getEsc`: the index after one class character, or -1 when the pattern is malformed."""
    end = len(pattern)
    if pos >= end or pattern[pos] in "-]":
        return -1
    if pattern[pos] == "\\":
        pos += 1
        if pos >= end:
            return -1
    pos += 1
    return pos if pos < end else -1


def _could_match_below(pattern: str, dir_segments: list[str]) -> bool:
    """Whether `pattern` could match some path strictly inside the directory `dir_segments`.

    Exact for patterns made of literal characters, `*` and `?`; anything with `**`, a class or an
    escape is assumed to match (which only costs a walk, never correctness).
    """
    segments = pattern.split("/")
    for index, dir_segment in enumerate(dir_segments):
        if index >= len(segments):
            # the pattern ends at or above this directory, so it never matches below it
            return False
        segment = segments[index]
        if "**" in segment or not _SIMPLE_SEGMENT.fullmatch(segment):
            return True
        if not _segment_regex(segment).fullmatch(dir_segment):
            return False
    return len(segments) > len(dir_segments)


def _segment_regex(segment: str) -> re.Pattern[str]:
    source = "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in segment)
    return re.compile(source)
