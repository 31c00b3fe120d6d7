import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.base_images import (
    MAX_CHAIN_LENGTH,
    BaseImageDecision,
    DecisionReason,
    DependencyKind,
    TrackedImage,
    chain_for_push,
    ensure_index,
    forget_task,
    index_run_dependencies,
    record_produced_image,
    tasks_to_trigger,
    tracked_images,
)
from core.dockerfile_deps import DockerfileDependencies, ImageReference, parse_image_reference, render_dependency_report
from core.errors import RegistryError
from core.memory_storage import MemoryTableStore
from core.registry_client import RegistryClient, claim_poll, manifest_digest, poll_tracked_images, tracked_tags
from core.registry_events import ImagePushed
from core.tasks import BaseImageTrigger, BaseImageTriggerType, Task, TaskKind, TaskStatus

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
D1, D2, D3 = (f"sha256:{c * 64}" for c in "123")
RUNTIME, ALL = BaseImageTriggerType.RUNTIME, BaseImageTriggerType.ALL


def ref(text: str, digest: str = "") -> ImageReference:
    return parse_image_reference(text).with_digest(digest)


def report(runtime: ImageReference | None, *buildtime: ImageReference, outputs: int = 1) -> list[dict[str, Any]]:
    images = [ref(f"myregistry.azurecr.io/app:v{i}") for i in range(outputs)]
    return json.loads(json.dumps(render_dependency_report(images, DockerfileDependencies(runtime, tuple(buildtime)))))


def task(name: str, *, trigger_type: BaseImageTriggerType = RUNTIME, **changes: Any) -> Task:
    return Task(
        name=name,
        kind=TaskKind.DOCKER,
        context="/dev/null",
        base_image_trigger=BaseImageTrigger(enabled=changes.pop("trigger_enabled", True), type=trigger_type),
        **changes,
    )


def pushed(image: str, digest: str, event_id: str = "event-1", occurred_at: datetime | None = None) -> ImagePushed:
    reference = parse_image_reference(image)
    return ImagePushed(
        reference.registry,
        reference.repository,
        reference.tag,
        digest,
        "application/vnd.oci.image.index.v1+json",
        event_id,
        occurred_at,
    )


@pytest.fixture
def store() -> MemoryTableStore:
    tables = MemoryTableStore()
    ensure_index(tables)
    return tables


def index(
    store: MemoryTableStore, name: str, entries: list[dict[str, Any]], trigger_type: BaseImageTriggerType = RUNTIME
) -> None:
    index_run_dependencies(store, name, entries, trigger_type_for_task=trigger_type, now=NOW)


def reasons(decisions: list[BaseImageDecision]) -> dict[str, DecisionReason]:
    return {d.task: d.reason for d in decisions}


def test_a_run_records_its_runtime_and_buildtime_base_images_with_the_digests_it_built_with(
    store: MemoryTableStore,
) -> None:
    entries = report(ref("node:20-alpine", D1), ref("golang:1.22", D2), outputs=2)

    result = index_run_dependencies(store, "app", entries, trigger_type_for_task=RUNTIME, now=NOW)

    assert result.tracked == (
        TrackedImage("registry.hub.docker.com/library/golang:1.22", DependencyKind.BUILDTIME, D2, False, NOW),
        TrackedImage("registry.hub.docker.com/library/node:20-alpine", DependencyKind.RUNTIME, D1, True, NOW),
    )
    assert tracked_images(store, "app", trigger_type=ALL) == [
        TrackedImage("registry.hub.docker.com/library/golang:1.22", DependencyKind.BUILDTIME, D2, True, NOW),
        TrackedImage("registry.hub.docker.com/library/node:20-alpine", DependencyKind.RUNTIME, D1, True, NOW),
    ]


def test_before_any_push_is_seen_each_task_is_compared_with_the_digest_it_was_built_with(
    store: MemoryTableStore,
) -> None:
    index(store, "stale", report(ref("node:20", D1)))
    index(store, "fresh", report(ref("node:20", D2)))

    decisions = tasks_to_trigger(store, pushed("node:20", D2), {"stale": task("stale"), "fresh": task("fresh")})

    assert reasons(decisions) == {"stale": DecisionReason.TRIGGERED, "fresh": DecisionReason.DIGEST_UNCHANGED}


def test_images_pinned_by_digest_or_without_a_tag_are_not_tracked_and_say_why(store: MemoryTableStore) -> None:
    pinned = parse_image_reference(f"node:20@{D1}")

    result = index_run_dependencies(store, "app", report(pinned), trigger_type_for_task=RUNTIME, now=NOW)

    assert result.tracked == ()
    assert result.skipped == (
        f"node:20@{D1}: pinned by digest, so a push to its tag cannot change what the task builds",
    )


def test_reindexing_replaces_the_set_so_a_dropped_base_image_stops_triggering(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1), ref("golang:1.22", D1)))
    index(store, "app", report(ref("node:22", D1)))

    assert [t.image for t in tracked_images(store, "app", trigger_type=RUNTIME)] == [
        "registry.hub.docker.com/library/node:22"
    ]
    assert tasks_to_trigger(store, pushed("node:20", D2), {"app": task("app")}) == []
    assert tasks_to_trigger(store, pushed("golang:1.22", D2), {"app": task("app")}) == []
    assert reasons(tasks_to_trigger(store, pushed("node:22", D2), {"app": task("app")})) == {
        "app": DecisionReason.TRIGGERED
    }


def test_a_new_digest_behind_the_tag_triggers_and_says_what_changed(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1)))

    [decision] = tasks_to_trigger(store, pushed("docker.io/library/node:20", D2), {"app": task("app")})

    assert decision.trigger
    assert decision.reason is DecisionReason.TRIGGERED
    assert decision.message == (
        "base image registry.hub.docker.com/library/node:20 (runtime) changed "
        "from sha256:111111111111 to sha256:222222222222"
    )
    assert (decision.previous_digest, decision.digest, decision.chain) == (D1, D2, ("app",))
    assert tracked_images(store, "app", trigger_type=RUNTIME)[0].current_digest == D2


def test_pushing_the_same_digest_again_or_a_new_tag_starts_nothing(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1)))
    tasks = {"app": task("app")}

    assert reasons(tasks_to_trigger(store, pushed("node:20", D1), tasks)) == {"app": DecisionReason.DIGEST_UNCHANGED}
    assert tasks_to_trigger(store, pushed("node:21", D2), tasks) == []
    assert reasons(tasks_to_trigger(store, pushed("node:20", D2, "e2"), tasks)) == {"app": DecisionReason.TRIGGERED}
    [again] = tasks_to_trigger(store, pushed("node:20", D2, "e3"), tasks)
    assert again.reason is DecisionReason.DIGEST_UNCHANGED
    assert (
        again.message == "registry.hub.docker.com/library/node:20 still points at sha256:222222222222; "
        "the same digest was pushed again"
    )


def test_a_retried_notification_replays_the_same_decision_with_the_same_idempotency_key(
    store: MemoryTableStore,
) -> None:
    index(store, "app", report(ref("node:20", D1)))
    tasks = {"app": task("app")}

    first = tasks_to_trigger(store, pushed("node:20", D2, "e1"), tasks)
    retry = tasks_to_trigger(store, pushed("node:20", D2, "e1"), tasks)
    other_event = tasks_to_trigger(store, pushed("node:20", D2, "e2"), tasks)

    assert retry == first
    assert first[0].trigger
    assert first[0].idempotency_key.startswith("baseimage-")
    assert not other_event[0].trigger


def test_idempotency_keys_differ_per_task_digest_and_event(store: MemoryTableStore) -> None:
    for name in ("a", "b"):
        index(store, name, report(ref("node:20", D1)))
    tasks = {"a": task("a"), "b": task("b")}

    keys = {d.idempotency_key for d in tasks_to_trigger(store, pushed("node:20", D2, "e1"), tasks)}
    keys |= {d.idempotency_key for d in tasks_to_trigger(store, pushed("node:20", D3, "e2"), tasks)}

    assert len(keys) == 4


def test_runtime_triggers_only_for_the_final_stage_and_all_also_for_build_stages(store: MemoryTableStore) -> None:
    index(store, "runtime-only", report(ref("alpine:3", D1), ref("golang:1.22", D1)))
    index(store, "everything", report(ref("alpine:3", D1), ref("golang:1.22", D1)))
    tasks = {"runtime-only": task("runtime-only"), "everything": task("everything", trigger_type=ALL)}

    build_stage = tasks_to_trigger(store, pushed("golang:1.22", D2), tasks)
    final_stage = tasks_to_trigger(store, pushed("alpine:3", D2), tasks)

    assert reasons(build_stage) == {
        "runtime-only": DecisionReason.BUILDTIME_DEPENDENCY,
        "everything": DecisionReason.TRIGGERED,
    }
    assert "set it to All" in next(d.message for d in build_stage if d.task == "runtime-only")
    assert reasons(final_stage) == {"runtime-only": DecisionReason.TRIGGERED, "everything": DecisionReason.TRIGGERED}


def test_an_image_used_as_runtime_by_one_build_step_and_buildtime_by_another_counts_as_runtime(
    store: MemoryTableStore,
) -> None:
    entries = report(ref("alpine:3", D1)) + report(ref("busybox:1", D1), ref("alpine:3", D1))
    index(store, "app", entries)

    assert {t.image: t.kind for t in tracked_images(store, "app", trigger_type=RUNTIME)} == {
        "registry.hub.docker.com/library/alpine:3": DependencyKind.RUNTIME,
        "registry.hub.docker.com/library/busybox:1": DependencyKind.RUNTIME,
    }


def test_disabled_tasks_disabled_triggers_and_deleted_tasks_do_not_run(store: MemoryTableStore) -> None:
    for name in ("off", "no-trigger", "gone", "on"):
        index(store, name, report(ref("node:20", D1)))
    tasks = {
        "off": task("off", status=TaskStatus.DISABLED),
        "no-trigger": task("no-trigger", trigger_enabled=False),
        "ON": task("ON"),
    }

    decisions = tasks_to_trigger(store, pushed("node:20", D2), tasks)

    assert reasons(decisions) == {
        "off": DecisionReason.TASK_DISABLED,
        "no-trigger": DecisionReason.TRIGGER_DISABLED,
        "gone": DecisionReason.TASK_NOT_FOUND,
        "on": DecisionReason.TRIGGERED,
    }
    assert {d.task: d.message for d in decisions if not d.trigger} == {
        "off": "task 'off' is disabled",
        "no-trigger": "task 'no-trigger' has its base image trigger turned off",
        "gone": "task 'gone' no longer exists",
    }


def test_a_task_already_built_with_the_pushed_digest_is_not_rebuilt(store: MemoryTableStore) -> None:
    index(store, "old", report(ref("node:20", D1)))
    tasks_to_trigger(store, pushed("node:20", D2, "e1"), {})  # nobody ran; the tag moved to D2
    index(store, "new", report(ref("node:20", D3)))  # built from a newer digest seen elsewhere

    decisions = tasks_to_trigger(store, pushed("node:20", D3, "e2"), {"old": task("old"), "new": task("new")})

    assert reasons(decisions) == {"old": DecisionReason.TRIGGERED, "new": DecisionReason.ALREADY_BUILT}


def test_a_late_notification_for_an_older_push_does_not_move_the_tag_back(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1)))
    tasks = {"app": task("app")}
    tasks_to_trigger(store, pushed("node:20", D3, "newer", NOW), tasks)

    [late] = tasks_to_trigger(store, pushed("node:20", D2, "older", NOW - timedelta(seconds=5)), tasks)

    assert late.reason is DecisionReason.STALE_EVENT
    assert tracked_images(store, "app", trigger_type=RUNTIME)[0].current_digest == D3


def test_a_chain_of_tasks_triggers_the_next_task_and_carries_the_chain(store: MemoryTableStore) -> None:
    index(store, "base", report(ref("alpine:3", D1)))
    index(store, "app", report(ref("myregistry.azurecr.io/base:1", D1)))
    tasks = {"base": task("base"), "app": task("app")}

    [base] = tasks_to_trigger(store, pushed("alpine:3", D2), tasks)
    record_produced_image(store, "myregistry.azurecr.io/base:1", D3, base.chain)
    push = pushed("myregistry.azurecr.io/base:1", D3, "e2")
    [app] = tasks_to_trigger(store, push, tasks, chain=chain_for_push(store, push))

    assert (base.trigger, base.chain) == (True, ("base",))
    assert (app.trigger, app.chain) == (True, ("base", "app"))
    assert chain_for_push(store, pushed("myregistry.azurecr.io/base:1", D2, "someone-else")) == ()


def test_a_task_already_in_the_chain_is_never_triggered_again(store: MemoryTableStore) -> None:
    index(store, "a", report(ref("myregistry.azurecr.io/b:1", D1)))
    index(store, "b", report(ref("myregistry.azurecr.io/a:1", D1)))
    tasks = {"a": task("a"), "b": task("b")}

    [decision] = tasks_to_trigger(store, pushed("myregistry.azurecr.io/b:1", D2), tasks, chain=("a", "b"))

    assert decision.reason is DecisionReason.CYCLE
    assert decision.message == (
        "task 'a' already ran in this chain of base image triggers (a → b → a); stopping the loop"
    )


def test_a_chain_longer_than_the_limit_stops_with_a_clear_reason(store: MemoryTableStore) -> None:
    index(store, "last", report(ref("myregistry.azurecr.io/t9:1", D1)))
    chain = tuple(f"t{i}" for i in range(MAX_CHAIN_LENGTH))

    [decision] = tasks_to_trigger(store, pushed("myregistry.azurecr.io/t9:1", D2), {"last": task("last")}, chain=chain)

    assert decision.reason is DecisionReason.CHAIN_TOO_LONG
    assert decision.message == "10 tasks already ran in this chain of base image triggers (limit 10)"


def test_a_task_without_a_recorded_digest_runs_on_the_first_push_seen(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20")))

    [decision] = tasks_to_trigger(store, pushed("node:20", D1), {"app": task("app")})

    assert decision.trigger
    assert "no digest was recorded before" in decision.message


def test_forgetting_a_task_removes_it_from_every_image_it_tracked(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1), ref("golang:1", D1)))

    forget_task(store, "app")

    assert tracked_images(store, "app", trigger_type=ALL) == []
    assert tasks_to_trigger(store, pushed("node:20", D2), {"app": task("app")}) == []


def test_one_push_that_a_thousand_tasks_depend_on_yields_a_thousand_decisions(store: MemoryTableStore) -> None:
    names = [f"task-{i:04d}" for i in range(1000)]
    for name in names:
        index(store, name, report(ref("myregistry.azurecr.io/base:1", D1), ref("golang:1.22", D1)))
    tasks = {name: task(name) for name in names}

    started = time.perf_counter()
    decisions = tasks_to_trigger(store, pushed("myregistry.azurecr.io/base:1", D2), tasks)
    elapsed = time.perf_counter() - started

    print(f"\nfan-out: {len(decisions)} base-image decisions in {elapsed * 1000:.1f} ms (in-memory table store)")
    assert sorted(d.task for d in decisions if d.trigger) == names
    assert len({d.idempotency_key for d in decisions}) == 1000


class FakeRegistry:
    """Answers manifest digests from a dict, counting questions; raises for hosts marked down."""

    def __init__(self, digests: dict[str, str], down: frozenset[str] = frozenset()) -> None:
        self.digests = digests
        self.down = down
        self.asked: list[str] = []

    def manifest_digest(self, reference: ImageReference) -> str | None:
        name = f"{reference.registry}/{reference.repository}:{reference.tag}"
        self.asked.append(name)
        if reference.registry in self.down:
            raise RegistryError(f"cannot reach {reference.registry}")
        return self.digests.get(name)


def test_polling_reports_changed_tags_once_per_interval_and_feeds_tasks_to_trigger(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1), ref("ghcr.io/org/tool:2", D1)), ALL)
    registry = FakeRegistry(
        {"registry.hub.docker.com/library/node:20": D2, "ghcr.io/org/tool:2": D1}, down=frozenset({"ghcr.io"})
    )

    first = poll_tracked_images(store, registry, NOW, timedelta(minutes=10))
    soon = poll_tracked_images(store, registry, NOW + timedelta(minutes=5), timedelta(minutes=10))

    assert [(p.image, p.digest) for p in first.pushed] == [("registry.hub.docker.com/library/node:20", D2)]
    assert [(f.image, f.message) for f in first.failed] == [("ghcr.io/org/tool:2", "cannot reach ghcr.io")]
    assert soon.checked == ()
    assert reasons(tasks_to_trigger(store, first.pushed[0], {"app": task("app")})) == {"app": DecisionReason.TRIGGERED}
    later = poll_tracked_images(store, registry, NOW + timedelta(minutes=11), timedelta(minutes=10))
    assert later.pushed == ()
    assert len(later.checked) == 2


def test_polling_skips_registries_that_send_events_and_tags_no_task_tracks_any_more(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("slipway.local:5000/base:1", D1), ref("node:20", D1)), ALL)
    index(store, "app", report(ref("slipway.local:5000/base:1", D1)), ALL)
    registry = FakeRegistry({})

    result = poll_tracked_images(store, registry, NOW, timedelta(minutes=10), skip_registries=["slipway.local:5000"])

    assert (result.checked, registry.asked) == ((), [])


def test_two_pollers_that_read_the_same_tag_at_once_claim_it_only_once(store: MemoryTableStore) -> None:
    index(store, "app", report(ref("node:20", D1)))
    [seen_by_first] = tracked_tags(store)
    [seen_by_second] = tracked_tags(store)

    claims = [claim_poll(store, seen_by_first, NOW), claim_poll(store, seen_by_second, NOW)]

    assert claims == [True, False]
    assert tracked_tags(store)[0].polled_at == NOW


def transport(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.MockTransport(record), seen


def test_manifest_digest_asks_with_every_manifest_media_type_and_reads_the_digest_header() -> None:
    mock, seen = transport(lambda request: httpx.Response(200, headers={"Docker-Content-Digest": D1}))

    assert manifest_digest("127.0.0.1:5000/team/base:1", transport=mock) == D1
    assert (seen[0].method, str(seen[0].url)) == ("HEAD", "http://127.0.0.1:5000/v2/team/base/manifests/1")
    accept = seen[0].headers["Accept"]
    for media_type in (
        "manifest.v2+json",
        "manifest.list.v2+json",
        "oci.image.manifest.v1+json",
        "oci.image.index.v1+json",
    ):
        assert media_type in accept


def test_docker_hub_images_are_asked_of_registry_1_with_an_anonymous_bearer_token() -> None:
    def hub(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.docker.io":
            assert request.url.params["scope"] == "repository:library/node:pull"
            assert request.url.params["service"] == "registry.docker.io"
            assert "Authorization" not in request.headers
            return httpx.Response(200, json={"token": "anon-token", "expires_in": 300})
        if request.headers.get("Authorization") == "Bearer anon-token":
            return httpx.Response(200, headers={"Docker-Content-Digest": D2})
        challenge = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    mock, seen = transport(hub)
    with RegistryClient(transport=mock) as client:
        assert client.manifest_digest(parse_image_reference("node:20")) == D2
        assert client.manifest_digest(parse_image_reference("node:20")) == D2

    assert [str(r.url).split("?")[0] for r in seen] == [
        "https://registry-1.docker.io/v2/library/node/manifests/20",
        "https://auth.docker.io/token",
        "https://registry-1.docker.io/v2/library/node/manifests/20",
        "https://registry-1.docker.io/v2/library/node/manifests/20",  # the cached token is reused
    ]


def test_configured_credentials_are_sent_to_the_token_service_and_basic_challenges() -> None:
    def private(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            assert request.headers["Authorization"].startswith("Basic ")
            return httpx.Response(200, json={"access_token": "t"})
        if request.url.host == "basic.example" and request.headers.get("Authorization", "").startswith("Basic "):
            return httpx.Response(200, headers={"Docker-Content-Digest": D1})
        if request.url.host == "basic.example":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="Registry"'})
        if request.headers.get("Authorization") == "Bearer t":
            return httpx.Response(200, headers={"Docker-Content-Digest": D3})
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": 'Bearer realm="https://my.azurecr.io/oauth2/token",service="my.azurecr.io"'},
        )

    mock, _ = transport(private)
    credentials = {"my.azurecr.io": ("user", "pass"), "basic.example": ("user", "pass")}
    with RegistryClient(credentials=credentials, transport=mock) as client:
        assert client.manifest_digest(parse_image_reference("my.azurecr.io/app:1")) == D3
        assert client.manifest_digest(parse_image_reference("basic.example/app:1")) == D1


def test_a_missing_tag_is_none_and_refusals_become_registry_errors() -> None:
    def answers(request: httpx.Request) -> httpx.Response:
        return {"/v2/gone/manifests/1": httpx.Response(404), "/v2/busy/manifests/1": httpx.Response(429)}.get(
            request.url.path, httpx.Response(401)
        )

    mock, _ = transport(answers)
    with RegistryClient(transport=mock) as client:
        assert client.manifest_digest(parse_image_reference("r.example/gone:1")) is None
        with pytest.raises(RegistryError, match="rate-limiting"):
            client.manifest_digest(parse_image_reference("r.example/busy:1"))
        with pytest.raises(RegistryError, match=r"give Slipway credentials for r\.example"):
            client.manifest_digest(parse_image_reference("r.example/private:1"))


def test_a_token_realm_that_is_not_https_is_refused() -> None:
    mock, _ = transport(
        lambda request: httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://evil.example/token"'})
    )

    with pytest.raises(RegistryError, match="not an https URL"):
        manifest_digest("r.example/app:1", transport=mock)


def test_a_registry_that_omits_the_digest_header_gets_the_digest_of_the_manifest_body() -> None:
    body = b'{"schemaVersion": 2}'
    mock, seen = transport(lambda request: httpx.Response(200, content=body if request.method == "GET" else b""))

    digest = manifest_digest("r.example/app:1", transport=mock)

    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert [r.method for r in seen] == ["HEAD", "GET"]


def test_network_failures_and_timeouts_become_registry_errors() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.example":
            raise httpx.ReadTimeout("timed out", request=request)
        raise httpx.ConnectError("refused", request=request)

    mock, _ = transport(fail)

    with pytest.raises(RegistryError, match="did not answer in time"):
        manifest_digest("slow.example/app:1", transport=mock)
    with pytest.raises(RegistryError, match=r"cannot reach down\.example"):
        manifest_digest("down.example/app:1", transport=mock)
