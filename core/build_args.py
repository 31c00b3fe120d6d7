"""The `docker build` argument string of an ACR `build` step, parsed into what the engine needs.

acb runs `docker build <args>` with the step's working directory as the current directory. Slipway
calls the engine's build API instead, so the arguments are parsed here: the context and `-f` are
resolved against the working directory and must stay inside `/workspace`.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

WORKSPACE = "/workspace"

# Options that take a value, by every name docker accepts for them.
_VALUE_OPTIONS = {
    "-t": "tag",
    "--tag": "tag",
    "-f": "file",
    "--file": "file",
    "--build-arg": "build_arg",
    "--target": "target",
    "--platform": "platform",
    "--label": "label",
    "--network": "network",
    "--isolation": "isolation",
    "--cache-from": "cache_from",
    "--cpu-shares": "ignored",
    "--memory": "ignored",
    "-m": "ignored",
    "--shm-size": "ignored",
    "--add-host": "ignored",
    "--iidfile": "ignored",
}
_FLAGS = {
    "--no-cache": "no_cache",
    "--pull": "pull",
    "-q": "quiet",
    "--quiet": "quiet",
    "--rm": "ignored",
    "--force-rm": "ignored",
    "--compress": "ignored",
}


class BuildArgsError(ValueError):
    """What is wrong with the arguments, in words for the user; the caller adds where."""


@dataclass(frozen=True)
class ParsedBuild:
    context: str  # absolute, under /workspace, normalised; or a URL for remote contexts
    dockerfile: str  # relative to the context
    tags: tuple[str, ...]
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # options accepted but without effect here, for the log


def _is_remote(context: str) -> bool:
    return context.startswith(("http://", "https://", "git@", "git://", "oci://")) or context.endswith(".git")


def _inside_workspace(path: str, working_directory: str, what: str) -> str:
    resolved = posixpath.normpath(posixpath.join(working_directory, path))
    if resolved != WORKSPACE and not resolved.startswith(WORKSPACE + "/"):
        raise BuildArgsError(f"the {what} '{path}' resolves to '{resolved}', outside {WORKSPACE}")
    return resolved


def _split_option(token: str) -> tuple[str, str | None]:
    if token.startswith("--") and "=" in token:
        name, _, value = token.partition("=")
        return name, value
    return token, None


@dataclass
class _Options:
    values: dict[str, list[str]] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)
    positional: list[str] = field(default_factory=list)

    def last(self, kind: str) -> str | None:
        found = self.values.get(kind)
        return found[-1] if found else None


def _collect(tokens: list[str]) -> _Options:
    options = _Options()
    index = 0
    while index < len(tokens):
        word = tokens[index]
        index += 1
        if not word.startswith("-") or word == "-":
            options.positional.append(word)
            continue
        name, inline = _split_option(word)
        if name in _FLAGS:
            kind = _FLAGS[name]
            if kind == "ignored":
                options.ignored.append(name)
            else:
                options.flags.add(kind)
            continue
        if name not in _VALUE_OPTIONS:
            known = ", ".join(sorted({*_VALUE_OPTIONS, *_FLAGS}))
            raise BuildArgsError(f"docker build option '{name}' is not supported here; supported: {known}")
        if inline is None:
            if index >= len(tokens):
                raise BuildArgsError(f"option '{name}' needs a value")
            inline = tokens[index]
            index += 1
        kind = _VALUE_OPTIONS[name]
        if kind in {"ignored", "network", "isolation", "cache_from"}:
            options.ignored.append(f"{name} {inline}")
        else:
            options.values.setdefault(kind, []).append(inline)
    return options


def _context(options: _Options, working_directory: str) -> str:
    if len(options.positional) != 1:
        found = ", ".join(f"'{p}'" for p in options.positional) or "none"
        raise BuildArgsError(f"expected exactly one build context (like '.'), found {found}")
    context = options.positional[0]
    if context == "-":
        raise BuildArgsError("a context read from stdin ('-') is not supported; give a folder")
    if _is_remote(context):
        raise BuildArgsError(
            f"remote build contexts ('{context}') are not supported in build steps yet; clone it in a "
            "cmd step into /workspace and build that folder"
        )
    return _inside_workspace(context, working_directory, "build context")


def _build_args(items: list[str], env: Mapping[str, str] | None) -> dict[str, str]:
    build_args: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            # docker takes a bare name's value from the environment: here, the step's env.
            if env is None or key not in env:
                raise BuildArgsError(f"--build-arg {key} has no value and the step's env does not set {key}")
            value = env[key]
        build_args[key] = value
    return build_args


def parse_build_args(
    text: str, *, working_directory: str = WORKSPACE, env: Mapping[str, str] | None = None
) -> ParsedBuild:
    """`-t app:1 -f docker/Dockerfile --build-arg V=1 .` → context, Dockerfile, tags, args, …"""
    try:
        tokens = shlex.split(text)
    except ValueError as error:
        raise BuildArgsError(f"cannot split the arguments: {error}") from None
    options = _collect(tokens)
    context = _context(options, working_directory)
    dockerfile = "Dockerfile"
    named = options.last("file")
    if named is not None:
        dockerfile = posixpath.relpath(_inside_workspace(named, working_directory, "Dockerfile"), context)
        if dockerfile.startswith("../"):
            raise BuildArgsError(f"the Dockerfile '{named}' is outside the build context '{context}'")
    return ParsedBuild(
        context=context,
        dockerfile=dockerfile,
        tags=tuple(options.values.get("tag", [])),
        build_args=_build_args(options.values.get("build_arg", []), env),
        target=options.last("target"),
        platform=options.last("platform"),
        no_cache="no_cache" in options.flags,
        pull="pull" in options.flags,
        labels=dict(item.partition("=")[::2] for item in options.values.get("label", [])),
        ignored=tuple(options.ignored),
    )
