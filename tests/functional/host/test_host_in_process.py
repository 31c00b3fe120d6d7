"""The local host serving the example app in-process, with in-memory queues and (where it matters) a manual clock."""

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core import queue_watch
from slipway_host import queues
from slipway_host.clock import ManualClock
from slipway_host.queue_storage import InMemoryQueueStorage
from slipway_host.timers import ScheduleStatus, ScheduleStatusStore
from tests.functional.host.harness import eventually, running_host

T = TypeVar("T")


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_http_functions_get_route_params_query_headers_and_body(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            hello = await h.client.get("/api/hello/ann")
            default = await h.client.get("/api/hello")
            run_info = await h.client.get("/api/runs/cb12", params={"a": "1", "b": ["2", "3"]})
            log = await h.client.get("/api/runs/cb12/log")
            files = await h.client.get("/api/files/dir/sub/file.txt")
            item = await h.client.delete("/api/items/42")
            echo = await h.client.put("/api/echo?x=1", content=b"payload", headers={"Content-Type": "text/csv"})
            nap = await h.client.get("/api/nap")

        assert (hello.status_code, hello.text, hello.headers["x-example"]) == (200, "hello ann", "yes")
        assert hello.headers["content-type"] == "text/plain; charset=utf-8"
        assert default.text == "hello world"
        assert run_info.json() == {"runId": "cb12", "query": {"a": "1", "b": "2,3"}}
        assert run_info.headers["content-type"] == "application/json"
        assert log.text == "log of cb12"
        assert files.json() == {"path": "dir/sub/file.txt"}
        assert item.json() == {"id": 42, "method": "DELETE"}
        assert echo.json() == {
            "method": "PUT",
            "url": "http://testhost/api/echo?x=1",
            "body": "payload",
            "params": {"x": "1"},
            "content_type": "text/csv",
            "function": "echo",
        }
        assert nap.text == "napped"

    run(scenario)


def test_unknown_routes_wrong_methods_and_exceptions_get_404_405_and_500(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            missing = await h.client.get("/api/nothing-here")
            unprefixed = await h.client.get("/hello")
            wrong_method = await h.client.post("/api/hello/ann")
            not_an_int = await h.client.get("/api/items/abc")
            boom = await h.client.get("/api/boom")
            healthy_after = await h.client.get("/api/hello")

        assert missing.status_code == 404
        assert unprefixed.status_code == 404
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "GET"
        assert not_an_int.status_code == 404
        assert boom.status_code == 500
        assert boom.text == "Exception while executing function: Functions.boom"
        assert healthy_after.status_code == 200

    run(scenario)


def test_a_failing_function_is_logged_with_its_own_traceback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            await h.client.get("/api/boom")

    run(scenario)

    assert "Executed 'Functions.boom' (Failed, httpTrigger, GET /api/boom -> 500" in caplog.text
    assert 'raise RuntimeError("boom on purpose")' in caplog.text
    assert "slipway_host/invocation.py" not in caplog.text


def test_an_http_function_queues_work_that_a_queue_function_finishes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            accepted = await h.client.post("/api/runs", content=json.dumps({"action": "ok", "text": "build 1"}))
            assert accepted.status_code == 202

            done = await eventually(lambda: _async(h.done_messages()), message="the work to be done")
            assert [d["text"] for d in done] == ["build 1"]
            assert h.storage.contents(h.work_queue) == []

    run(scenario)


SLOW_POLLING = {"AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:10:00"}


def test_a_message_sent_by_this_process_is_picked_up_at_once_not_at_the_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in the Functions host, a listener hears of messages sent by an output binding or announced by
    the app (`core.queue_watch`); here an empty poll is followed by a 10-minute wait, so only that
    notice can start the work within the test's timeout."""
    monkeypatch.setattr(queues, "MIN_EMPTY_DELAY", 600.0)

    async def scenario() -> None:
        async with running_host(tmp_path, SLOW_POLLING) as h:
            await eventually(lambda: _async(h.storage.receive_calls(h.work_queue) > 0), message="a first poll")
            accepted = await h.client.post("/api/runs", content=json.dumps({"action": "ok", "text": "bound"}))
            assert accepted.status_code == 202
            await eventually(lambda: _async(h.done_messages()), message="the output-bound message to be done")

            h.send_work({"action": "ok", "text": "announced"})
            queue_watch.message_sent(h.work_queue)
            done = await eventually(lambda: _async(len(h.done_messages()) == 2 and h.done_messages()))
            assert [d["text"] for d in done] == ["bound", "announced"]

            await asyncio.sleep(0.5)  # the poll that follows found messages, then the listener waits again
            polls = h.storage.receive_calls(h.work_queue)
            h.send_work({"action": "ok", "text": "unannounced"})  # as from elsewhere: waits for the next poll
            await asyncio.sleep(0.5)
            assert (len(h.done_messages()), h.storage.receive_calls(h.work_queue)) == (2, polls)

    run(scenario)


def test_queue_messages_are_base64_decoded_and_outputs_base64_encoded(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            h.send_work({"action": "ok", "text": "héllo"})

            [done] = await eventually(lambda: _async(h.done_messages()))
            [start] = await h.events("work", "start")

        assert done["text"] == "héllo"
        assert done["dequeue_count"] == 1
        assert start["payload"] == {"action": "ok", "text": "héllo"}
        assert base64.b64decode(h.storage.contents(h.done_queue)[0]).decode() == json.dumps(done)

    run(scenario)


def test_a_failing_message_is_retried_then_moved_to_the_poison_queue(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:  # host.json: maxDequeueCount 3, visibilityTimeout 0
            h.send_work({"action": "fail"})
            original = h.storage.contents(h.work_queue)

            poison = await eventually(lambda: _async(h.storage.contents(f"{h.work_queue}-poison")))
            starts = await h.events("work", "start")

        assert [s["dequeue_count"] for s in starts] == [1, 2, 3]
        assert poison == original  # the original (still base64) text
        assert h.storage.contents(h.work_queue) == []
        assert h.done_messages() == []

    run(scenario)


def test_max_dequeue_count_can_be_overridden_by_app_setting(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = {"AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "1"}
        async with running_host(tmp_path, settings) as h:
            h.send_work({"action": "fail"})

            await eventually(lambda: _async(h.storage.contents(f"{h.work_queue}-poison")))
            starts = await h.events("work", "start")

        assert [s["dequeue_count"] for s in starts] == [1]

    run(scenario)


def test_a_message_that_is_not_base64_takes_the_failure_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            h.send_work('{"action": "ok"}', encoded=False)

            poison = await eventually(lambda: _async(h.storage.contents(f"{h.work_queue}-poison")))

            assert poison == ['{"action": "ok"}']
            assert await h.events("work") == []

    run(scenario)

    assert "not valid base64" in caplog.text


def test_a_message_dequeued_too_often_already_is_poisoned_without_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = InMemoryQueueStorage()
        async with running_host(tmp_path, storage=storage) as h:
            await h.host.stop(5)  # stop polling so the test can play a host that kept crashing
            storage.send(h.work_queue, base64.b64encode(b'{"action": "ok"}').decode())
            for _ in range(3):
                storage.receive(h.work_queue, 1, visibility_timeout=0)
            await h.host.start()

            await eventually(lambda: _async(storage.contents(f"{h.work_queue}-poison")))
            assert await h.events("work") == []

    run(scenario)


def test_message_encoding_none_passes_text_through_both_ways(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = {"AzureFunctionsJobHost__extensions__queues__messageEncoding": "none"}
        async with running_host(tmp_path, settings) as h:
            h.send_work('{"action": "ok", "text": "plain"}', encoded=False)

            [done] = await eventually(lambda: _async(h.storage.contents(h.done_queue)))

        assert json.loads(done)["text"] == "plain"

    run(scenario)


def test_the_message_lease_is_renewed_while_the_function_runs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path, lease=timedelta(seconds=1)) as h:
            h.send_work({"action": "sleep", "seconds": 2.5, "text": "long build"})

            [done] = await eventually(lambda: _async(h.done_messages()), timeout=15)
            starts = await h.events("work", "start")

        assert done["text"] == "long build"
        assert [s["dequeue_count"] for s in starts] == [1]
        assert h.storage.contents(h.work_queue) == []

    run(scenario)


def test_concurrency_is_capped_at_batch_size_plus_new_batch_threshold(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:  # host.json: batchSize 4, newBatchThreshold 2
            for index in range(10):
                h.send_work({"action": "block", "gate": f"g{index}", "text": str(index)})

            async def running() -> dict[str, dict[str, str]]:
                return dict((await h.observations())["running"])

            first_batch = await eventually(lambda: _count(running, 4))
            await asyncio.sleep(0.3)
            assert len(await running()) == 4  # 4 > threshold 2: no new batch yet
            for details in list(first_batch.values())[:2]:
                await h.client.post(f"/api/gates/{details['gate']}")
            await eventually(lambda: _count(running, 6))
            await asyncio.sleep(0.3)
            assert len(await running()) == 6  # 2 left + a new batch of 4

            await h.client.post("/api/gates/*")
            await eventually(lambda: _async(len(h.done_messages()) == 10))
            observed = await h.observations()

        assert observed["max_running"]["work"] == 6

    run(scenario)


def test_timer_runs_on_startup_then_on_its_schedule(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(datetime(2025, 1, 1, 12, 1, tzinfo=UTC))
        async with running_host(tmp_path, {"TickSchedule": "0 */5 * * * *"}, clock=clock) as h:
            await eventually(lambda: _async(clock.sleepers == 1))
            assert len(await h.events("tick")) == 1

            clock.advance(timedelta(minutes=4))  # 12:05
            await eventually(lambda: _count(lambda: h.events("tick"), 2))
            await eventually(lambda: _async(clock.sleepers == 1))
            ticks = await h.events("tick")

        assert [t["past_due"] for t in ticks] == [False, False]
        assert ticks[1]["status"]["Next"] == "2025-01-01T12:05:00+00:00"
        status = ScheduleStatusStore(tmp_path).load("tick")
        assert status is not None
        assert status.last == datetime(2025, 1, 1, 12, 5, tzinfo=UTC)
        assert status.next == datetime(2025, 1, 1, 12, 10, tzinfo=UTC)

    run(scenario)


def test_an_occurrence_missed_while_the_host_was_down_runs_once_past_due(tmp_path: Path) -> None:
    async def scenario() -> None:
        now = datetime(2025, 1, 1, 12, 1, tzinfo=UTC)
        day_before = now - timedelta(hours=25)
        missed = ScheduleStatus(last=day_before, next=now - timedelta(hours=1), last_updated=day_before)
        ScheduleStatusStore(tmp_path).save("tick", missed)
        clock = ManualClock(now)
        async with running_host(tmp_path, {"TickSchedule": "0 0 11 * * *"}, clock=clock) as h:
            await eventually(lambda: _async(clock.sleepers == 1))
            ticks = await h.events("tick")

        assert [t["past_due"] for t in ticks] == [True]

    run(scenario)


def test_stop_waits_for_running_invocations_and_settles_their_messages(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(tmp_path) as h:
            h.send_work({"action": "sleep", "seconds": 0.5, "text": "finishing"})
            await eventually(lambda: _count(lambda: h.events("work", "start"), 1))

            finished = await h.host.stop(10)

            assert finished
            assert [d["text"] for d in h.done_messages()] == ["finishing"]
            assert h.storage.contents(h.work_queue) == []

    run(scenario)


async def _async(value: T) -> T:
    return value


async def _count(get: Callable[[], Awaitable[Any]], n: int) -> Any:
    """The value of `get()` once it has at least `n` items, else None."""
    value = await get()
    return value if len(value) >= n else None
