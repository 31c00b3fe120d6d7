"""Tasks: saved builds or task files that run by themselves (ACR's `az acr task`).

A task is plain data: what to run (a Dockerfile build, a task file, or one command), where its
source comes from (a git repository at a branch, a tarball URL, or nothing), and its triggers
(commits and pull requests on its branch, named timers, base-image updates). Defaults are ACR's
(`az acr task create`), listed in docs/tasks.md. Credentials are not part of the task: the git access
token lives apart (`TaskCredentials`) and is never returned by the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import InvalidRequest

TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,49}$")
TIMER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")
DEFAULT_BRANCH = "master"  # ACR's default when neither --branch nor the context names one
FILE_TASK_SUFFIXES = (".yaml", ".yml")


class TaskStatus(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class TaskKind(StrEnum):
    DOCKER = "Docker"  # `-f Dockerfile`: build (and push) an image
    FILE = "FileTask"  # `-f acb.yaml`: a task file in the source
    ENCODED = "EncodedTask"  # `--cmd`: one command, or a task file sent inline


class BaseImageTriggerType(StrEnum):
    RUNTIME = "Runtime"  # only the final stage's base image
    ALL = "All"  # every stage's base image


class ConcurrencyPolicy(StrEnum):
    QUEUE = "queue"  # every trigger queues its run (ACR's behaviour)
    CANCEL_SUPERSEDED = "cancel-superseded"  # a newer push to a branch cancels older runs of that branch


@dataclass(frozen=True)
class GitSource:
    """`https://host/org/repo.git#ref:subfolder`, split."""

    url: str
    ref: str | None = None  # branch, tag, commit SHA, or pull/N/head
    subfolder: str = ""

    @property
    def location(self) -> str:
        fragment = ""
        if self.ref or self.subfolder:
            fragment = f"#{self.ref or ''}" + (f":{self.subfolder}" if self.subfolder else "")
        return self.url + fragment


@dataclass(frozen=True)
class TimerTrigger:
    name: str
    schedule: str  # 5-field cron, UTC
    enabled: bool = True


@dataclass(frozen=True)
class SourceTrigger:
    commit_enabled: bool = False
    pull_request_enabled: bool = False
    branch: str = DEFAULT_BRANCH
    include_paths: tuple[str, ...] = ()  # globs; a push must change a matching file (empty: any)
    exclude_paths: tuple[str, ...] = ()  # globs; changes only to these never trigger


@dataclass(frozen=True)
class BaseImageTrigger:
    enabled: bool = True
    type: BaseImageTriggerType = BaseImageTriggerType.RUNTIME


@dataclass(frozen=True)
class Task:
    name: str
    kind: TaskKind
    context: str  # "/dev/null", a git location, or a tarball URL, as given
    status: TaskStatus = TaskStatus.ENABLED
    platform: str = "linux/amd64"
    timeout: int = 3600
    # Docker tasks
    dockerfile: str = "Dockerfile"
    image_names: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    push: bool = True
    no_cache: bool = False
    # File and encoded tasks
    task_file: str | None = None
    encoded_task: str | None = None  # base64 task file (from --cmd, or a file sent inline)
    values: tuple[tuple[str, str], ...] = ()
    values_file: str | None = None
    # `--secret-arg` / `--set-secret`: values sealed with the service's data key (see `secret_context`).
    secret_build_args: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secret_values: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Triggers and behaviour
    source_trigger: SourceTrigger = SourceTrigger()
    timers: tuple[TimerTrigger, ...] = ()
    base_image_trigger: BaseImageTrigger = BaseImageTrigger()
    concurrency: ConcurrencyPolicy = ConcurrencyPolicy.QUEUE
    identity: tuple[str, ...] = ()  # `--assign-identity`: "[system]" and/or user-assigned client ids
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def git(self) -> GitSource | None:
        return parse_git_context(self.context)

    @property
    def enabled(self) -> bool:
        return self.status is TaskStatus.ENABLED


def is_git_url(location: str) -> bool:
    """`az acr` treats `.git` URLs (with an optional #fragment) and git:// as repositories."""
    base = location.split("#", 1)[0]
    return base.startswith("git://") or (base.startswith(("http://", "https://")) and base.endswith(".git"))


def parse_git_context(location: str) -> GitSource | None:
    if not is_git_url(location):
        return None
    url, _, fragment = location.partition("#")
    ref, _, subfolder = fragment.partition(":")
    subfolder = subfolder.strip("/")
    if ".." in subfolder.split("/"):
        raise InvalidRequest(f"context subfolder '{subfolder}' must stay inside the repository", target="context")
    return GitSource(url=url, ref=ref or None, subfolder=subfolder)


def validate_context(location: str) -> str:
    text = location.strip()
    if text == "/dev/null" or is_git_url(text):
        parse_git_context(text)
        return text
    if text.startswith(("http://", "https://")):
        return text  # a tarball URL
    if text.startswith("git@"):
        raise InvalidRequest(
            f"context '{text}' uses SSH; give the repository's https:// URL and a --git-access-token instead",
            target="context",
        )
    raise InvalidRequest(
        f"context '{text}' is not a git URL (https://host/org/repo.git#branch:folder), a tarball URL or "
        "/dev/null; local folders are for `slipway build` and `slipway run`",
        target="context",
    )


def validate_task_name(name: str) -> str:
    if not TASK_NAME.match(name or ""):
        raise InvalidRequest(
            f"task name {name!r} is invalid; use 2 to 50 letters, digits, '-' or '_', starting with a letter or digit",
            target="name",
        )
    return name


def parse_timer(text: str, index: int) -> TimerTrigger:
    """`--schedule` values: `cron` or `name:cron` (ACR names unnamed timers t1, t2, …)."""
    from core.cron import parse_cron

    name, sep, schedule = text.partition(":")
    if not sep or " " in name.strip():
        name, schedule = f"t{index + 1}", text
    name, schedule = name.strip(), schedule.strip()
    if not TIMER_NAME.match(name):
        raise InvalidRequest(f"timer name {name!r} is invalid; use letters, digits, '-' or '_'", target="schedule")
    if len(schedule.split()) != 5:
        raise InvalidRequest(
            f"schedule '{schedule}' must have 5 fields (minute hour day month day-of-week), in UTC, e.g. '0 3 * * *'",
            target="schedule",
        )
    parse_cron(schedule, with_seconds=False)
    return TimerTrigger(name=name, schedule=schedule)


def kind_for_file(file_name: str | None, has_cmd: bool) -> TaskKind:
    """ACR: a `-f` ending in .yaml/.yml is a task file, anything else a Dockerfile."""
    if has_cmd:
        return TaskKind.ENCODED
    if file_name and file_name.lower().endswith(FILE_TASK_SUFFIXES):
        return TaskKind.FILE
    return TaskKind.DOCKER


def task_to_document(task: Task) -> dict[str, Any]:
    return {
        "name": task.name,
        "kind": task.kind.value,
        "context": task.context,
        "status": task.status.value,
        "platform": task.platform,
        "timeout": task.timeout,
        "dockerfile": task.dockerfile,
        "imageNames": list(task.image_names),
        "buildArgs": dict(task.build_args),
        "target": task.target,
        "push": task.push,
        "noCache": task.no_cache,
        "taskFile": task.task_file,
        "encodedTask": task.encoded_task,
        "values": [{"name": k, "value": v} for k, v in task.values],
        "valuesFile": task.values_file,
        "secretArguments": [{"name": k, "value": v, "isSecret": True} for k, v in task.secret_build_args],
        "secretValues": [{"name": k, "value": v, "isSecret": True} for k, v in task.secret_values],
        "sourceTrigger": {
            "commitEnabled": task.source_trigger.commit_enabled,
            "pullRequestEnabled": task.source_trigger.pull_request_enabled,
            "branch": task.source_trigger.branch,
            "includePaths": list(task.source_trigger.include_paths),
            "excludePaths": list(task.source_trigger.exclude_paths),
        },
        "timers": [{"name": t.name, "schedule": t.schedule, "enabled": t.enabled} for t in task.timers],
        "baseImageTrigger": {"enabled": task.base_image_trigger.enabled, "type": task.base_image_trigger.type.value},
        "concurrencyPolicy": task.concurrency.value,
        "identity": list(task.identity),
        "created": task.created.isoformat() if task.created else None,
        "updated": task.updated.isoformat() if task.updated else None,
    }


def task_from_document(document: Mapping[str, Any]) -> Task:
    source = document.get("sourceTrigger") or {}
    base = document.get("baseImageTrigger") or {}
    return Task(
        name=document["name"],
        kind=TaskKind(document["kind"]),
        context=document["context"],
        status=TaskStatus(document.get("status", "Enabled")),
        platform=document.get("platform", "linux/amd64"),
        timeout=int(document.get("timeout", 3600)),
        dockerfile=document.get("dockerfile") or "Dockerfile",
        image_names=tuple(document.get("imageNames") or ()),
        build_args=dict(document.get("buildArgs") or {}),
        target=document.get("target"),
        push=bool(document.get("push", True)),
        no_cache=bool(document.get("noCache", False)),
        task_file=document.get("taskFile"),
        encoded_task=document.get("encodedTask"),
        values=tuple((v["name"], v["value"]) for v in document.get("values") or ()),
        values_file=document.get("valuesFile"),
        secret_build_args=tuple((v["name"], v["value"]) for v in document.get("secretArguments") or ()),
        secret_values=tuple((v["name"], v["value"]) for v in document.get("secretValues") or ()),
        source_trigger=SourceTrigger(
            commit_enabled=bool(source.get("commitEnabled", False)),
            pull_request_enabled=bool(source.get("pullRequestEnabled", False)),
            branch=source.get("branch") or DEFAULT_BRANCH,
            include_paths=tuple(source.get("includePaths") or ()),
            exclude_paths=tuple(source.get("excludePaths") or ()),
        ),
        timers=tuple(
            TimerTrigger(t["name"], t["schedule"], bool(t.get("enabled", True))) for t in document.get("timers") or ()
        ),
        base_image_trigger=BaseImageTrigger(
            enabled=bool(base.get("enabled", True)), type=BaseImageTriggerType(base.get("type", "Runtime"))
        ),
        concurrency=ConcurrencyPolicy(document.get("concurrencyPolicy", "queue")),
        identity=tuple(document.get("identity") or ()),
        created=datetime.fromisoformat(document["created"]) if document.get("created") else None,
        updated=datetime.fromisoformat(document["updated"]) if document.get("updated") else None,
    )


def secret_context(task_name: str, kind: str) -> str:
    """What a task's sealed `arguments` or `values` are bound to."""
    return f"task/{task_name.lower()}/{kind}"


def public_task_document(task: Task) -> dict[str, Any]:
    """The task as the API shows it: secret entries by name only."""
    document = task_to_document(task)
    for key in ("secretArguments", "secretValues"):
        document[key] = [{"name": entry["name"], "isSecret": True, "value": None} for entry in document[key]]
    return document
