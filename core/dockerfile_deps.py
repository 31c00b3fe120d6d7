"""The Dockerfile dependency scan (ACR's `acb scan`) and the dependency report built from it.

As Azure/acr-builder `scan/dependencies.go` does, only `FROM` and `ARG` instructions are read:
`ARG` defaults declared before the first `FROM` and `--build-arg` values are expanded into each
`FROM`, `FROM <stage>` chains are followed back to a real image, and scanning stops at `--target`.
The origin of the last (or target) stage is the *runtime* dependency; every other distinct origin is
a *build-time* dependency; `scratch` is no dependency at all.

Lines are split as BuildKit's parser splits them (`# escape=` directive, line continuations,
comments inside continuations, a UTF-8 BOM, heredocs of `RUN`/`COPY`/`ADD`), and words are expanded
with the shell rules of BuildKit's `shlex` for quotes, escapes and `$VAR`, `${VAR}`,
`${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`.

Image references are normalised like ACR's `NewImageReference`: Docker Hub names get registry
`registry.hub.docker.com` and `library/` for official images, and `:latest` is added when a
reference has neither tag nor digest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from core.errors import InvalidDockerfile, InvalidRequest

DOCKER_HUB_REGISTRY = "registry.hub.docker.com"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_REGISTRY})
SCRATCH = "scratch"

_BOM = "\ufeff"
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*")
_KNOWN_DIRECTIVES = frozenset({"escape", "syntax", "check"})
_HEREDOC_WORD = re.compile(r"\d*<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_VAR_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")

_ALNUM = r"[a-z0-9]+"
_PATH = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*(?:/{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_REPOSITORY = re.compile(_PATH)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


@dataclass(frozen=True)
class ImageReference:
    """A normalised image reference; `reference` is the text as written (after expansion).

    As in acb's Go struct, an absent tag or digest is the empty string.
    """

    registry: str
    repository: str
    tag: str
    digest: str
    reference: str

    def with_digest(self, digest: str) -> ImageReference:
        """The same reference with the digest the registry reported."""
        return replace(self, digest=digest)

    def to_report(self) -> dict[str, str]:
        """ACR's `image.Reference` JSON: `tag` omitted when empty, `digest` always present."""
        report = {"registry": self.registry, "repository": self.repository}
        if self.tag:
            report["tag"] = self.tag
        report["digest"] = self.digest
        report["reference"] = self.reference
        return report

    @property
    def _identity(self) -> tuple[str, str, str, str]:
        return (self.registry, self.repository, self.tag, self.digest)


@dataclass(frozen=True)
class DockerfileDependencies:
    """The base images a build needs: `runtime` is None when the final stage is `scratch`."""

    runtime: ImageReference | None
    buildtime: tuple[ImageReference, ...]


class _BadReference(ValueError):
    pass


def parse_image_reference(text: str) -> ImageReference:
    """Normalise an image reference like ACR does, e.g. `node` → registry.hub.docker.com/library/node:latest.

    Raises `InvalidRequest` when `text` is not a valid reference.
    """
    try:
        return _parse_reference(text)
    except _BadReference as error:
        raise InvalidRequest(
            f"image reference '{text}' is not valid: {error}; use [registry/]repository[:tag][@digest]",
            target=text,
        ) from error


def scan_dependencies(
    content: str | bytes,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    source: str = "Dockerfile",
) -> DockerfileDependencies:
    """Find the runtime and build-time base images of a Dockerfile.

    Example: `scan_dependencies("FROM golang AS b\\nFROM alpine\\n").runtime.repository == "library/alpine"`.
    `source` names the file in error messages (`Dockerfile:3: ...`).
    """
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    escape, instructions = _read_instructions(text, source)
    build_args = dict(build_args or {})
    env: dict[str, str] = dict(build_args)
    stage_origins: dict[str, ImageReference | None] = {}
    stage_names: list[str] = []
    origins: list[ImageReference] = []
    origin: ImageReference | None = None
    seen_from = reached_target = False
    wanted = target.lower() if target else None
    for line, keyword, rest in instructions:
        where = f"{source}:{line}"
        if keyword == "ARG" and not seen_from:
            _declare_args(rest, env, build_args, escape, where)
        elif keyword == "FROM":
            seen_from = True
            image_word, stage = _split_from(rest, where)
            image = _expand(image_word, env, escape, where)
            if not image:
                raise InvalidDockerfile(
                    f"{where}: FROM {image_word} names no image once variables are expanded; "
                    "define the variable with ARG before the first FROM or pass it with --build-arg",
                    target=where,
                )
            if image.lower() in stage_origins:
                origin = stage_origins[image.lower()]
            else:
                origin = _base_image(image, where)
                if origin is not None and all(origin._identity != o._identity for o in origins):
                    origins.append(origin)
            if stage is not None:
                stage_origins[stage] = origin
                stage_names.append(stage)
            if wanted is not None and stage == wanted:
                reached_target = True
                break
    if not seen_from:
        raise InvalidDockerfile(
            f"{source}: no FROM instruction found; a Dockerfile must start its first stage with FROM <image>",
            target=source,
        )
    if wanted is not None and not reached_target:
        known = ", ".join(f"'{name}'" for name in stage_names) or "none (no FROM ... AS <name>)"
        raise InvalidDockerfile(
            f"{source}: target stage '{target}' is not defined; the stages are: {known}",
            target=source,
        )
    buildtime = tuple(o for o in origins if origin is None or o._identity != origin._identity)
    return DockerfileDependencies(runtime=origin, buildtime=buildtime)


def render_dependency_report(
    images: Sequence[ImageReference],
    dependencies: DockerfileDependencies,
    *,
    git_head_revision: str | None = None,
) -> list[dict[str, object]]:
    """ACR's dependency report: one entry per output image (one entry with `image: null` if none).

    Digests come from the references given; `json.dumps` of the result matches acb's output.
    """
    entries: list[dict[str, object]] = []
    outputs: list[ImageReference | None] = [*images] or [None]
    for image in outputs:
        entry: dict[str, object] = {
            "image": image.to_report() if image is not None else None,
            "runtime-dependency": (dependencies.runtime.to_report() if dependencies.runtime is not None else None),
            # Go marshals an empty slice that was never appended to as null.
            "buildtime-dependency": [d.to_report() for d in dependencies.buildtime] or None,
        }
        if git_head_revision:
            entry["git"] = {"git-head-revision": git_head_revision}
        entries.append(entry)
    return entries


def _base_image(image: str, where: str) -> ImageReference | None:
    """The image a FROM names (not a stage); None for `scratch`."""
    if image == SCRATCH:
        return None
    try:
        return _parse_reference(image)
    except _BadReference as error:
        raise InvalidDockerfile(
            f"{where}: FROM '{image}' is not a valid image reference ({error}); "
            "use [registry/]repository[:tag][@digest] or the name of an earlier stage",
            target=where,
        ) from error


def _parse_reference(text: str) -> ImageReference:
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise _BadReference(f"digest '{digest}' is not algorithm:hex")
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _BadReference(f"tag '{tag}' has characters other than letters, digits, '_', '.', '-'")
    if not name:
        raise _BadReference("the repository name is empty")
    if len(name) > 255:
        raise _BadReference("the repository name is longer than 255 characters")
    first, slash, rest = name.partition("/")
    is_domain = slash and ("." in first or ":" in first or first == "localhost" or first != first.lower())
    domain, path = (first, rest) if is_domain else (None, name)
    if domain is not None and not _DOMAIN.fullmatch(domain):
        raise _BadReference(f"registry '{domain}' is not a host[:port]")
    if path != path.lower():
        raise _BadReference("the repository name must be lowercase")
    if not _REPOSITORY.fullmatch(path):
        raise _BadReference(f"repository '{path}' has an invalid path component")
    if domain is None or domain.lower() in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB_REGISTRY
        repository = path if "/" in path else f"library/{path}"
    else:
        registry, repository = domain, path
    if not tag and not digest:
        tag, text = "latest", f"{text}:latest"
    return ImageReference(registry, repository, tag, digest, text)


def _read_instructions(text: str, source: str) -> tuple[str, list[tuple[int, str, str]]]:
    """Split a Dockerfile into `(line, KEYWORD, arguments)` like BuildKit's parser; also the escape."""
    lines = [line.rstrip("\r") for line in text.removeprefix(_BOM).split("\n")]
    escape = "\\"
    seen: set[str] = set()
    in_directives = True
    continuation = _continuation_regex(escape)
    instructions: list[tuple[int, str, str]] = []
    index = 0
    while index < len(lines):
        number, stripped = index + 1, lines[index].lstrip()
        index += 1
        if in_directives:
            match = _DIRECTIVE.fullmatch(stripped)
            if match and match.group(1).lower() in _KNOWN_DIRECTIVES:
                name, value = match.group(1).lower(), match.group(2)
                where = f"{source}:{number}"
                if name in seen:
                    raise InvalidDockerfile(f"{where}: the {name} directive is given twice; keep one", target=where)
                seen.add(name)
                if name == "escape":
                    if value not in ("\\", "`"):
                        raise InvalidDockerfile(
                            f"{where}: escape directive '{value}' is not valid; use ` or \\", target=where
                        )
                    escape, continuation = value, _continuation_regex(value)
                continue
            in_directives = False
        if not stripped or stripped.startswith("#"):
            continue
        line, ended = _trim_continuation(stripped, continuation)
        while not ended and index < len(lines):
            raw = lines[index]
            index += 1
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            part, ended = _trim_continuation(raw, continuation)
            line += part
        keyword, *arguments = line.split(None, 1)
        keyword, rest = keyword.upper(), arguments[0].strip() if arguments else ""
        if keyword in ("RUN", "COPY", "ADD"):
            index = _skip_heredocs(rest, lines, index)
        instructions.append((number, keyword, rest))
    return escape, instructions


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _trim_continuation(line: str, continuation: re.Pattern[str]) -> tuple[str, bool]:
    if continuation.search(line):
        return continuation.sub(r"\1", line), False
    return line, True


def _skip_heredocs(arguments: str, lines: list[str], index: int) -> int:
    """The line index after the bodies of any heredocs opened by `arguments` (unchanged if unclosed)."""
    for word in arguments.split():
        match = _HEREDOC_WORD.fullmatch(word)
        if match is None:
            continue
        strip_tabs, terminator = match.group(1) == "-", match.group(3)
        end = index
        while end < len(lines) and (lines[end].lstrip("\t") if strip_tabs else lines[end]) != terminator:
            end += 1
        if end == len(lines):
            return index
        index = end + 1
    return index


def _split_from(arguments: str, where: str) -> tuple[str, str | None]:
    """The image word and the lower-cased stage name of a FROM; flags such as --platform are skipped."""
    words = arguments.split()
    while words and words[0].startswith("--"):
        if words.pop(0) == "--":
            break
    if not words:
        raise InvalidDockerfile(f"{where}: FROM has no image; write FROM <image> [AS <name>]", target=where)
    if len(words) == 1:
        return words[0], None
    if len(words) != 3 or words[1].lower() != "as":
        raise InvalidDockerfile(
            f"{where}: FROM takes one image and an optional 'AS <name>', got '{arguments}'; "
            "write FROM [--platform=<platform>] <image> [AS <name>]",
            target=where,
        )
    stage = words[2].lower()
    if not _STAGE_NAME.fullmatch(stage):
        raise InvalidDockerfile(
            f"{where}: stage name '{words[2]}' is not valid; it must start with a letter and contain "
            "only letters, digits, '-', '_' and '.'",
            target=where,
        )
    return words[0], stage


def _declare_args(arguments: str, env: dict[str, str], build_args: Mapping[str, str], escape: str, where: str) -> None:
    """Apply one global `ARG a=1 b` line: a --build-arg value wins over the default."""
    words = _split_words(arguments, escape)
    if not words:
        raise InvalidDockerfile(f"{where}: ARG needs a name, e.g. ARG VERSION=1.0", target=where)
    for word in words:
        name, has_default, default = word.partition("=")
        if not name:
            raise InvalidDockerfile(f"{where}: ARG '{word}' has no name before '='", target=where)
        if name in build_args:
            env[name] = build_args[name]
        elif has_default:
            env[name] = _expand(default, env, escape, where)


def _split_words(text: str, escape: str) -> list[str]:
    """BuildKit's `parseWords`: split on whitespace outside quotes, keeping quotes and escapes."""
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == escape and pos + 1 < len(text) and quote != "'":
            current.append(text[pos : pos + 2])
            pos += 2
            continue
        if quote is None and ch.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            if quote is None and ch in "'\"":
                quote = ch
            elif ch == quote:
                quote = None
            current.append(ch)
        pos += 1
    if current:
        words.append("".join(current))
    return words


def _expand(word: str, env: Mapping[str, str], escape: str, where: str) -> str:
    """Expand quotes, escapes and variables in one word, as BuildKit's `shlex.ProcessWord`."""
    value, _ = _Expander(word, env, escape, where).run(stop=None)
    return value


class _Expander:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, where: str) -> None:
        self.text, self.env, self.escape, self.where = text, env, escape, where
        self.pos = 0

    def fail(self, message: str) -> InvalidDockerfile:
        return InvalidDockerfile(f"{self.where}: {message}", target=self.where)

    def run(self, stop: str | None) -> tuple[str, bool]:
        """Process until `stop` (consumed) or the end; returns the text and whether `stop` was met."""
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if stop is not None and ch == stop:
                self.pos += 1
                return "".join(out), True
            self.pos += 1
            if ch == self.escape:
                if self.pos < len(text):
                    out.append(text[self.pos])
                    self.pos += 1
            elif ch == "'":
                end = text.find("'", self.pos)
                if end < 0:
                    raise self.fail(f"unterminated single quote in '{text}'; close it with '")
                out.append(text[self.pos : end])
                self.pos = end + 1
            elif ch == '"':
                out.append(self.double_quoted())
            elif ch == "$":
                out.append(self.dollar())
            else:
                out.append(ch)
        return "".join(out), False

    def double_quoted(self) -> str:
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch == self.escape and self.pos < len(text) and text[self.pos] in ('"', "$", self.escape):
                out.append(text[self.pos])
                self.pos += 1
            elif ch == "$":
                out.append(self.dollar())
            else:
                out.append(ch)
        raise self.fail(f"unterminated double quote in '{text}'; close it with \"")

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and _VAR_NAME_CHAR.match(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def dollar(self) -> str:
        text = self.text
        if self.pos >= len(text):
            return "$"
        if text[self.pos] != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        start = self.pos - 1
        self.pos += 1
        name = self.name()
        if self.pos >= len(text):
            raise self.fail(f"unterminated variable '{text[start:]}'; close it with '}}'")
        if not name:
            raise self.fail(f"bad substitution '{text[start:]}': a variable name must follow '${{'")
        modifier = text[self.pos]
        self.pos += 1
        if modifier == "}":
            return self.env.get(name, "")
        if modifier == ":" and self.pos < len(text):
            modifier += text[self.pos]
            self.pos += 1
        if modifier not in (":-", "-", ":+", "+", ":?", "?"):
            raise self.fail(
                f"'{text[start:]}' uses an unsupported modifier '{modifier}'; "
                "use ${VAR}, ${VAR:-default}, ${VAR:+alt} or ${VAR:?message}"
            )
        word, closed = self.run(stop="}")
        if not closed:
            raise self.fail(f"unterminated variable '{text[start:]}'; close it with '}}'")
        value = self.env.get(name)
        present = value is not None and (value != "" or ":" not in modifier)
        if modifier.endswith("-"):
            return value if present and value is not None else word
        if modifier.endswith("+"):
            return word if present else ""
        if not present:
            raise self.fail(f"variable {name} is required: {word or 'it is not set'}")
        return value or ""
