"""The parsed YAML to a `TaskFile`: top-level properties, networks, volumes, and acb's defaults.

Defaults follow acb's `graph/task.go` initialize: step ids `acb_step_<index>`, the task's
`stepTimeout` (600 when not positive) for steps without a positive `timeout`, a retry delay of 5
seconds, the task env merged into each step per key, the task working directory, and the default
network (`acb_default_network` when the file declares none; otherwise the last `isDefault` one).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from yaml.nodes import Node

from core.taskfile.aliases import IMAGE_ALIASES, expand_image_alias
from core.taskfile.dag import resolve_dependencies
from core.taskfile.model import (
    DEFAULT_NETWORK_NAME,
    DEFAULT_RETRY_DELAY,
    DEFAULT_STEP_TIMEOUT,
    DEFAULT_VERSION,
    ROOT_STEP_ID,
    VALID_VERSIONS,
    NetworkSpec,
    SecretSpec,
    StepKind,
    TaskFile,
    VolumeSpec,
)
from core.taskfile.parse import Entry, Reader
from core.taskfile.positions import quote
from core.taskfile.secrets import read_secrets
from core.taskfile.steps import STEP_KEYS, ReadStep, env_entry_problem, normalize_working_directory, read_step

TOP_KEYS = ("version", "steps", "stepTimeout", "env", "workingDirectory", "secrets", "networks", "volumes")
_OBSOLETE = ("totalTimeout", "alias")
_STEP_AT_TOP = "it is a step property; write steps as a list under `steps:`, e.g. steps: [{cmd: bash echo hi}]"
_VOLUME_NAME = re.compile(r"\A[a-zA-Z0-9_-]+\Z")
_FILE_NAME = re.compile(r"\A[a-zA-Z0-9_.-]+\Z")


@dataclass(frozen=True)
class Expansion:
    """How `cmd` image aliases are expanded (only when aliases are enabled)."""

    aliases_enabled: bool
    image_map: Mapping[str, str]


def build_task(reader: Reader, root: Node | None, *, expansion: Expansion) -> TaskFile:
    """The `TaskFile` for the parsed document `root`, with acb's defaults applied."""
    warnings: list[str] = []
    if root is None:
        warnings.append("the task file is empty, so a run does nothing")
        return TaskFile(version=DEFAULT_VERSION, steps=(), networks=tuple(_networks([])), warnings=tuple(warnings))
    hints = {key: _STEP_AT_TOP for key in STEP_KEYS if key not in TOP_KEYS}
    entries = reader.mapping(root, target="", allowed=TOP_KEYS + _OBSOLETE, what="top-level", hints=hints)
    _obsolete(reader, entries, expansion.aliases_enabled, warnings)
    version = _version(reader, entries.get("version"), expansion.aliases_enabled, warnings)
    step_timeout = (
        reader.integer(entries["stepTimeout"].value, target="stepTimeout", unit="seconds")
        if "stepTimeout" in entries
        else 0
    )
    task_env = _task_env(reader, entries.get("env"))
    working_directory = (
        reader.string(entries["workingDirectory"].value, target="workingDirectory")
        if "workingDirectory" in entries
        else ""
    )
    secrets: list[SecretSpec] = [spec for spec, _ in read_secrets(reader, _value(entries, "secrets"))]
    networks = [
        _network(reader, item, index)
        for index, item in enumerate(_items(reader, entries, "networks", "[{name: mynet}]"))
    ]
    _no_duplicates(reader, [(network.name, node) for network, node in networks], "networks", "network")
    volumes = [
        _volume(reader, item, index)
        for index, item in enumerate(_items(reader, entries, "volumes", "[{name: v, secret: {f: base64}}]"))
    ]
    _no_duplicates(reader, [(volume.name, node) for volume, node in volumes], "volumes", "volume")
    volume_names = [volume.name for volume, _ in volumes]
    read = [
        read_step(reader, item, index, volumes=volume_names)
        for index, item in enumerate(_items(reader, entries, "steps", "[{cmd: bash echo hi}]"))
    ]
    if not read:
        warnings.append("the task file has no steps, so a run does nothing")
    ids = _step_ids(reader, read)
    dependencies = resolve_dependencies(reader, read, ids, warnings)
    declared = [network for network, _ in networks]
    all_networks = _networks(declared)
    default_network = next((network.name for network in reversed(all_networks) if network.is_default), None)
    timeout = step_timeout if step_timeout > 0 else DEFAULT_STEP_TIMEOUT
    steps = []
    for index, (step, step_id, waits) in enumerate(zip(read, ids, dependencies, strict=True)):
        warnings.extend(step.warnings)
        spec = step.spec
        steps.append(
            replace(
                spec,
                id=step_id,
                cmd=_expand_cmd(reader, step, index, expansion),
                depends_on=waits,
                env=_merge_env(spec.env, task_env),
                timeout=spec.timeout if spec.timeout > 0 else timeout,
                retry_delay=spec.retry_delay if spec.retry_delay > 0 else DEFAULT_RETRY_DELAY,
                network=spec.network or default_network,
                working_directory=normalize_working_directory(spec.working_directory or working_directory),
            )
        )
    return TaskFile(
        version=version,
        steps=tuple(steps),
        step_timeout=timeout,
        env=tuple(task_env),
        working_directory=working_directory or None,
        secrets=tuple(secrets),
        networks=tuple(all_networks),
        volumes=tuple(volume for volume, _ in volumes),
        warnings=tuple(warnings),
    )


def _obsolete(reader: Reader, entries: Mapping[str, Entry], aliases_enabled: bool, warnings: list[str]) -> None:
    if "totalTimeout" in entries:
        warnings.append(
            "totalTimeout is no longer supported (acb removed it in 2019) and is ignored; the run's own "
            "timeout (3600 seconds unless the run or task sets one) limits the whole run, and "
            "stepTimeout/timeout limit each step"
        )
    if "alias" in entries:
        detail = (
            "an alias: block is given twice"
            if aliases_enabled
            else "alias: is only read when the file's first line is `version: v1.1.0` (acb reads the version "
            "from the first line that is not blank or a comment, unquoted, in lower case)"
        )
        raise reader.error(entries["alias"].key_node, detail, target="alias")


def _version(reader: Reader, entry: Entry | None, aliases_enabled: bool, warnings: list[str]) -> str:
    written = reader.string(entry.value, target="version").strip() if entry else ""
    version = (written or DEFAULT_VERSION).lower()
    if version not in VALID_VERSIONS and entry is not None:
        raise reader.error(
            entry.value,
            f"version {reader.show(entry.value)} is not supported; use v1.1.0 (aliases), v1.0.0 or 1.0-preview-1",
            target="version",
        )
    if version == "v1.1.0" and not aliases_enabled and entry is not None and "$" in reader.text_map.text:
        warnings.append(
            "version v1.1.0 is not the file's first line (or is quoted or capitalised), so, as in acb, "
            "$aliases such as $Registry were not expanded; write `version: v1.1.0` as the first line"
        )
    return version


def _value(entries: Mapping[str, Entry], key: str) -> Node | None:
    return entries[key].value if key in entries else None


def _items(reader: Reader, entries: Mapping[str, Entry], key: str, example: str) -> list[Node]:
    return reader.items(entries[key].value, target=key, example=example) if key in entries else []


# acb splits each task env entry at commas ("a=1,b=2" is two variables); step entries are not split.
def _task_env(reader: Reader, entry: Entry | None) -> list[str]:
    if entry is None:
        return []
    env = []
    for index, (value, node) in enumerate(reader.strings(entry.value, target="env", example='["KEY=value"]')):
        for part in value.split(","):
            problem = env_entry_problem(part)
            if problem:
                found = reader.show(node) if reader.changed(node) else f"{quote(part)} in {reader.show(node)}"
                raise reader.error(
                    node,
                    f"env[{index}]: {problem}; found {found} (task env entries are split at commas)",
                    target=f"env[{index}]",
                )
            env.append(part)
    return env


# acb mergeEnvs: a step keeps its own values and gets the task's other keys (the docs say "override").
def _merge_env(step_env: tuple[str, ...], task_env: list[str]) -> tuple[str, ...]:
    own = {entry.partition("=")[0] for entry in step_env}
    return step_env + tuple(entry for entry in task_env if entry.partition("=")[0] not in own)


def _network(reader: Reader, node: Node, index: int) -> tuple[NetworkSpec, Node]:
    target = f"networks[{index}]"
    fields = reader.mapping(
        node, target=target, allowed=("name", "driver", "ipv6", "skipCreation", "isDefault"), what="network"
    )
    name = reader.string(fields["name"].value, target=f"{target}.name") if "name" in fields else ""
    if not name:
        raise reader.error(node, f"{target} needs a name", target=f"{target}.name")
    if any(char.isspace() for char in name):
        raise reader.error(
            fields["name"].value, f"{target}.name {quote(name)} cannot contain spaces", target=f"{target}.name"
        )
    driver = reader.string(fields["driver"].value, target=f"{target}.driver") if "driver" in fields else ""

    def flag(key: str) -> bool:
        return reader.boolean(fields[key].value, target=f"{target}.{key}") if key in fields else False

    spec = NetworkSpec(name, driver or None, flag("ipv6"), flag("skipCreation"), flag("isDefault"))
    return spec, fields["name"].value


def _networks(declared: list[NetworkSpec]) -> list[NetworkSpec]:
    if declared:
        return declared
    return [NetworkSpec(DEFAULT_NETWORK_NAME, driver="bridge", is_default=True)]


def _volume(reader: Reader, node: Node, index: int) -> tuple[VolumeSpec, Node]:
    target = f"volumes[{index}]"
    fields = reader.mapping(node, target=target, allowed=("name", "secret"), what="volume")
    name = reader.string(fields["name"].value, target=f"{target}.name") if "name" in fields else ""
    if not name:
        raise reader.error(node, f"{target} needs a name", target=f"{target}.name")
    if not _VOLUME_NAME.match(name):
        raise reader.error(
            fields["name"].value,
            f"{target}.name {reader.show(fields['name'].value)} is not allowed; use letters, digits, '-' and '_'",
            target=f"{target}.name",
        )
    if "secret" not in fields:
        raise reader.error(
            node,
            f"{target}: a volume needs secret: (the only kind of volume), a map of file names to base64 contents",
            target=f"{target}.secret",
        )
    files = reader.mapping(fields["secret"].value, target=f"{target}.secret", allowed=None, what="")
    if not files:
        raise reader.error(
            fields["secret"].value,
            f"{target}.secret is empty; give at least one file: base64 content",
            target=f"{target}.secret",
        )
    secret: dict[str, str] = {}
    for file_name, entry in files.items():
        where = f"{target}.secret.{file_name}"
        if not _FILE_NAME.match(file_name):
            raise reader.error(
                entry.key_node,
                f"{target}.secret: file name {quote(file_name)} is not allowed; use letters, digits, '-', '_' and '.'",
                target=where,
            )
        content = reader.string(entry.value, target=where)
        try:
            base64.b64decode(content.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise reader.error(
                entry.value,
                f"{where}: the content is not valid base64 (it is not shown, as it may be a secret); "
                "encode it with a template, e.g. {{.Secrets.mysecret | b64enc}}",
                target=where,
            ) from None
        secret[file_name] = content
    return VolumeSpec(name, secret), fields["name"].value


def _no_duplicates(reader: Reader, named: list[tuple[str, Node]], section: str, what: str) -> None:
    seen: dict[str, Node] = {}
    for index, (name, node) in enumerate(named):
        if name in seen:
            first = reader.line(seen[name])
            raise reader.error(
                node,
                f"{section}[{index}]: the {what} name {quote(name)} is used twice (first on line {first})",
                target=f"{section}[{index}].name",
            )
        seen[name] = node


# acb: a step without an id is acb_step_<index>; ids are unique DAG vertices and acb_root is the root.
def _step_ids(reader: Reader, steps: list[ReadStep]) -> list[str]:
    ids: list[str] = []
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        step_id = step.spec.id or f"acb_step_{index}"
        where = step.id_node or step.node
        if step_id == ROOT_STEP_ID:
            raise reader.error(
                where,
                f"steps[{index}].id: {quote(ROOT_STEP_ID)} is reserved by the engine; choose another id",
                target=f"steps[{index}].id",
            )
        if step_id in seen:
            first = seen[step_id]
            detail = "" if step.spec.id else f" (the default id of step {index}, which has no id)"
            raise reader.error(
                where,
                f"steps[{index}].id: {quote(step_id)}{detail} is already the id of steps[{first}] "
                f"(line {steps[first].spec.line}); step ids must be unique",
                target=f"steps[{index}].id",
            )
        seen[step_id] = index
        ids.append(step_id)
    return ids


def _expand_cmd(reader: Reader, step: ReadStep, index: int, expansion: Expansion) -> str | None:
    cmd = step.spec.cmd
    if cmd is None or step.spec.kind is not StepKind.CMD or not expansion.aliases_enabled:
        return cmd
    first = cmd.strip().partition(" ")[0]
    if first not in expansion.image_map and first in IMAGE_ALIASES:
        raise reader.error(
            step.cmd_node or step.node,
            f"steps[{index}].cmd: the image alias {quote(first)} is not configured on this server (ACR maps it "
            "to an image on mcr.microsoft.com); write the full image name instead",
            target=f"steps[{index}].cmd",
        )
    return expand_image_alias(cmd, expansion.image_map)
