"""GitHub webhook deliveries: signature checks and one normalised `SourceEvent` per delivery.

Intake calls `verify_github_signature` on the raw body, then `parse_github_event`, and puts
`event_to_document(event)` on the events queue; the decision worker turns it back with
`event_from_document` and hands it to `core.trigger_matching`. Only what a trigger decision needs is
kept: never the raw payload (deliveries reach 25 MB, queue messages stop at 64 KB).

Changed files of a push are the union of `added`, `modified` and `removed` over `commits[]`. That list
is only as good as GitHub's: it holds at most 2048 commits, is empty when a branch is created at an
existing commit, and misses the files of dropped commits on a force push. `ChangedFiles.complete`
says whether it can be trusted, and `note` says why not, so path filters can decide conservatively.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from core.errors import InvalidRequest, Unauthorized

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
MAX_COMMITS = 2048  # GitHub lists at most this many commits in a push payload
# Changed paths travel in the queue message (64 KiB, base64-encoded): past this many characters the
# list is cut and marked incomplete, which makes path filters let the push through.
MAX_CHANGED_PATH_CHARS = 24_000
MAX_MESSAGE_CHARS = 500
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_ZERO_SHA = re.compile(r"0+")


class EventKind(StrEnum):
    PING = "ping"
    PUSH = "push"
    PULL_REQUEST = "pull_request"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Repository:
    full_name: str  # "octo-org/hello-world"
    clone_url: str
    html_url: str
    ssh_url: str
    private: bool


@dataclass(frozen=True)
class ChangedFiles:
    """Paths a push changed; when `complete` is False the real set may be larger (see `note`)."""

    paths: tuple[str, ...]
    complete: bool
    note: str = ""


@dataclass(frozen=True)
class Push:
    ref: str  # "refs/heads/main", "refs/tags/v1"
    branch: str | None  # set for refs/heads/…
    tag: str | None  # set for refs/tags/…
    before: str
    after: str  # the pushed commit: what a run builds
    created: bool
    deleted: bool
    forced: bool
    changed_files: ChangedFiles
    commit_count: int
    head_commit_message: str = ""
    head_commit_author: str = ""
    pusher: str = ""


@dataclass(frozen=True)
class PullRequest:
    action: str  # opened, synchronize, reopened, closed, edited, labeled, …
    number: int
    head_sha: str
    head_ref: str  # the PR's own branch (in the fork, for cross-repository PRs)
    head_clone_url: str  # "" when the fork was deleted
    head_full_name: str
    base_ref: str  # the branch the PR targets
    base_sha: str
    base_clone_url: str
    base_full_name: str
    merged: bool
    title: str = ""

    @property
    def from_fork(self) -> bool:
        return self.head_full_name.lower() != self.base_full_name.lower()


@dataclass(frozen=True)
class Ping:
    zen: str
    hook_id: int | None
    events: tuple[str, ...]  # what the hook subscribes to, e.g. ("push", "pull_request")


@dataclass(frozen=True)
class SourceEvent:
    kind: EventKind
    delivery_id: str
    event_name: str  # the X-GitHub-Event header, e.g. "push"
    repository: Repository | None  # None only for ignored events and org-level pings
    push: Push | None = None
    pull_request: PullRequest | None = None
    ping: Ping | None = None
    ignored_reason: str = ""
    sender: str = ""

    @property
    def summary(self) -> str:
        """One line for logs, the 202 body and the event inbox."""
        repo = self.repository.full_name if self.repository else "no repository"
        if self.push is not None:
            push = self.push
            if push.deleted:
                return f"deletion of {push.ref} in {repo}"
            target = f"branch '{push.branch}'" if push.branch else f"tag '{push.tag}'" if push.tag else push.ref
            files = f"{len(push.changed_files.paths)}{'' if push.changed_files.complete else '+'} files changed"
            return f"push to {target} of {repo} at {push.after[:7]} ({files})"
        if self.pull_request is not None:
            pr = self.pull_request
            return f"pull request #{pr.number} {pr.action} in {repo}: '{pr.head_ref}' into '{pr.base_ref}'"
        if self.ping is not None:
            return f"ping from hook {self.ping.hook_id} ({repo}), events: {', '.join(self.ping.events) or 'none'}"
        return f"ignored: {self.ignored_reason}"


def verify_github_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Raise `Unauthorized` unless `header` is `sha256=<HMAC-SHA256 of body>` under one of `secrets`.

    Several secrets may be active at once so a webhook secret can be rotated without dropping
    deliveries. Every secret is tried (no early exit) and compared in constant time.
    """
    keys = [secret.encode() for secret in secrets if secret]
    if not keys:
        raise Unauthorized(
            "this server has no GitHub webhook secret configured, so it cannot verify deliveries; "
            "configure one and set the same secret on the webhook",
            target=SIGNATURE_HEADER,
        )
    if not header:
        raise Unauthorized(
            f"the delivery has no {SIGNATURE_HEADER} header; set a secret on the GitHub webhook so GitHub signs "
            "its deliveries",
            target=SIGNATURE_HEADER,
        )
    found = _SIGNATURE.fullmatch(header.strip())
    if found is None:
        hint = (
            " (sha1= is the legacy X-Hub-Signature scheme, which Slipway does not accept)" if "sha1=" in header else ""
        )
        raise Unauthorized(
            f"the {SIGNATURE_HEADER} header is malformed: expected 'sha256=' and 64 hex digits{hint}",
            target=SIGNATURE_HEADER,
        )
    given = bytes.fromhex(found.group(1))
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(hmac.digest(key, body, hashlib.sha256), given)
    if not matched:
        raise Unauthorized(
            f"the {SIGNATURE_HEADER} signature does not match the body under any configured secret; check that the "
            "webhook's secret matches the server's and that nothing between GitHub and Slipway re-encodes the body",
            target=SIGNATURE_HEADER,
        )


def parse_github_event(event_name: str, delivery_id: str, body: bytes) -> SourceEvent:
    """Normalise one delivery; `InvalidRequest` names the header or payload field that is wrong.

    `parse_github_event("push", "72d3162e-…", body).push.branch` → `"main"`.
    """
    if not event_name:
        raise InvalidRequest(f"the {EVENT_HEADER} header is missing", target=EVENT_HEADER)
    validate_delivery_id(delivery_id)
    if event_name not in _PARSERS:
        return SourceEvent(
            kind=EventKind.IGNORED,
            delivery_id=delivery_id,
            event_name=event_name,
            repository=None,
            ignored_reason=(
                f"GitHub event '{event_name}' does not trigger tasks; Slipway acts on push and pull_request "
                "(and answers ping)"
            ),
        )
    payload = _load(body)
    return _PARSERS[event_name](delivery_id, payload)


def validate_delivery_id(delivery_id: str) -> str:
    if not _DELIVERY_ID.fullmatch(delivery_id or ""):
        raise InvalidRequest(
            f"the {DELIVERY_HEADER} header is missing or not a delivery GUID (letters, digits, '.', ':', '-')",
            target=DELIVERY_HEADER,
        )
    return delivery_id


def _load(body: bytes) -> Mapping[str, Any]:
    if body.startswith(b"payload="):  # the webhook's "application/x-www-form-urlencoded" content type
        form = parse_qs(body.decode("utf-8", "replace"))
        body = form.get("payload", [""])[0].encode()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            "the delivery body is not JSON; set the webhook's content type to application/json", target="body"
        ) from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the delivery body must be a JSON object", target="body")
    return payload


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _field(data: Mapping[str, Any], path: str, kind: type) -> Any:
    value = _lookup(data, path)
    # bool is an int in Python; GitHub's numbers are never booleans.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidRequest(f"the payload field '{path}' is missing or not a {_JSON_NAMES[kind]}", target=path)
    return value


_JSON_NAMES: Mapping[type, str] = {str: "string", int: "number", dict: "object", list: "array"}


def _optional_text(data: Mapping[str, Any], path: str) -> str:
    value = _lookup(data, path)
    return value if isinstance(value, str) else ""


def _repository(payload: Mapping[str, Any], path: str = "repository") -> Repository:
    data = _field(payload, path, dict)
    return Repository(
        full_name=_field(payload, f"{path}.full_name", str),
        clone_url=_field(payload, f"{path}.clone_url", str),
        html_url=_optional_text(data, "html_url"),
        ssh_url=_optional_text(data, "ssh_url"),
        private=data.get("private") is True,
    )


def _is_zero(sha: str) -> bool:
    return bool(_ZERO_SHA.fullmatch(sha))


def _json_size(path: str) -> int:
    # json.dumps escapes non-ASCII characters as \uXXXX (up to 12 characters for a surrogate pair).
    return len(path) + 3 if path.isascii() else len(path) * 12 + 3


def _changed_files(commits: list[Any], *, created: bool, forced: bool) -> ChangedFiles:
    paths: set[str] = set()
    for index, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise InvalidRequest(f"the payload field 'commits[{index}]' is not an object", target=f"commits[{index}]")
        for name in ("added", "modified", "removed"):
            for path in commit.get(name) or ():
                if isinstance(path, str):
                    paths.add(path)
    ordered = tuple(sorted(paths))
    note = ""
    if not commits:
        note = (
            "the push lists no commits (a new branch at an existing commit, or a branch moved back), so its changed "
            "files are unknown"
            if created or forced
            else "the push lists no commits, so its changed files are unknown"
        )
    elif len(commits) >= MAX_COMMITS:
        note = f"the push has {MAX_COMMITS} or more commits and GitHub lists only the first {MAX_COMMITS}"
    elif forced:
        note = "the push was forced, and GitHub lists only the new commits, not the files of the commits it dropped"
    if sum(map(_json_size, ordered)) > MAX_CHANGED_PATH_CHARS:
        kept: list[str] = []
        total = 0
        for path in ordered:
            total += _json_size(path)
            if total > MAX_CHANGED_PATH_CHARS:
                break
            kept.append(path)
        extra = f"the push changed {len(ordered)} files; Slipway keeps the first {len(kept)}"
        return ChangedFiles(paths=tuple(kept), complete=False, note=f"{note}; {extra}" if note else extra)
    return ChangedFiles(paths=ordered, complete=not note, note=note)


def _parse_push(delivery_id: str, payload: Mapping[str, Any]) -> SourceEvent:
    ref = _field(payload, "ref", str)
    before = _field(payload, "before", str)
    after = _field(payload, "after", str)
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise InvalidRequest("the payload field 'commits' is not an array", target="commits")
    created = payload.get("created") is True or _is_zero(before)
    forced = payload.get("forced") is True
    head = payload.get("head_commit")  # null when a branch is deleted
    head = head if isinstance(head, dict) else {}
    push = Push(
        ref=ref,
        branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None,
        tag=ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else None,
        before=before,
        after=after,
        created=created,
        deleted=payload.get("deleted") is True or _is_zero(after),
        forced=forced,
        changed_files=_changed_files(commits, created=created, forced=forced),
        commit_count=len(commits),
        head_commit_message=_optional_text(head, "message")[:MAX_MESSAGE_CHARS],
        head_commit_author=_optional_text(head, "author.username") or _optional_text(head, "author.name"),
        pusher=_optional_text(payload, "pusher.name"),
    )
    return SourceEvent(
        kind=EventKind.PUSH,
        delivery_id=delivery_id,
        event_name="push",
        repository=_repository(payload),
        push=push,
        sender=_optional_text(payload, "sender.login"),
    )


def _parse_pull_request(delivery_id: str, payload: Mapping[str, Any]) -> SourceEvent:
    base_repository = _repository(payload)
    head_repo = _lookup(payload, "pull_request.head.repo")  # null when the fork was deleted
    pr = PullRequest(
        action=_field(payload, "action", str),
        number=_field(payload, "number", int),
        head_sha=_field(payload, "pull_request.head.sha", str),
        head_ref=_field(payload, "pull_request.head.ref", str),
        head_clone_url=_optional_text(head_repo, "clone_url") if isinstance(head_repo, dict) else "",
        head_full_name=_optional_text(head_repo, "full_name") if isinstance(head_repo, dict) else "",
        base_ref=_field(payload, "pull_request.base.ref", str),
        base_sha=_field(payload, "pull_request.base.sha", str),
        base_clone_url=base_repository.clone_url,
        base_full_name=base_repository.full_name,
        merged=_lookup(payload, "pull_request.merged") is True,
        title=_optional_text(payload, "pull_request.title")[:MAX_MESSAGE_CHARS],
    )
    return SourceEvent(
        kind=EventKind.PULL_REQUEST,
        delivery_id=delivery_id,
        event_name="pull_request",
        repository=base_repository,
        pull_request=pr,
        sender=_optional_text(payload, "sender.login"),
    )


def _parse_ping(delivery_id: str, payload: Mapping[str, Any]) -> SourceEvent:
    hook_id = payload.get("hook_id")
    events = _lookup(payload, "hook.events")
    return SourceEvent(
        kind=EventKind.PING,
        delivery_id=delivery_id,
        event_name="ping",
        repository=_repository(payload) if isinstance(payload.get("repository"), dict) else None,
        ping=Ping(
            zen=_optional_text(payload, "zen"),
            hook_id=hook_id if isinstance(hook_id, int) and not isinstance(hook_id, bool) else None,
            events=tuple(e for e in events if isinstance(e, str)) if isinstance(events, list) else (),
        ),
        sender=_optional_text(payload, "sender.login"),
    )


_PARSERS = {"push": _parse_push, "pull_request": _parse_pull_request, "ping": _parse_ping}


def _plain(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(vars(value))


def event_to_document(event: SourceEvent) -> dict[str, Any]:
    """The event as JSON-ready data for the events queue (small: no raw payload)."""
    # A shallow copy per level: dataclasses.asdict deep-copies every value and costs ~10x more.
    document = dict(vars(event))
    document.update(
        kind=event.kind.value,
        repository=_plain(event.repository),
        pull_request=_plain(event.pull_request),
        ping=_plain(event.ping),
        push=_plain(event.push),
    )
    if event.push is not None:
        document["push"]["changed_files"] = _plain(event.push.changed_files)
    return document


def _push_from_document(push: Mapping[str, Any]) -> Push:
    files = push["changed_files"]
    return Push(**{**push, "changed_files": ChangedFiles(**{**files, "paths": tuple(files["paths"])})})


def event_from_document(document: Mapping[str, Any]) -> SourceEvent:
    """Inverse of `event_to_document`; `InvalidRequest` if the message is not one of ours."""
    try:
        repository, push = document.get("repository"), document.get("push")
        pull_request, ping = document.get("pull_request"), document.get("ping")
        return SourceEvent(
            kind=EventKind(document["kind"]),
            delivery_id=validate_delivery_id(document["delivery_id"]),
            event_name=str(document["event_name"]),
            repository=Repository(**repository) if repository else None,
            push=_push_from_document(push) if push else None,
            pull_request=PullRequest(**pull_request) if pull_request else None,
            ping=Ping(**{**ping, "events": tuple(ping["events"])}) if ping else None,
            ignored_reason=str(document.get("ignored_reason", "")),
            sender=str(document.get("sender", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidRequest(f"the queued event is not a Slipway source event: {error}", target="event") from None
