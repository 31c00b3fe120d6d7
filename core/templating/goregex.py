"""Go's RE2 regular expressions on top of Python's `re`.

Sprig's regex functions use Go's `regexp` package. Patterns are translated so that the two agree:
`$` means end of text unless `(?m)` is set, `\\z` is `\\Z`, `\\s` excludes `\\v`, `\\d`/`\\w`/`\\b` are
ASCII, `(?<name>...)` and `[[:alpha:]]` are accepted, `\\Q...\\E` quotes. Syntax RE2 rejects
(lookaround, backreferences, possessive quantifiers, repeat counts above 1000) is rejected here too.
Replacement strings use Go's `$1`, `${name}` and `$$`, and empty matches right after a match are
skipped as in Go. Not reproduced: RE2's linear-time guarantee (Python backtracks), Unicode classes
such as `\\pL`, and Unicode case folding under `(?i)`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from functools import lru_cache

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_SPACE = "\\t\\n\\f\\r "
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")


class RegexError(ValueError):
    """A pattern Go's regexp would refuse; the message follows Go's `error parsing regexp: ...`."""


def _fail(what: str, where: str) -> RegexError:
    return RegexError(f"error parsing regexp: {what}: `{where}`")


def _translate_class(pattern: str, i: int, out: list[str]) -> int:
    """Copy a [...] class starting at pattern[i]; returns the index after its closing bracket."""
    out.append("[")
    i += 1
    if pattern[i : i + 1] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]" and not first:
            out.append("]")
            return i + 1
        first = False
        if pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            name = pattern[i + 2 : close] if close > 0 else ""
            negated = name.startswith("^")
            if name.lstrip("^") not in _POSIX:
                raise _fail("invalid character class range", pattern[i : close + 2 if close > 0 else len(pattern)])
            if negated:
                raise _fail("negated POSIX class inside a class is not supported", pattern[i : close + 2])
            out.append(_POSIX[name])
            i = close + 2
            continue
        if ch == "\\":
            esc = pattern[i + 1 : i + 2]
            if esc == "s":
                out.append(_SPACE)
            elif esc in ("p", "P"):
                raise _fail("Unicode classes are not supported in Slipway", pattern[i : i + 3])
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        # Escape what Python would read as nested sets or set operations.
        out.append("\\" + ch if ch in "[&~|" or (ch == "-" and pattern[i + 1 : i + 2] == "-") else ch)
        i += 1
    raise _fail("missing closing ]", pattern[i - 1 :])


def _translate_group(pattern: str, i: int, out: list[str], multiline: list[bool]) -> int:
    rest = pattern[i:]
    for bad in ("(?=", "(?!", "(?<=", "(?<!", "(?#", "(?P=", "(?(", "(?>"):
        if rest.startswith(bad):
            raise _fail("invalid or unsupported Perl syntax", bad)
    if rest.startswith("(?<"):
        out.append("(?P<")
        return i + 3
    flags = re.match(r"\(\?([a-zA-Z-]*)([:)])", rest)
    if flags:
        letters = flags.group(1)
        if any(c not in "imsU-" for c in letters) or "U" in letters:
            raise _fail("invalid or unsupported Perl syntax", flags.group(0))
        if "m" in letters.split("-")[0] and flags.group(2) == ")":
            multiline[0] = True
        out.append(flags.group(0))
        return i + len(flags.group(0))
    out.append("(")
    return i + 1


def _after_quantifier(pattern: str, i: int, out: list[str]) -> int:
    """Copy a lazy marker after a quantifier; refuse a second quantifier, as RE2 does."""
    if pattern[i : i + 1] == "?":
        out.append("?")
        i += 1
    if (pattern[i : i + 1] in ("*", "+", "?") and pattern[i : i + 1] != "") or _REPEAT.match(pattern, i):
        raise _fail("invalid nested repetition operator", pattern[max(i - 1, 0) : i + 1])
    return i


def translate(pattern: str) -> str:  # noqa: PLR0912
    """A Python pattern that matches what the Go pattern matches."""
    out: list[str] = []
    multiline = [False]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            esc = pattern[i + 1 : i + 2]
            if esc == "":
                raise _fail("trailing backslash at end of expression", "")
            if esc == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = len(pattern) if end < 0 else end + 2
                continue
            if esc == "z":
                out.append("\\Z")
            elif esc == "s":
                out.append(f"[{_SPACE}]")
            elif esc == "S":
                out.append(f"[^{_SPACE}]")
            elif esc in "pP":
                raise _fail("Unicode classes are not supported in Slipway", pattern[i : i + 2])
            elif esc in "123456789Z":
                raise _fail("invalid escape sequence", pattern[i : i + 2])
            else:
                out.append(pattern[i : i + 2])
            i += 2
        elif ch == "[":
            i = _translate_class(pattern, i, out)
        elif ch == "(" and pattern.startswith("(?", i):
            i = _translate_group(pattern, i, out, multiline)
        elif ch == "$" and not multiline[0]:
            out.append("\\Z")
            i += 1
        elif ch in "*+?":
            out.append(ch)
            i = _after_quantifier(pattern, i + 1, out)
        elif ch == "{" and (repeat := _REPEAT.match(pattern, i)):
            if any(n and int(n) > 1000 for n in (repeat.group(1), repeat.group(3))):
                raise _fail("invalid repeat count", repeat.group(0))
            out.append(repeat.group(0))
            i = _after_quantifier(pattern, repeat.end(), out)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regular expression, or raise RegexError with Go's wording."""
    translated = translate(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(translated, re.ASCII)
    except re.error as error:
        raise RegexError(f"error parsing regexp: {error.msg}: `{pattern}`") from None
    except (OverflowError, RecursionError):
        raise RegexError(f"error parsing regexp: expression too large: `{pattern}`") from None


def all_matches(regex: re.Pattern[str], text: str, limit: int) -> list[re.Match[str]]:
    """Go's allMatches: successive matches; an empty match right after a match is skipped."""
    if limit < 0:
        limit = len(text) + 1
    found: list[re.Match[str]] = []
    pos, previous_end = 0, -1
    while len(found) < limit and pos <= len(text):
        match = regex.search(text, pos)
        if match is None:
            break
        accept = True
        if match.end() == pos:
            if match.start() == previous_end:
                accept = False
            pos += 1
        else:
            pos = match.end()
        previous_end = match.end()
        if accept:
            found.append(match)
    return found


def expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`; `$$` is a dollar sign."""
    out: list[str] = []
    i = 0
    while i < len(template):
        dollar = template.find("$", i)
        if dollar < 0:
            out.append(template[i:])
            break
        out.append(template[i:dollar])
        i = dollar + 1
        if template[i : i + 1] == "$":
            out.append("$")
            i += 1
            continue
        named = re.match(r"\{(\w+)\}|(\w+)", template[i:])
        if named is None:
            out.append("$")
            continue
        name = named.group(1) or named.group(2)
        i += len(named.group(0))
        if name.isdigit() and not (name.startswith("0") and len(name) > 1):
            number = int(name)
            if number <= (match.re.groups or 0):
                out.append(match.group(number) or "")
        elif name in match.re.groupindex:
            out.append(match.group(name) or "")
    return "".join(out)


def replace_all(regex: re.Pattern[str], text: str, replacement: Callable[[re.Match[str]], str]) -> str:
    """Go's ReplaceAllString loop: no replacement for an empty match right after a match."""
    out: list[str] = []
    last_end, pos = 0, 0
    while pos <= len(text):
        match = regex.search(text, pos)
        if match is None:
            break
        out.append(text[last_end : match.start()])
        if match.end() > last_end or match.start() == 0:
            out.append(replacement(match))
        last_end = match.end()
        pos = pos + 1 if pos + 1 > match.end() else match.end()
    out.append(text[last_end:])
    return "".join(out)


def split(regex: re.Pattern[str], text: str, limit: int) -> list[str]:
    """Go's Regexp.Split."""
    if limit == 0:
        return []
    if regex.pattern and not text:
        return [""]
    parts: list[str] = []
    begin = end = 0
    for match in all_matches(regex, text, limit):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return parts
