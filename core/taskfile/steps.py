"""One step of `steps:`: its properties read and checked the way acb's `graph/step.go` checks them.

`read_step` returns the step as written (no id yet when none is given, no defaults from the task);
`core.taskfile.build` then applies the task-level defaults and resolves `when`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from yaml.nodes import Node

from core.taskfile.model import WORKSPACE, StepKind, StepSpec, VolumeMount
from core.taskfile.parse import Entry, Reader, suggest
from core.taskfile.positions import quote

STEP_KEYS = (
    "id", "cmd", "build", "push", "when", "env", "timeout", "startDelay", "retries", "retryDelay",
    "retryOnErrors", "repeat", "ignoreErrors", "detach", "keep", "privileged", "user", "network",
    "isolation", "entryPoint", "workingDirectory", "disableWorkingDirectoryOverride", "ports", "expose",
    "pull", "cmdDownloadRetries", "cmdDownloadRetryDelay", "volumeMounts", "cpus", "cache", "exitedWith",
    "exitedWithout",
)  # fmt: skip
_STEP_HINTS = {
    "secret": (
        "the ACR docs list it, but acb has no such property; to give a step secret files, declare them "
        "under volumes: and mount them with volumeMounts:"
    ),
    "downloadRetries": "the ACR docs call it that, but the property is 'cmdDownloadRetries'",
    "downloadRetryDelay": "the ACR docs call it that, but the property is 'cmdDownloadRetryDelay'",
}


@dataclass(frozen=True)
class ReadStep:
    spec: StepSpec  # id is "" when the file gives none
    node: Node
    id_node: Node | None
    when: tuple[tuple[str, Node], ...]
    cmd_node: Node | None
    warnings: tuple[str, ...]


def read_step(reader: Reader, node: Node, index: int, *, volumes: Sequence[str]) -> ReadStep:
    """Step `index` as written; `volumes` are the declared volume names its mounts may use."""
    target = f"steps[{index}]"
    entries = reader.mapping(node, target=target, allowed=STEP_KEYS, what="step", hints=_STEP_HINTS)
    kind, build, cmd, push = _step_type(reader, node, entries, target)

    def text(key: str) -> str:
        return reader.string(entries[key].value, target=f"{target}.{key}") if key in entries else ""

    def flag(key: str) -> bool:
        return reader.boolean(entries[key].value, target=f"{target}.{key}") if key in entries else False

    def listed(key: str, example: str) -> list[tuple[str, Node]]:
        if key not in entries:
            return []
        return reader.strings(entries[key].value, target=f"{target}.{key}", example=example)

    def count(key: str, unit: str, *, negative_ok: bool = False) -> int:
        if key not in entries:
            return 0
        node = entries[key].value
        value = reader.integer(node, target=f"{target}.{key}", unit=unit)
        if value < 0 and not negative_ok:
            raise reader.error(
                node, f"{target}.{key} must be 0 or more; found {reader.show(node)}", target=f"{target}.{key}"
            )
        return value

    step_id = text("id")
    if any(char.isspace() for char in step_id):
        id_node = entries["id"].value
        raise reader.error(id_node, f"{target}.id {reader.show(id_node)} cannot contain spaces", target=f"{target}.id")
    warnings: list[str] = []
    timeout = count("timeout", "seconds", negative_ok=True)
    retries = count("retries", "retries")
    retry_delay = count("retryDelay", "seconds", negative_ok=True)
    if timeout < 0:
        warnings.append(f"{target}.timeout {timeout} is not positive, so the task's stepTimeout applies (as in acb)")
    if retry_delay <= 0 and "retryDelay" in entries and retries > 0:
        warnings.append(f"{target}.retryDelay {retry_delay} is not positive, so retries wait 5 seconds (as in acb)")
    env = [
        _env_entry(reader, value, item, f"{target}.env[{number}]")
        for number, (value, item) in enumerate(listed("env", '["KEY=value"]'))
    ]
    exited = {}
    for key in ("exitedWith", "exitedWithout"):
        exited[key] = _ints(reader, entries.get(key), f"{target}.{key}")
        if key in entries:
            warnings.append(f"{target}.{key} has no effect: acb reads it but never uses it, and neither does Slipway")
    cache = text("cache").lower() or None
    if cache not in (None, "enabled", "disabled"):
        cache_node = entries["cache"].value
        raise reader.error(
            cache_node,
            f"{target}.cache must be 'enabled' or 'disabled'; found {reader.show(cache_node)}",
            target=f"{target}.cache",
        )
    when = tuple(listed("when", '["-"] or [other-step-id]'))
    spec = StepSpec(
        id=step_id,
        kind=kind,
        line=reader.line(node),
        build=build,
        cmd=cmd,
        push=push,
        when=tuple(value for value, _ in when),
        env=tuple(env),
        timeout=timeout,
        start_delay=count("startDelay", "seconds"),
        retries=retries,
        retry_delay=retry_delay,
        retry_on_errors=tuple(value for value, _ in listed("retryOnErrors", '["connection reset"]')),
        repeat=count("repeat", "repeats"),
        ignore_errors=flag("ignoreErrors"),
        detach=flag("detach"),
        keep=flag("keep"),
        privileged=flag("privileged"),
        user=text("user") or None,
        network=text("network") or None,
        isolation=text("isolation") or None,
        entry_point=text("entryPoint") or None,
        working_directory=text("workingDirectory"),
        disable_working_directory_override=flag("disableWorkingDirectoryOverride"),
        ports=tuple(value for value, _ in listed("ports", '["8000:80"]')),
        expose=tuple(value for value, _ in listed("expose", '["80"]')),
        pull=flag("pull"),
        cmd_download_retries=count("cmdDownloadRetries", "retries"),
        cmd_download_retry_delay=count("cmdDownloadRetryDelay", "seconds"),
        volume_mounts=_mounts(reader, entries.get("volumeMounts"), kind, target, volumes),
        cpus=text("cpus") or None,
        cache=cache,
        exited_with=tuple(exited["exitedWith"]),
        exited_without=tuple(exited["exitedWithout"]),
    )
    return ReadStep(
        spec=spec,
        node=node,
        id_node=entries["id"].value if "id" in entries else None,
        when=when,
        cmd_node=entries["cmd"].value if kind is StepKind.CMD else None,
        warnings=tuple(warnings),
    )


def normalize_working_directory(directory: str) -> str:
    """acb's normalizeWorkDir: absolute paths are cleaned, relative ones resolved under /workspace."""
    joined = directory if directory.startswith("/") else posixpath.join(WORKSPACE, directory)
    cleaned = posixpath.normpath(joined)
    return "/" + cleaned.lstrip("/")


def normalize_push_image(image: str) -> str:
    """acb's NormalizeImageTag: `:latest` is added when a name has neither tag nor digest."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return f"{image}:latest"


def env_entry_problem(entry: str) -> str | None:
    """Why `entry` is not `KEY=value`, or None."""
    name, equals, _ = entry.partition("=")
    if not equals:
        return "an env entry must be KEY=value"
    if not name:
        return "an env entry needs a name before '='"
    return None


# acb errMissingProps / errInvalidStepType: exactly one of build, cmd and push, and not empty.
def _step_type(
    reader: Reader, node: Node, entries: Mapping[str, Entry], target: str
) -> tuple[StepKind, str | None, str | None, tuple[str, ...]]:
    build = reader.string(entries["build"].value, target=f"{target}.build") if "build" in entries else ""
    cmd = reader.string(entries["cmd"].value, target=f"{target}.cmd") if "cmd" in entries else ""
    push: tuple[str, ...] = ()
    if "push" in entries:
        images = reader.strings(
            entries["push"].value, target=f"{target}.push", example="[myregistry.azurecr.io/app:v1]"
        )
        for number, (image, item) in enumerate(images):
            if not image.strip():
                raise reader.error(
                    item, f"{target}.push[{number}] is empty; give an image name", target=f"{target}.push"
                )
        push = tuple(dict.fromkeys(normalize_push_image(image.strip()) for image, _ in images))
    given = {StepKind.BUILD: bool(build), StepKind.CMD: bool(cmd), StepKind.PUSH: bool(push)}
    present = sorted(
        (kind for kind, value in given.items() if value), key=lambda kind: entries[kind.value].key_node.start_mark.index
    )
    if not present:
        empty = [kind.value for kind in StepKind if kind.value in entries]
        detail = f" ({' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty)" if empty else ""
        raise reader.error(
            node,
            f"{target}: a step needs one of build, cmd or push{detail}; e.g. `- cmd: bash echo hello`",
            target=target,
        )
    if len(present) > 1:
        first, second = entries[present[0].value], entries[present[1].value]
        raise reader.error(
            second.key_node,
            f"{target}: a step can have only one of build, cmd or push, but this one has both "
            f"{quote(first.key)} (line {reader.line(first.key_node)}) and {quote(second.key)}; "
            "split it into two steps",
            target=target,
        )
    return present[0], build or None, cmd or None, push


def _env_entry(reader: Reader, value: str, node: Node, target: str) -> str:
    problem = env_entry_problem(value)
    if problem:
        raise reader.error(node, f"{target}: {problem}; found {reader.show(node)}", target=target)
    return value


def _ints(reader: Reader, entry: Entry | None, target: str) -> list[int]:
    return [] if entry is None else reader.integers(entry.value, target=target, example="[0, 1]")


def _mounts(
    reader: Reader, entry: Entry | None, kind: StepKind, target: str, volumes: Sequence[str]
) -> tuple[VolumeMount, ...]:
    if entry is None:
        return ()
    items = reader.items(
        entry.value, target=f"{target}.volumeMounts", example="[{name: secrets, mountPath: /run/secrets}]"
    )
    if items and kind is StepKind.PUSH:
        raise reader.error(
            entry.key_node, f"{target}: volumeMounts apply only to cmd and build steps", target=f"{target}.volumeMounts"
        )
    mounts: list[VolumeMount] = []
    paths: dict[str, Node] = {}
    for number, item in enumerate(items):
        where = f"{target}.volumeMounts[{number}]"
        fields = reader.mapping(item, target=where, allowed=("name", "mountPath"), what="volume mount")
        name = reader.string(fields["name"].value, target=f"{where}.name") if "name" in fields else ""
        path = reader.string(fields["mountPath"].value, target=f"{where}.mountPath") if "mountPath" in fields else ""
        if not name or not path:
            missing = "name" if not name else "mountPath"
            raise reader.error(
                item, f"{where} needs a {missing}, e.g. {{name: secrets, mountPath: /run/secrets}}", target=where
            )
        if name not in volumes:
            guess = suggest(name, volumes)
            known = f"did you mean {quote(guess)}?" if guess else f"declared volumes: {', '.join(volumes) or 'none'}"
            raise reader.error(
                fields["name"].value,
                f"{where}.name: there is no volume {quote(name)} under volumes:; {known}",
                target=f"{where}.name",
            )
        path_node = fields["mountPath"].value
        if not path.startswith("/"):
            raise reader.error(
                path_node,
                f"{where}.mountPath {reader.show(path_node)} must be an absolute path in the container",
                target=f"{where}.mountPath",
            )
        if path in paths:
            raise reader.error(
                path_node,
                f"{where}.mountPath: {quote(path)} is already mounted in this step (line {reader.line(paths[path])}); "
                "each mount needs its own path",
                target=f"{where}.mountPath",
            )
        paths[path] = path_node
        mounts.append(VolumeMount(name, path))
    return tuple(mounts)
