"""`load_task_file`: raw task-file text to a checked `TaskFile`, in the order `acb exec` works.

1. Read the version from the first meaningful line; from v1.1.0 on, cut out the `alias:` block,
   render it, and replace `$aliases` in the rest of the text.
2. Render the text as a Go template with `.Run`, `.Values` and `.Secrets`; when the text mentions
   "secrets", render it once without secrets to read the `secrets:` section, resolve them, and
   render again with their values.
3. Parse the YAML, check every property and apply acb's defaults, resolve `when`, and expand image
   aliases in `cmd` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from core.errors import InvalidTaskFile
from core.taskfile.aliases import (
    Aliases,
    aliases_enabled,
    expansion_map,
    find_version,
    read_aliases,
    separate_alias_block,
    substitute,
)
from core.taskfile.build import Expansion, build_task
from core.taskfile.model import SecretSpec, TaskFile
from core.taskfile.parse import Reader, compose
from core.taskfile.positions import TextMap
from core.taskfile.render import render
from core.taskfile.secrets import SecretResolver, mask, read_secrets, redact


def load_task_file(
    text: str,
    *,
    file_name: str,
    run: Mapping[str, str],
    values: Mapping[str, Any],
    image_aliases: Mapping[str, str],
    secret_resolver: SecretResolver | None = None,
    read_alias_source: Callable[[str], str] | None = None,
) -> TaskFile:
    """The task file in `text`, rendered with `run` (`.Run`) and `values` (`.Values`) and checked.

    Every problem raises `InvalidTaskFile` whose message starts with `file_name:line:column:` in
    `text`; resolved secret values never appear in it. Example:
    `load_task_file("steps:\\n  - cmd: bash echo hi\\n", file_name="acb.yaml", run=run, values={},
    image_aliases={"bash": "bash:5"})`.
    """
    resolved: dict[str, str] = {}
    try:
        return _load(
            text,
            file_name=file_name,
            run=run,
            values=values,
            image_aliases=image_aliases,
            secret_resolver=secret_resolver,
            read_alias_source=read_alias_source,
            resolved=resolved,
        )
    except InvalidTaskFile as error:
        raise redact(error, resolved.values()) from None


def _load(
    text: str,
    *,
    file_name: str,
    run: Mapping[str, str],
    values: Mapping[str, Any],
    image_aliases: Mapping[str, str],
    secret_resolver: SecretResolver | None,
    read_alias_source: Callable[[str], str] | None,
    resolved: dict[str, str],
) -> TaskFile:
    source = TextMap.of_source(file_name, text.removeprefix("\ufeff"))
    data: dict[str, Any] = {"Run": dict(run), "Values": dict(values), "Secrets": {}}
    enabled = aliases_enabled(find_version(source.text))
    expanded = source
    aliases = Aliases({})
    if enabled:
        block, rest = separate_alias_block(source)
        aliases = read_aliases(render(block, data), image_aliases=image_aliases, read_alias_source=read_alias_source)
        expanded = substitute(rest, aliases)
    rendered = None
    if "secrets" in expanded.text:
        first = render(expanded, data)
        specs = _secret_specs(first, enabled)
        if specs:
            resolved.update(_resolve(specs, secret_resolver, first))
            data["Secrets"] = dict(resolved)
        else:
            rendered = first
    if rendered is None:
        rendered = render(expanded, data)
    reader = Reader(rendered)
    root = compose(rendered, aliases_enabled=enabled)
    expansion = Expansion(enabled, expansion_map(aliases, run) if enabled else {})
    task = build_task(reader, root, expansion=expansion)
    if resolved and task.warnings:
        task = replace(task, warnings=tuple(mask(warning, resolved.values()) for warning in task.warnings))
    return task


# Without secret values the rest of the file may not parse yet (a value can be what makes a line valid
# YAML), so then the top-level `secrets:` block is read on its own.
def _secret_specs(rendered: TextMap, enabled: bool) -> list[tuple[SecretSpec, Node]]:
    try:
        root = compose(rendered, aliases_enabled=enabled)
    except InvalidTaskFile:
        section = _secrets_section(rendered)
        if section is None:
            raise
        rendered, root = section, compose(section, aliases_enabled=enabled)
    reader = Reader(rendered)
    if not isinstance(root, MappingNode):
        return []
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "secrets":
            return read_secrets(reader, value)
    return []


def _secrets_section(rendered: TextMap) -> TextMap | None:
    lines = rendered.lines
    start = next((index for index, line in enumerate(lines) if line.startswith("secrets:")), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end] or lines[end][0] in " \t#-"):
        end += 1
    kept = list(range(start, end))
    return rendered.derive([lines[index] for index in kept], [(index, rendered.kind(index)) for index in kept])


def _resolve(
    specs: list[tuple[SecretSpec, Node]], resolver: SecretResolver | None, rendered: TextMap
) -> dict[str, str]:
    reader = Reader(rendered)
    if resolver is None:
        raise reader.error(
            specs[0][1],
            "this task file reads secrets from Key Vault, but this server has no secret resolver configured",
            target="secrets",
        )
    found = resolver.resolve_secrets([spec for spec, _ in specs])
    values: dict[str, str] = {}
    for index, (spec, node) in enumerate(specs):
        value = found.get(spec.id)
        if not isinstance(value, str):
            raise reader.error(
                node,
                f"secrets[{index}]: secret {spec.id!r} was not found at {spec.keyvault}; check the URL and that "
                "the identity has 'get' permission on the vault's secrets",
                target=f"secrets[{index}]",
            )
        values[spec.id] = value
    return values
