"""Task operations behind the API: create, update, show, list, delete, and the timer sub-commands.

Request bodies use the names of `az acr task create` options in camelCase. Defaults are ACR's: the
commit trigger is on for git contexts and off for anything else (and always off for /dev/null), the
pull-request trigger off, the base-image trigger on with type Runtime, timeout 3600, platform
linux/amd64, status Enabled, branch from the context's `#ref` or `master`.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.errors import InvalidRequest, NotFound
from core.named_values import Transform, parse_named_values
from core.quick_build import parse_platform, parse_timeout
from core.task_store import TaskStore
from core.tasks import (
    DEFAULT_BRANCH,
    BaseImageTrigger,
    BaseImageTriggerType,
    ConcurrencyPolicy,
    GitSource,
    SourceTrigger,
    Task,
    TaskKind,
    TaskStatus,
    TimerTrigger,
    kind_for_file,
    parse_git_context,
    parse_timer,
    secret_context,
    validate_context,
    validate_task_name,
)


def _bool(body: Mapping[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be true or false", target=key)
    return value


def _strings(body: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key) or []
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{key} must be a list of strings", target=key)
    return tuple(value)


def _named(
    body: Mapping[str, Any], key: str, sealing: Transform | None, current: tuple[tuple[str, str], ...]
) -> tuple[tuple[tuple[str, str], ...] | None, tuple[tuple[str, str], ...] | None]:
    """(plain, sealed secret) entries of `body[key]`, or (None, None) when the key is absent."""
    if key not in body:
        return None, None
    parsed = parse_named_values(body[key], field_name=key)
    if parsed.secret and sealing is None:
        raise InvalidRequest(
            f"{key}: secret values cannot be stored: this server has no data key (SLIPWAY_DATA_KEY)", target=key
        )
    sealed = tuple((name, sealing(name, value)) for name, value in parsed.secret) if sealing else ()
    return parsed.plain, sealed


def _enum(body: Mapping[str, Any], key: str, kind: type[Any], current: Any) -> Any:
    if key not in body:
        return current
    raw = str(body[key])
    for member in kind:
        if member.value.lower() == raw.lower():
            return member
    allowed = ", ".join(m.value for m in kind)
    raise InvalidRequest(f"{key} {raw!r} is not one of {allowed}", target=key)


def _timers(body: Mapping[str, Any], current: tuple[TimerTrigger, ...]) -> tuple[TimerTrigger, ...]:
    if "schedules" not in body:
        return current
    timers = tuple(parse_timer(text, index) for index, text in enumerate(_strings(body, "schedules")))
    names = [t.name for t in timers]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise InvalidRequest(f"timer name '{duplicate}' is used twice; timer names must be unique", target="schedules")
    return timers


def _encoded_cmd(command: str) -> str:
    import yaml

    task = {"version": "v1.1.0", "steps": [{"cmd": command}]}
    return base64.b64encode(yaml.safe_dump(task, sort_keys=False).encode()).decode()


def _what_to_run(body: Mapping[str, Any], current: Task | None) -> dict[str, Any]:
    """Kind, file and encoded content, from `file` / `cmd` / `encodedTask` (only when given)."""
    if not any(k in body for k in ("file", "cmd", "encodedTask")):
        return {}
    file_name = body.get("file")
    command = body.get("cmd")
    if file_name is not None and command is not None:
        raise InvalidRequest("give either file (-f) or cmd (--cmd), not both", target="cmd")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise InvalidRequest("cmd must be 'IMAGE [ARGS]'", target="cmd")
        return {"kind": TaskKind.ENCODED, "encoded_task": _encoded_cmd(command), "task_file": None}
    if body.get("encodedTask") is not None:
        return {"kind": TaskKind.ENCODED, "encoded_task": str(body["encodedTask"]), "task_file": None}
    if not isinstance(file_name, str) or not file_name.strip():
        raise InvalidRequest("file must name a Dockerfile or a task file (.yaml)", target="file")
    kind = kind_for_file(file_name, has_cmd=False)
    if kind is TaskKind.FILE:
        return {"kind": kind, "task_file": file_name, "encoded_task": None}
    return {"kind": kind, "dockerfile": file_name, "task_file": None, "encoded_task": None}


def _source_trigger(body: Mapping[str, Any], context: str, current: SourceTrigger | None) -> SourceTrigger:
    git = parse_git_context(context)
    default_branch = (git.ref if git and git.ref else None) or DEFAULT_BRANCH
    base = current or SourceTrigger(commit_enabled=git is not None, branch=default_branch)
    trigger = SourceTrigger(
        commit_enabled=_bool(body, "commitTriggerEnabled", base.commit_enabled),
        pull_request_enabled=_bool(body, "pullRequestTriggerEnabled", base.pull_request_enabled),
        branch=str(body.get("branch") or (base.branch if current else default_branch)),
        include_paths=_strings(body, "includePaths") if "includePaths" in body else base.include_paths,
        exclude_paths=_strings(body, "excludePaths") if "excludePaths" in body else base.exclude_paths,
    )
    if git is None and (trigger.commit_enabled or trigger.pull_request_enabled):
        if "commitTriggerEnabled" in body or "pullRequestTriggerEnabled" in body:
            raise InvalidRequest(
                "commit and pull-request triggers need a git context (https://host/org/repo.git#branch)",
                target="commitTriggerEnabled",
            )
        trigger = dataclasses.replace(trigger, commit_enabled=False, pull_request_enabled=False)
    return trigger


def split_context_credentials(context: str) -> tuple[str, str | None]:
    """A git context with `user:token@` in its URL → the clean context and the token (ACR accepts both)."""
    git = parse_git_context(context)
    if git is None:
        return context, None
    from core.git_source import parse_remote

    remote = parse_remote(git.url)
    if remote.password is None:
        return context, None
    return GitSource(remote.url, git.ref, git.subfolder).location, remote.password


def _apply(
    body: Mapping[str, Any], current: Task | None, *, name: str, sealing: Callable[[str], Transform | None]
) -> Task:
    context = validate_context(str(body["context"])) if "context" in body else (current.context if current else "")
    if not context:
        raise InvalidRequest("context is required: a git URL, a tarball URL or /dev/null", target="context")
    base = current or Task(name=name, kind=TaskKind.DOCKER, context=context)
    changes: dict[str, Any] = {"context": context, **_what_to_run(body, current)}
    if current is None and "kind" not in changes:
        raise InvalidRequest("give file (-f Dockerfile or -f acb.yaml) or cmd (--cmd)", target="file")
    base_trigger = base.base_image_trigger
    plain_args, secret_args = _named(body, "arguments", sealing(secret_context(name, "arguments")), ())
    plain_values, secret_values = _named(body, "values", sealing(secret_context(name, "values")), ())
    changes |= {
        "status": _enum(body, "status", TaskStatus, base.status),
        "platform": parse_platform(body["platform"]) if "platform" in body else base.platform,
        "timeout": parse_timeout(body["timeout"], base.timeout) if "timeout" in body else base.timeout,
        "image_names": _strings(body, "imageNames") if "imageNames" in body else base.image_names,
        "build_args": dict(plain_args) if plain_args is not None else base.build_args,
        "secret_build_args": secret_args if secret_args is not None else base.secret_build_args,
        "target": body.get("target", base.target),
        "push": not _bool(body, "noPush", not base.push),
        "no_cache": _bool(body, "noCache", base.no_cache),
        "values": plain_values if plain_values is not None else base.values,
        "secret_values": secret_values if secret_values is not None else base.secret_values,
        "values_file": body.get("valuesFile", base.values_file),
        "source_trigger": _source_trigger(body, context, current.source_trigger if current else None),
        "timers": _timers(body, base.timers),
        "base_image_trigger": BaseImageTrigger(
            enabled=_bool(body, "baseImageTriggerEnabled", base_trigger.enabled),
            type=_enum(body, "baseImageTriggerType", BaseImageTriggerType, base_trigger.type),
        ),
        "concurrency": _enum(body, "concurrencyPolicy", ConcurrencyPolicy, base.concurrency),
        "identity": _strings(body, "assignIdentity") if "assignIdentity" in body else base.identity,
    }
    task = dataclasses.replace(base, **changes)
    if task.kind is TaskKind.FILE and task.context == "/dev/null":
        raise InvalidRequest(
            "a task file (.yaml) task needs a context that holds the file; with /dev/null use --cmd",
            target="context",
        )
    return task


class TaskService:
    def __init__(
        self, store: TaskStore, *, clock: Any, sealing: Callable[[str], Transform | None] = lambda _: None
    ) -> None:
        self._store = store
        self._clock = clock
        self._sealing = sealing

    def create(self, body: Mapping[str, Any]) -> Task:
        name = validate_task_name(str(body.get("name", "")))
        body, url_token = self._without_url_credentials(body)
        task = dataclasses.replace(
            _apply(body, None, name=name, sealing=self._sealing), created=self._clock(), updated=self._clock()
        )
        self._store.create(task)
        token = body.get("gitAccessToken") or url_token
        if token:
            self._store.set_git_token(name, str(token))
        return task

    @staticmethod
    def _without_url_credentials(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """Credentials typed into a git URL are moved to the task's token and never stored in the context."""
        if "context" not in body:
            return body, None
        clean, token = split_context_credentials(str(body["context"]).strip())
        return {**body, "context": clean}, token

    def update(self, name: str, body: Mapping[str, Any]) -> Task:
        if "name" in body and str(body["name"]).lower() != name.lower():
            raise InvalidRequest("a task cannot be renamed; create a new one", target="name")
        body, url_token = self._without_url_credentials(body)
        if url_token and "gitAccessToken" not in body:
            body = {**body, "gitAccessToken": url_token}
        task = self._store.update(
            name,
            lambda current: dataclasses.replace(
                _apply(body, current, name=current.name, sealing=self._sealing), updated=self._clock()
            ),
        )
        if "gitAccessToken" in body:
            self._store.set_git_token(task.name, str(body["gitAccessToken"] or "") or None)
        return task

    def get(self, name: str) -> Task:
        return self._store.get(name).task

    def list(self) -> list[Task]:
        return sorted(self._store.list_tasks(), key=lambda t: t.name.lower())

    def delete(self, name: str) -> None:
        self._store.delete(name)

    def has_git_token(self, name: str) -> bool:
        return self._store.git_token(name) is not None

    def set_timer(self, name: str, timer_name: str, body: Mapping[str, Any], *, create: bool) -> Task:
        def change(task: Task) -> Task:
            existing = next((t for t in task.timers if t.name == timer_name), None)
            if create and existing is not None:
                raise InvalidRequest(f"task '{name}' already has a timer '{timer_name}'", target="timerName")
            if not create and existing is None:
                raise NotFound(f"task '{name}' has no timer '{timer_name}'", target="timerName")
            schedule = body.get("schedule", existing.schedule if existing else None)
            if not isinstance(schedule, str):
                raise InvalidRequest("schedule is required: a 5-field cron such as '0 3 * * *'", target="schedule")
            timer = dataclasses.replace(
                parse_timer(f"{timer_name}:{schedule}", 0),
                enabled=_bool(body, "enabled", existing.enabled if existing else True),
            )
            others = tuple(t for t in task.timers if t.name != timer_name)
            return dataclasses.replace(task, timers=(*others, timer), updated=self._clock())

        return self._store.update(name, change)

    def remove_timer(self, name: str, timer_name: str) -> Task:
        def change(task: Task) -> Task:
            if not any(t.name == timer_name for t in task.timers):
                raise NotFound(f"task '{name}' has no timer '{timer_name}'", target="timerName")
            return dataclasses.replace(
                task, timers=tuple(t for t in task.timers if t.name != timer_name), updated=self._clock()
            )

        return self._store.update(name, change)
