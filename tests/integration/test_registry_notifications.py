"""A real registry's push notifications, end to end: distribution → our parser → the base-image index."""

import io
import secrets
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.base_images import DecisionReason, ensure_index, index_run_dependencies, tasks_to_trigger
from core.dockerfile_deps import DockerfileDependencies, parse_image_reference, render_dependency_report
from core.memory_storage import MemoryTableStore
from core.registry_client import manifest_digest
from core.registry_events import ImagePushed, RegistryEvents, classify_registry_request, verify_event_token
from core.tasks import BaseImageTriggerType, Task, TaskKind
from slipway_host.stack import free_port, start_registry
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Delivery:
    method: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny webhook endpoint on loopback that keeps every request the registry sends."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with holder[0].lock:
                holder[0].deliveries.append(Delivery("POST", dict(self.headers.items()), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(url=f"http://127.0.0.1:{server.server_port}/events"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Registry:
    host: str
    token: str


@pytest.fixture
def registry(receiver: Receiver, tmp_path: Path) -> Iterator[Registry]:
    port, token = free_port(), secrets.token_hex(16)
    service = start_registry(tmp_path / "registry", port, notify_url=receiver.url, notify_token=token)
    yield Registry(f"127.0.0.1:{port}", token)
    service.stop()


def pushes_of(receiver: Receiver, registry: Registry, repository: str) -> list[ImagePushed]:
    """Every tag push of `repository` the registry notified, each delivery authenticated and parsed."""
    found: list[ImagePushed] = []
    for delivery in receiver.received():
        verify_event_token(delivery.headers, [registry.token])
        result = classify_registry_request(
            delivery.method, delivery.headers, delivery.body, default_registry=registry.host
        )
        assert isinstance(result, RegistryEvents)
        found += [p for p in result.pushed if p.repository == repository]
    return found


def push(engine: Any, reference: str, tag: str) -> str:
    digests = [
        line["aux"]["Digest"]
        for line in engine.push(reference, tag=tag, stream=True, decode=True)
        if "aux" in line and "Digest" in line["aux"]
    ]
    assert len(digests) == 1, f"push of {reference}:{tag} reported no digest"
    return str(digests[0])


def tiny_image(engine: Any, repository: str, tag: str) -> None:
    """A one-file image, different from every other (nothing can be pulled here)."""
    content = secrets.token_hex(16).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entry = tarfile.TarInfo("marker.txt")
        entry.size = len(content)
        tar.addfile(entry, io.BytesIO(content))
    engine.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)


def test_a_registry_push_notification_drives_base_image_decisions(
    engine: Any, base_image: str, receiver: Receiver, registry: Registry
) -> None:
    repository = f"slipway-test/notify-{secrets.token_hex(3)}"
    local = f"{registry.host}/{repository}"
    engine.tag(base_image, local, "v1")
    try:
        pushed_digest = push(engine, local, "v1")
        [first] = wait_for(lambda: pushes_of(receiver, registry, repository), timeout=30, what="the push notification")

        assert first == ImagePushed(
            registry=registry.host,
            repository=repository,
            tag="v1",
            digest=pushed_digest,
            media_type="application/vnd.docker.distribution.manifest.v2+json",
            event_id=first.event_id,
            occurred_at=first.occurred_at,
        )
        assert manifest_digest(f"{local}:v1", timeout=10) == first.digest
        assert len(pushes_of(receiver, registry, repository)) == 1

        store = MemoryTableStore()
        ensure_index(store)
        runtime = parse_image_reference(f"{local}:v1").with_digest(first.digest)
        entries = render_dependency_report(
            [parse_image_reference(f"{registry.host}/app:1")], DockerfileDependencies(runtime, ())
        )
        index_run_dependencies(
            store, "app", entries, trigger_type_for_task=BaseImageTriggerType.RUNTIME, now=first.occurred_at
        )
        tasks = {"app": Task(name="app", kind=TaskKind.DOCKER, context="/dev/null")}

        assert push(engine, local, "v1") == first.digest
        second = wait_for(
            lambda: pushes_of(receiver, registry, repository)[1:], timeout=30, what="the re-push notification"
        )[0]
        assert second.digest == first.digest
        assert [d.reason for d in tasks_to_trigger(store, second, tasks)] == [DecisionReason.DIGEST_UNCHANGED]

        tiny_image(engine, local, "v1")
        changed_digest = push(engine, local, "v1")
        third = wait_for(
            lambda: pushes_of(receiver, registry, repository)[2:], timeout=30, what="the changed-image notification"
        )[0]
        assert third.digest == changed_digest != first.digest
        assert manifest_digest(f"{local}:v1", timeout=10) == changed_digest
        [decision] = tasks_to_trigger(store, third, tasks)
        assert (decision.trigger, decision.previous_digest, decision.digest) == (True, first.digest, changed_digest)
    finally:
        engine.remove_image(f"{local}:v1", force=True)
