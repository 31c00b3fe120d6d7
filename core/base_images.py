"""The base-image dependency index, and which tasks a registry push triggers (ACR's base image update trigger).

After each successful run, `index_run_dependencies` records the base images its builds used (from the
dependency report), replacing what the task tracked before. When a tag is pushed (a registry event,
or a digest change found by polling), `tasks_to_trigger` reads that tag's index partition in one query
and decides, per dependent task, whether to queue a run and why.

What counts as an update (reference §3): the manifest digest behind the tracked tag changed. The
last digest seen for each tag is kept in the tag's `head` row; a push is compared with it (or, before
any push was seen, with the digest each task was built with). Re-pushing the same digest, or pushing
a new tag, starts nothing. A retried notification (same event id) replays the same decisions with the
same idempotency keys, so the caller's run creation stays exactly-once.

Table `baseimageindex` (keys from the `*_keys` functions; image references are percent-escaped
because row keys may not contain `/`):
- partition `image-<registry/repository:tag>`: row `head` (digest last seen, the digest before it,
  the event that changed it) and one row `task-<name>` per dependent task (kind, digest at build);
- partition `task-<name>`: one row per tracked image (for `slipway task show`);
- partition `tracked`: one row per image ever tracked, with when it was last polled;
- partition `produced-<image>`: row `<digest>` holds the trigger chain of the run that pushed it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from core.dockerfile_deps import ImageReference, parse_image_reference
from core.errors import Conflict, SlipwayError, StorageError
from core.ports import Entity, TableStore
from core.registry_events import ImagePushed
from core.tasks import BaseImageTriggerType, Task

INDEX_TABLE = "baseimageindex"
MAX_CHAIN_LENGTH = 10
HEAD_ROW = "head"
TRACKED_PARTITION = "tracked"
_MAX_CAS_ATTEMPTS = 20


class DependencyKind(StrEnum):
    RUNTIME = "runtime"  # the final stage's base image
    BUILDTIME = "buildtime"  # any other stage's base image


class DecisionReason(StrEnum):
    TRIGGERED = "Triggered"
    DIGEST_UNCHANGED = "DigestUnchanged"
    ALREADY_BUILT = "AlreadyBuiltWithDigest"
    STALE_EVENT = "StaleEvent"
    TASK_NOT_FOUND = "TaskNotFound"
    TASK_DISABLED = "TaskDisabled"
    TRIGGER_DISABLED = "BaseImageTriggerDisabled"
    BUILDTIME_DEPENDENCY = "BuildTimeDependency"
    CYCLE = "TriggerCycle"
    CHAIN_TOO_LONG = "TriggerChainTooLong"


@dataclass(frozen=True)
class TrackedImage:
    """One base image a task tracks; `current_digest` is the latest the tag was seen at ("" if never)."""

    image: str  # registry/repository:tag
    kind: DependencyKind
    digest: str  # the digest the task was last built with ("" when the engine did not know it)
    triggers: bool  # whether a change starts the task under its base-image trigger type
    indexed_at: datetime | None = None
    current_digest: str = ""


@dataclass(frozen=True)
class IndexResult:
    tracked: tuple[TrackedImage, ...]
    skipped: tuple[str, ...]  # dependencies not tracked, each with the reason


@dataclass(frozen=True)
class BaseImageDecision:
    """Whether one task runs for one push, why, and the key that makes its run creation idempotent."""

    task: str
    image: str
    kind: DependencyKind
    trigger: bool
    reason: DecisionReason
    message: str
    digest: str
    previous_digest: str
    event_id: str
    idempotency_key: str
    chain: tuple[str, ...]  # the tasks so far, ending with this one; store it on the run


@dataclass(frozen=True)
class _Dependency:
    reference: ImageReference
    kind: DependencyKind
    digest: str


def _escape(text: str) -> str:
    return quote(text, safe=":@")


def image_key(reference: ImageReference) -> str:
    """`registry/repository:tag` with the registry lower-cased: the name pushes and dependencies share."""
    return f"{reference.registry.lower()}/{reference.repository}:{reference.tag}"


def image_partition(image: str) -> str:
    return f"image-{_escape(image)}"


def image_head_keys(image: str) -> tuple[str, str]:
    return image_partition(image), HEAD_ROW


def image_dependency_keys(image: str, task: str) -> tuple[str, str]:
    return image_partition(image), f"task-{task.lower()}"


def task_dependency_keys(task: str, image: str) -> tuple[str, str]:
    return f"task-{task.lower()}", _escape(image)


def tracked_image_keys(image: str) -> tuple[str, str]:
    return TRACKED_PARTITION, _escape(image)


def produced_image_keys(image: str, digest: str) -> tuple[str, str]:
    return f"produced-{_escape(image)}", digest


def ensure_index(store: TableStore) -> None:
    store.ensure_table(INDEX_TABLE)


def _triggers(kind: DependencyKind, trigger_type: BaseImageTriggerType) -> bool:
    return kind is DependencyKind.RUNTIME or trigger_type is BaseImageTriggerType.ALL


def _dependencies(report_entries: Iterable[Mapping[str, Any]]) -> tuple[dict[str, _Dependency], list[str]]:
    found: dict[str, _Dependency] = {}
    skipped: list[str] = []
    for entry in report_entries:
        runtime = entry.get("runtime-dependency")
        candidates = [(runtime, DependencyKind.RUNTIME)] if runtime else []
        candidates += [(d, DependencyKind.BUILDTIME) for d in entry.get("buildtime-dependency") or ()]
        for raw, kind in candidates:
            if not isinstance(raw, Mapping):
                continue
            written = str(raw.get("reference") or "")
            if "@" in written:
                skipped.append(f"{written}: pinned by digest, so a push to its tag cannot change what the task builds")
                continue
            if not raw.get("tag"):
                skipped.append(f"{written or raw.get('repository')}: has no tag to follow")
                continue
            try:
                reference = parse_image_reference(f"{raw['registry']}/{raw['repository']}:{raw['tag']}")
            except (SlipwayError, KeyError) as error:
                skipped.append(f"{written}: not a valid image reference ({error})")
                continue
            image = image_key(reference)
            digest = str(raw.get("digest") or "")
            known = found.get(image)
            if known is None or (kind is DependencyKind.RUNTIME and known.kind is DependencyKind.BUILDTIME):
                found[image] = _Dependency(reference, kind, digest or (known.digest if known else ""))
            elif not known.digest and digest:
                found[image] = _Dependency(known.reference, known.kind, digest)
    return found, list(dict.fromkeys(skipped))


def index_run_dependencies(
    store: TableStore,
    task_name: str,
    report_entries: Iterable[Mapping[str, Any]],
    *,
    trigger_type_for_task: BaseImageTriggerType,
    now: datetime,
) -> IndexResult:
    """Make the task track exactly the base images of this successful run's dependency report.

    Both kinds are always recorded, so changing the trigger type later needs no rebuild;
    `trigger_type_for_task` only fills `TrackedImage.triggers` in the result. Write order keeps the
    task's own partition a superset of its image rows, so a crash half-way is repaired by the next run.
    """
    found, skipped = _dependencies(report_entries)
    task_partition = task_dependency_keys(task_name, "")[0]
    previous = {str(e.properties.get("Image", "")) for e in store.query(INDEX_TABLE, task_partition)}
    stamp = now.isoformat()
    for image, dependency in found.items():
        partition, row = task_dependency_keys(task_name, image)
        store.upsert(
            INDEX_TABLE,
            {
                "PartitionKey": partition,
                "RowKey": row,
                "Image": image,
                "Kind": dependency.kind.value,
                "Digest": dependency.digest,
                "IndexedAt": stamp,
            },
        )
    for image, dependency in found.items():
        partition, row = image_dependency_keys(image, task_name)
        store.upsert(
            INDEX_TABLE,
            {
                "PartitionKey": partition,
                "RowKey": row,
                "TaskName": task_name,
                "Kind": dependency.kind.value,
                "Digest": dependency.digest,
                "IndexedAt": stamp,
            },
        )
        reference = dependency.reference
        _insert_if_absent(
            store,
            {
                "PartitionKey": TRACKED_PARTITION,
                "RowKey": tracked_image_keys(image)[1],
                "Image": image,
                "Registry": reference.registry.lower(),
                "Repository": reference.repository,
                "Tag": reference.tag,
                "PolledAt": "",
            },
        )
    for image in sorted(previous - set(found)):
        store.delete(INDEX_TABLE, *image_dependency_keys(image, task_name))
        store.delete(INDEX_TABLE, *task_dependency_keys(task_name, image))
    tracked = tuple(
        TrackedImage(image, d.kind, d.digest, _triggers(d.kind, trigger_type_for_task), now)
        for image, d in sorted(found.items())
    )
    return IndexResult(tracked=tracked, skipped=tuple(skipped))


def tracked_images(store: TableStore, task_name: str, *, trigger_type: BaseImageTriggerType) -> list[TrackedImage]:
    """What a task tracks, with the digest it was built with and the digest the tag points at now."""
    result: list[TrackedImage] = []
    for entity in store.query(INDEX_TABLE, task_dependency_keys(task_name, "")[0]):
        image = str(entity.properties["Image"])
        kind = DependencyKind(entity.properties["Kind"])
        head = store.get(INDEX_TABLE, *image_head_keys(image))
        indexed = entity.properties.get("IndexedAt")
        result.append(
            TrackedImage(
                image=image,
                kind=kind,
                digest=str(entity.properties.get("Digest", "")),
                triggers=_triggers(kind, trigger_type),
                indexed_at=datetime.fromisoformat(indexed) if indexed else None,
                current_digest=str(head.properties.get("Digest", "")) if head else "",
            )
        )
    return result


def forget_task(store: TableStore, task_name: str) -> None:
    """Stop tracking anything for a deleted task."""
    for entity in store.query(INDEX_TABLE, task_dependency_keys(task_name, "")[0]):
        image = str(entity.properties["Image"])
        store.delete(INDEX_TABLE, *image_dependency_keys(image, task_name))
        store.delete(INDEX_TABLE, *task_dependency_keys(task_name, image))


def record_produced_image(store: TableStore, image: str, digest: str, chain: Sequence[str]) -> None:
    """Remember which chain of triggered tasks pushed `digest` to `image`, for `chain_for_push`.

    `chain` ends with the task whose run pushed it (a manual run's chain is just its task).
    """
    partition, row = produced_image_keys(image_key(parse_image_reference(image)), digest)
    store.upsert(INDEX_TABLE, {"PartitionKey": partition, "RowKey": row, "Chain": json.dumps(list(chain))})


def chain_for_push(store: TableStore, pushed: ImagePushed) -> tuple[str, ...]:
    """The trigger chain behind a push that a Slipway run made; empty for anyone else's push."""
    entity = store.get(INDEX_TABLE, *produced_image_keys(pushed.image, pushed.digest))
    return tuple(json.loads(entity.properties["Chain"])) if entity else ()


def decision_key(pushed: ImagePushed, task_name: str) -> str:
    """The idempotency key of a base-image run: registry event id + digest + task (+ the image)."""
    text = "\n".join((pushed.event_id, pushed.digest, task_name.lower(), pushed.image))
    return f"baseimage-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def tasks_to_trigger(
    store: TableStore,
    pushed: ImagePushed,
    tasks: Mapping[str, Task],
    *,
    chain: Sequence[str] = (),
    max_chain: int = MAX_CHAIN_LENGTH,
) -> list[BaseImageDecision]:
    """Decide, for every task that tracks the pushed tag, whether it runs; record the tag's new digest.

    `tasks` maps names to the current tasks; `chain` is the trigger chain of the run that pushed the
    image (see `chain_for_push`). One partition query, one head write, whatever the number of tasks.
    """
    by_name = {name.lower(): task for name, task in tasks.items()}
    for _ in range(_MAX_CAS_ATTEMPTS):
        rows = store.query(INDEX_TABLE, image_partition(pushed.image))
        head = next((r for r in rows if r.properties["RowKey"] == HEAD_ROW), None)
        stale, previous, write = _compare_with_head(pushed, head)
        try:
            if write:
                _write_head(store, pushed, previous, head)
        except Conflict:  # includes ConcurrentUpdate: someone else recorded a push; compare again
            continue
        dependents = [r for r in rows if r.properties["RowKey"] != HEAD_ROW]
        return [
            _decide(pushed, row, tasks=by_name, stale=stale, previous=previous, chain=tuple(chain), max_chain=max_chain)
            for row in dependents
        ]
    raise StorageError(f"the last digest of {pushed.image} kept changing concurrently; the notification can be retried")


def _compare_with_head(pushed: ImagePushed, head: Entity | None) -> tuple[datetime | None, str | None, bool]:
    """(newer push already seen, the digest before this push (None: unknown), whether to record this push)."""
    if head is None:
        return None, None, True
    props = head.properties
    current = str(props.get("Digest", ""))
    seen_at = _parse_time(props.get("OccurredAt"))
    if current == pushed.digest and props.get("EventId") == pushed.event_id:
        return None, str(props.get("PreviousDigest") or "") or None, False  # a retry: replay
    if current == pushed.digest:
        return None, current, False
    if seen_at and pushed.occurred_at and pushed.occurred_at < seen_at:
        return seen_at, current, False
    return None, current or None, True


def _head_row(image: str, digest: str, previous: str, event_id: str, occurred_at: datetime | None) -> dict[str, Any]:
    partition, row = image_head_keys(image)
    return {
        "PartitionKey": partition,
        "RowKey": row,
        "Image": image,
        "Digest": digest,
        "PreviousDigest": previous,
        "EventId": event_id,
        "OccurredAt": occurred_at.isoformat() if occurred_at else "",
    }


def _write_head(store: TableStore, pushed: ImagePushed, previous: str | None, head: Entity | None) -> None:
    row = _head_row(pushed.image, pushed.digest, previous or "", pushed.event_id, pushed.occurred_at)
    if head is None:
        store.insert(INDEX_TABLE, row)
    else:
        store.replace(INDEX_TABLE, row, etag=head.etag)


def _decide(
    pushed: ImagePushed,
    row: Entity,
    *,
    tasks: Mapping[str, Task],
    stale: datetime | None,
    previous: str | None,
    chain: tuple[str, ...],
    max_chain: int,
) -> BaseImageDecision:
    props = row.properties
    name = str(props.get("TaskName", ""))
    kind = DependencyKind(props.get("Kind", DependencyKind.RUNTIME.value))
    built_with = str(props.get("Digest", ""))
    task = tasks.get(name.lower())
    image, new = pushed.image, _short(pushed.digest)
    before = previous if previous is not None else built_with
    reason, message = DecisionReason.TRIGGERED, ""
    if stale is not None:
        reason = DecisionReason.STALE_EVENT
        message = f"a newer push of {image} (at {stale.isoformat()}) was already handled; this notification came late"
    elif task is None:
        reason, message = DecisionReason.TASK_NOT_FOUND, f"task '{name}' no longer exists"
    elif not task.enabled:
        reason, message = DecisionReason.TASK_DISABLED, f"task '{name}' is disabled"
    elif not task.base_image_trigger.enabled:
        reason = DecisionReason.TRIGGER_DISABLED
        message = f"task '{name}' has its base image trigger turned off"
    elif kind is DependencyKind.BUILDTIME and task.base_image_trigger.type is BaseImageTriggerType.RUNTIME:
        reason = DecisionReason.BUILDTIME_DEPENDENCY
        message = (
            f"{image} is a build-time (intermediate stage) image of task '{name}', whose base image trigger "
            "type is Runtime; set it to All to rebuild on build-time image updates"
        )
    elif before == pushed.digest:
        reason = DecisionReason.DIGEST_UNCHANGED
        message = f"{image} still points at {new}; the same digest was pushed again"
    elif built_with == pushed.digest:
        reason = DecisionReason.ALREADY_BUILT
        message = f"task '{name}' was last built with {image} at {new} already"
    elif name.lower() in {c.lower() for c in chain}:
        reason = DecisionReason.CYCLE
        loop = " → ".join([*chain, name])
        message = f"task '{name}' already ran in this chain of base image triggers ({loop}); stopping the loop"
    elif len(chain) >= max_chain:
        reason = DecisionReason.CHAIN_TOO_LONG
        message = f"{len(chain)} tasks already ran in this chain of base image triggers (limit {max_chain})"
    else:
        was = f"from {_short(before)} " if before else "(no digest was recorded before) "
        message = f"base image {image} ({kind.value}) changed {was}to {new}"
    return BaseImageDecision(
        task=name,
        image=image,
        kind=kind,
        trigger=reason is DecisionReason.TRIGGERED,
        reason=reason,
        message=message,
        digest=pushed.digest,
        previous_digest=before,
        event_id=pushed.event_id,
        idempotency_key=decision_key(pushed, name),
        chain=(*chain, name),
    )


def _short(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _insert_if_absent(store: TableStore, row: Mapping[str, Any]) -> None:
    with contextlib.suppress(Conflict):
        store.insert(INDEX_TABLE, row)
