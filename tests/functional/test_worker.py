"""The run worker with in-memory storage and a scripted engine: lifecycle, logs, outputs, cancel."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import uuid

import pytest

from core.contexts import CONTEXTS_CONTAINER
from core.errors import InvalidRequest
from core.memory_engine import BuildScript, FakeEngine, PushScript
from core.reaper import fail_poisoned_run
from core.run_log import LOGS_CONTAINER, log_blob_name, read_log
from core.run_service import cancel_run, get_run, read_run_log, schedule_quick_build
from core.runs import RunStatus
from core.wiring import RUNS_QUEUE, Services
from core.worker import process_run
from tests.support.memory_services import memory_services

REGISTRY = "reg.test:5000"


@pytest.fixture
def services() -> Services:
    return memory_services(registry=REGISTRY, heartbeat_seconds=0.05, log_flush_seconds=0.01, push_retry_seconds=0.01)


def upload(services: Services, files: dict[str, str]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    services.ensure_storage()
    name = f"{uuid.uuid4().hex}.tar.gz"
    services.blobs.put(CONTEXTS_CONTAINER, name, buffer.getvalue())
    return name


def schedule(services: Services, files: dict[str, str] | None = None, **extra) -> str:
    source = upload(services, files or {"Dockerfile": "FROM reg.test:5000/base:1 AS b\nFROM reg.test:5000/run:2\n"})
    run = schedule_quick_build(services, {"type": "DockerBuildRequest", "sourceLocation": source, **extra})
    return run.run_id


def log_text(services: Services, run_id: str) -> str:
    chunk = read_log(services.blobs, run_id, offset=0)
    assert chunk is not None
    return chunk.data.decode()


def test_a_quick_build_is_queued_then_built_pushed_and_recorded(services: Services) -> None:
    engine = services.engine
    assert isinstance(engine, FakeEngine)
    engine.digests["reg.test:5000/run:2"] = ("reg.test:5000/run@sha256:" + "1" * 64,)
    run_id = schedule(services, imageNames=["app:{{.Run.ID}}", "app:latest"])
    assert json.loads(services.queues.drain(RUNS_QUEUE)[0]) == {"runId": run_id}
    assert get_run(services, run_id).status is RunStatus.QUEUED

    assert process_run(services, run_id) is RunStatus.SUCCEEDED

    run = get_run(services, run_id)
    assert run.status is RunStatus.SUCCEEDED
    assert [(i.repository, i.tag) for i in run.output_images] == [("app", run_id), ("app", "latest")]
    assert all(i.digest.startswith("sha256:") for i in run.output_images)
    assert engine.calls == [
        ("build", f"{REGISTRY}/app:{run_id}"),
        ("push", f"{REGISTRY}/app:{run_id}"),
        ("push", f"{REGISTRY}/app:latest"),
    ]
    entry = run.dependencies[0]
    assert entry["runtime-dependency"]["digest"] == "sha256:" + "1" * 64
    assert [d["reference"] for d in entry["buildtime-dependency"]] == ["reg.test:5000/base:1"]
    log = log_text(services, run_id)
    for expected in (
        "Executing step ID: build",
        "Step ID: build marked as successful",
        "Executing step ID: push",
        "Successfully pushed image: reg.test:5000/app:latest",
        "The following dependencies were found:",
        f"Run ID: {run_id} was successful after",
    ):
        assert expected in log
    assert read_log(services.blobs, run_id, offset=0).complete == "succeeded"


def test_a_second_delivery_of_the_same_message_does_not_run_it_again(services: Services) -> None:
    run_id = schedule(services, imageNames=["app:v1"])
    assert process_run(services, run_id) is RunStatus.SUCCEEDED
    assert process_run(services, run_id) is None
    assert [c for c in services.engine.calls if c[0] == "build"] == [("build", f"{REGISTRY}/app:v1")]


def test_a_failing_build_ends_failed_and_skips_the_push(services: Services) -> None:
    services.engine.builds[f"{REGISTRY}/app:v1"] = BuildScript(error="unknown instruction: RUNN")
    run_id = schedule(services, imageNames=["app:v1"])
    assert process_run(services, run_id) is RunStatus.FAILED
    run = get_run(services, run_id)
    assert run.error_message == "unknown instruction: RUNN"
    log = log_text(services, run_id)
    assert "Step ID: push was skipped" in log
    assert f"Run ID: {run_id} failed after" in log and "unknown instruction: RUNN" in log


def test_pushes_are_retried_and_an_unreachable_registry_fails_the_run_with_advice(services: Services) -> None:
    services.engine.pushes[f"{REGISTRY}/app:v1"] = PushScript(failures=5)
    run_id = schedule(services, imageNames=["app:v1"])
    assert process_run(services, run_id) is RunStatus.FAILED
    message = get_run(services, run_id).error_message or ""
    assert "after 3 attempts" in message and "reachable" in message
    assert log_text(services, run_id).count("Pushing image: reg.test:5000/app:v1, attempt") == 3


def test_a_bad_context_ends_failed_before_any_step(services: Services) -> None:
    run_id = schedule(services, files={"app.py": "print(1)\n"})
    assert process_run(services, run_id) is RunStatus.FAILED
    assert "Dockerfile" in (get_run(services, run_id).error_message or "")
    assert services.engine.calls == []


def test_cancel_of_a_running_build_stops_it_and_the_run_ends_canceled(services: Services) -> None:
    services.engine.builds[f"{REGISTRY}/app:v1"] = BuildScript(block_until_canceled=True)
    run_id = schedule(services, imageNames=["app:v1"])
    outcome: list[RunStatus | None] = []
    worker = threading.Thread(target=lambda: outcome.append(process_run(services, run_id)))
    worker.start()
    for _ in range(200):
        if get_run(services, run_id).status is RunStatus.RUNNING:
            break
        threading.Event().wait(0.01)
    cancel_run(services, run_id)
    worker.join(timeout=10)
    assert outcome == [RunStatus.CANCELED]
    assert read_log(services.blobs, run_id, offset=0).complete == "canceled"


def test_a_queued_run_canceled_before_a_worker_claims_it_is_never_built(services: Services) -> None:
    run_id = schedule(services, imageNames=["app:v1"])
    assert cancel_run(services, run_id).status is RunStatus.CANCELED
    assert process_run(services, run_id) is None
    assert services.engine.calls == []
    assert read_log(services.blobs, run_id, offset=0).complete == "canceled"


def test_a_run_past_its_timeout_ends_timeout(services: Services) -> None:
    services.engine.builds[f"{REGISTRY}/app:v1"] = BuildScript(block_until_canceled=True)
    run_id = schedule(services, imageNames=["app:v1"], timeout=1)
    assert process_run(services, run_id) is RunStatus.TIMEOUT
    assert "timed out" in log_text(services, run_id)


def test_a_poisoned_message_ends_its_run_as_error(services: Services) -> None:
    run_id = schedule(services, imageNames=["app:v1"])
    fail_poisoned_run(services, run_id)
    run = get_run(services, run_id)
    assert run.status is RunStatus.ERROR
    assert "queue message failed repeatedly" in (run.error_message or "")


def test_a_log_read_with_wait_returns_as_soon_as_new_text_is_stored(services: Services) -> None:
    run_id = schedule(services, imageNames=["app:v1"])
    sleeps: list[float] = []

    def run_the_build_while_the_reader_waits(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            assert process_run(services, run_id) is RunStatus.SUCCEEDED

    chunk = read_run_log(services, run_id, offset=0, wait_seconds=20, sleep=run_the_build_while_the_reader_waits)
    assert len(sleeps) == 3  # it waited while there was nothing, and stopped once the log had text
    assert chunk.data and chunk.complete == "succeeded"


def test_a_log_read_with_wait_gives_up_at_its_deadline_and_rejects_long_waits(services: Services) -> None:
    run_id = schedule(services, imageNames=["app:v1"])
    empty = read_run_log(services, run_id, offset=0, wait_seconds=0.3)
    assert empty.data == b"" and empty.complete is None
    with pytest.raises(InvalidRequest, match="wait must be between 0 and 25"):
        read_run_log(services, run_id, offset=0, wait_seconds=26)


def test_a_log_written_in_this_process_is_read_from_memory_and_matches_the_blob(services: Services) -> None:
    run_id = schedule(services, imageNames=["app:v1"])
    assert process_run(services, run_id) is RunStatus.SUCCEEDED
    stored = read_log(services.blobs, run_id, offset=0)
    assert stored is not None and stored.complete == "succeeded"
    services.blobs.delete(LOGS_CONTAINER, log_blob_name(run_id))  # only the kept tail can answer now
    served = read_run_log(services, run_id, offset=0, wait_seconds=1)
    assert (served.data, served.complete, served.finished) == (stored.data, "succeeded", True)
    assert read_run_log(services, run_id, offset=5).data == stored.data[5:]
