"""The local Functions host as a process: real HTTP, real Azurite queues, real signals.

Every test starts its own host on an OS-chosen port against the example app in
`tests/functional/host/app`, with its own queue names; Azurite is shared by the module.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from slipway_host.timers import ScheduleStatus, ScheduleStatusStore, parse_timer_schedule
from tests.support.azurite import Azurite, start_azurite
from tests.support.processes import RunningProcess, start_process, wait_until

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).resolve().parents[1] / "functional" / "host" / "app"
REPO_ROOT = Path(__file__).resolve().parents[2]
READY = r"^Slipway local host listening on (http://127\.0\.0\.1:(\d+))$"


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as running:
        yield running


@dataclass
class Host:
    process: RunningProcess
    url: str
    client: httpx.Client
    azurite: Azurite
    work_queue: str
    done_queue: str

    def queue(self, name: str, *, base64_encoded: bool = True) -> QueueClient:
        if base64_encoded:
            return QueueClient.from_connection_string(
                self.azurite.connection_string,
                name,
                message_encode_policy=TextBase64EncodePolicy(),
                message_decode_policy=TextBase64DecodePolicy(),
            )
        return QueueClient.from_connection_string(self.azurite.connection_string, name)

    def send_work(self, payload: dict[str, Any]) -> None:
        self.queue(self.work_queue).send_message(json.dumps(payload))

    def observations(self) -> dict[str, Any]:
        response = self.client.get("/api/observations")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def events(self, function: str, phase: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.observations()["events"]
            if e["function"] == function and (phase is None or e.get("phase") == phase)
        ]

    def done(self) -> list[dict[str, Any]]:
        """Outputs of the queue function so far (the output queue appears with the first one)."""
        try:
            messages = self.queue(self.done_queue).peek_messages(max_messages=32)
        except ResourceNotFoundError:
            return []
        return [json.loads(m.content) for m in messages]

    def stop(self) -> int:
        self.client.close()
        return self.process.stop(timeout=30)


@pytest.fixture
def start_host(azurite: Azurite, tmp_path: Path) -> Iterator[Any]:
    started: list[Host] = []

    def start(settings: dict[str, str] | None = None, *args: str, state_dir: Path | None = None) -> Host:
        suffix = uuid.uuid4().hex[:10]
        env = {
            "AzureWebJobsStorage": azurite.connection_string,
            "WorkQueue": f"work-{suffix}",
            "DoneQueue": f"done-{suffix}",
            "TickSchedule": "0 0 0 1 1 *",
            **(settings or {}),
        }
        command = [
            sys.executable,
            "-m",
            "slipway_host",
            "serve",
            "--app-dir",
            str(APP_DIR),
            "--port",
            "0",
            "--state-dir",
            str(state_dir or tmp_path / f"state-{suffix}"),
            *args,
        ]
        process = start_process(command, ready=READY, timeout=60, env=env, cwd=REPO_ROOT)
        assert process.match is not None
        url = process.match.group(1)
        host = Host(process, url, httpx.Client(base_url=url, timeout=30), azurite, env["WorkQueue"], env["DoneQueue"])
        started.append(host)
        return host

    yield start
    for host in started:
        host.client.close()
        host.process.stop(timeout=30)


def test_the_host_prints_one_readiness_line_with_the_port_it_got(start_host: Any) -> None:
    host = start_host()

    assert host.process.lines("stdout") == [f"Slipway local host listening on {host.url}"]
    assert host.client.get("/api/hello").text == "hello world"
    stderr = "\n".join(host.process.lines("stderr"))
    assert re.search(r"hello: \[GET\] http://127\.0\.0\.1:\d+/api/hello/\{name\?\}", stderr)
    host.process.wait_for_line(
        r"Executed 'Functions\.hello' \(Succeeded, httpTrigger, GET /api/hello -> 200, Id=\S+, Duration=\d+ms\)",
        timeout=10,
        stream="stderr",
    )


def test_routes_use_the_route_prefix_and_route_parameters(start_host: Any) -> None:
    host = start_host({"AzureFunctionsJobHost__extensions__http__routePrefix": "slipway"})
    client = host.client

    run = client.get("/slipway/runs/cb7", params={"detail": "full"})
    log = client.get("/slipway/runs/cb7/log")
    files = client.get("/slipway/files/a/b%20c.txt")
    echo = client.post("/slipway/echo", content=b"raw body", headers={"content-type": "application/octet-stream"})

    assert run.json() == {"runId": "cb7", "query": {"detail": "full"}}
    assert log.text == "log of cb7"
    assert files.json() == {"path": "a/b c.txt"}
    assert echo.json()["body"] == "raw body"
    assert client.get("/api/runs/cb7").status_code == 404
    assert client.get("/slipway/no/such/route").status_code == 404
    wrong = client.post("/slipway/runs/cb7")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET")
    assert client.get("/slipway/items/not-a-number").status_code == 404
    assert client.get("/slipway/boom").status_code == 500


def test_base64_queue_messages_are_processed_and_their_output_sent(start_host: Any) -> None:
    host = start_host()

    host.send_work({"action": "ok", "text": "first"})
    accepted = host.client.post("/api/runs", content=json.dumps({"action": "ok", "text": "second"}))

    assert accepted.status_code == 202
    done = wait_until(lambda: host.done() if len(host.done()) == 2 else None, 20, message="two outputs")
    assert sorted(d["text"] for d in done) == ["first", "second"]
    assert all(d["dequeue_count"] == 1 for d in done)
    assert wait_until(lambda: host.queue(host.work_queue).peek_messages() == [], 10)


def test_a_failing_message_is_retried_then_lands_in_the_poison_queue(start_host: Any) -> None:
    host = start_host({"AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "3"})
    host.send_work({"action": "fail"})
    poison = host.queue(f"{host.work_queue}-poison", base64_encoded=False)

    [message] = wait_until(poison.peek_messages, 30, message="a poison message")

    starts = host.events("work", "start")
    assert [s["dequeue_count"] for s in starts] == [1, 2, 3]
    assert json.loads(base64.b64decode(message.content)) == {"action": "fail"}  # the original base64 text
    assert host.queue(host.work_queue).peek_messages() == []
    assert host.done() == []


def test_no_more_than_batch_size_plus_threshold_messages_run_at_once(start_host: Any) -> None:
    host = start_host(
        {
            "AzureFunctionsJobHost__extensions__queues__batchSize": "2",
            "AzureFunctionsJobHost__extensions__queues__newBatchThreshold": "1",
        }
    )
    for index in range(6):
        host.send_work({"action": "block", "gate": f"gate-{index}", "text": str(index)})

    def running() -> dict[str, dict[str, Any]]:
        return dict(host.observations()["running"])

    first = wait_until(lambda: running() if len(running()) == 2 else None, 20, message="a first batch of 2")
    time.sleep(0.6)
    assert len(running()) == 2  # 2 in flight > threshold 1: no new batch
    host.client.post(f"/api/gates/{next(iter(first.values()))['gate']}")
    wait_until(lambda: len(running()) == 3, 20, message="a second batch")
    time.sleep(0.6)
    assert len(running()) == 3  # 1 left + a batch of 2, and again above the threshold
    host.client.post("/api/gates/*")

    wait_until(lambda: len(host.done()) == 6, 30, message="all six done")
    assert host.observations()["max_running"]["work"] == 3


def test_a_function_running_longer_than_the_message_lease_runs_only_once(start_host: Any) -> None:
    host = start_host({}, "--message-lease-seconds", "2")

    host.send_work({"action": "sleep", "seconds": 5, "text": "long build"})

    [done] = wait_until(host.done, 30, message="the long build to finish")
    assert done["text"] == "long build"
    assert [s["dequeue_count"] for s in host.events("work", "start")] == [1]
    assert wait_until(lambda: host.queue(host.work_queue).peek_messages() == [], 10)


def test_a_timer_runs_on_startup_and_then_every_scheduled_second(start_host: Any) -> None:
    host = start_host({"TickSchedule": "*/1 * * * * *"})

    ticks = wait_until(lambda: host.events("tick") if len(host.events("tick")) >= 3 else None, 20)

    assert not any(t["past_due"] for t in ticks[:2])
    stamps = [t["at"] for t in ticks]
    assert stamps == sorted(stamps)


def test_a_timer_missed_while_the_host_was_down_runs_past_due_at_the_next_start(
    start_host: Any, tmp_path: Path
) -> None:
    state = tmp_path / "timer-state"
    daily = {"TickSchedule": "0 0 3 * * *"}
    first = start_host(daily, state_dir=state)
    [startup] = wait_until(lambda: first.events("tick"), 20)
    assert startup["past_due"] is False
    assert first.stop() == 0

    # Pretend the host was down for the last two days: the recorded next run is long gone.
    last_updated = datetime.now(UTC) - timedelta(days=2)
    status = ScheduleStatus(None, parse_timer_schedule(daily["TickSchedule"]).next_after(last_updated), last_updated)
    ScheduleStatusStore(state).save("tick", status)

    second = start_host(daily, state_dir=state)
    [after_restart] = wait_until(lambda: second.events("tick"), 20)
    assert after_restart["past_due"] is True


def test_sigterm_stops_new_work_and_waits_for_running_invocations(start_host: Any) -> None:
    host = start_host()
    port = int(host.url.rsplit(":", 1)[1])
    responses: list[httpx.Response] = []

    def slow_request() -> None:
        with httpx.Client(base_url=host.url, timeout=30) as client:
            responses.append(client.get("/api/sleep", params={"seconds": "2"}))

    request = threading.Thread(target=slow_request)
    request.start()
    host.send_work({"action": "sleep", "seconds": 2, "text": "finishing"})
    wait_until(lambda: host.events("sleep", "start") and host.events("work", "start"), 20, message="both running")

    host.process.send_signal(signal.SIGTERM)

    wait_until(lambda: not _accepts_connections(port), 5, message="the listener to close")
    request.join(timeout=30)
    assert host.process.wait(timeout=30) == 0
    assert [r.status_code for r in responses] == [200]
    [done] = host.done()
    assert done["text"] == "finishing"
    assert host.queue(host.work_queue).peek_messages() == []
    assert "Host stopped" in "\n".join(host.process.lines("stderr"))


def test_invocations_still_running_after_the_grace_period_are_abandoned(start_host: Any) -> None:
    host = start_host({}, "--grace-seconds", "1", "--message-lease-seconds", "2")
    host.send_work({"action": "block", "gate": "never", "text": "stuck"})
    wait_until(lambda: host.events("work", "start"), 20, message="the stuck message to start")

    host.process.send_signal(signal.SIGTERM)

    assert host.process.wait(timeout=20) == 0
    assert "still running after 1 s; abandoning them" in "\n".join(host.process.lines("stderr"))
    # its lease is no longer renewed, so the message comes back for the next host
    [message] = wait_until(lambda: host.queue(host.work_queue).peek_messages(), 20, message="the message to return")
    assert json.loads(message.content)["text"] == "stuck"
    assert host.done() == []


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
