"""Example Functions app used to test the local host: HTTP, timer and queue functions.

Everything a test needs to observe is recorded in memory and served by `GET /api/observations`, so
the same app works in-process and behind `python -m slipway_host serve`. Queue messages are JSON:
`{"action": "ok" | "fail" | "sleep" | "block", "seconds": 1.5, "gate": "name", "text": "..."}`;
`block` waits until `POST /api/gates/{name}` opens the gate (`*` opens every gate).
Queue names and the timer schedule come from app settings (`%WorkQueue%`, `%DoneQueue%`,
`%TickSchedule%`) so each test can use its own.
"""

import asyncio
import json
import threading
import time
from typing import Any

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
queue_functions = func.Blueprint()


class Observations:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.running: dict[str, dict[str, Any]] = {}
        self.max_running: dict[str, int] = {}
        self._gates: dict[str, threading.Event] = {}
        self._all_open = False

    def record(self, **event: object) -> None:
        with self._lock:
            self.events.append({"at": time.time(), **event})

    def started(self, function: str, key: str, **details: object) -> None:
        with self._lock:
            self.running[key] = {"function": function, **details}
            count = sum(1 for r in self.running.values() if r["function"] == function)
            self.max_running[function] = max(self.max_running.get(function, 0), count)

    def finished(self, key: str) -> None:
        with self._lock:
            self.running.pop(key, None)

    def gate(self, name: str) -> threading.Event:
        with self._lock:
            event = self._gates.setdefault(name, threading.Event())
            if self._all_open:
                event.set()
            return event

    def open_gate(self, name: str) -> None:
        with self._lock:
            if name == "*":
                self._all_open = True
                for event in self._gates.values():
                    event.set()
                return
            self._gates.setdefault(name, threading.Event()).set()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": list(self.events),
                "running": dict(self.running),
                "max_running": dict(self.max_running),
            }


observations = Observations()


@app.route(route="hello/{name?}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "world")
    return func.HttpResponse(f"hello {name}", headers={"X-Example": "yes"})


@app.route(route="runs/{runId}", methods=["GET"])
def get_run(req: func.HttpRequest) -> func.HttpResponse:
    body = {"runId": req.route_params["runId"], "query": dict(req.params)}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.function_name("get_run_log")
@app.route(route="runs/{runId}/log", methods=["GET"])
def run_log(req: func.HttpRequest) -> str:
    return f"log of {req.route_params['runId']}"


@app.route(route="runs", methods=["POST"])
@app.queue_output(arg_name="work", queue_name="%WorkQueue%", connection="AzureWebJobsStorage")
def create_run(req: func.HttpRequest, work: func.Out[str]) -> func.HttpResponse:
    work.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


@app.route(route="files/{*path}", methods=["GET"])
def files(req: func.HttpRequest) -> dict[str, Any]:
    return {"path": req.route_params.get("path")}


@app.route(route="items/{id:int}", methods=["GET", "DELETE"])
def item(req: func.HttpRequest) -> dict[str, Any]:
    return {"id": int(req.route_params["id"]), "method": req.method}


@app.route(route="echo", methods=["POST", "PUT"])
def echo(req: func.HttpRequest, context: func.Context) -> dict[str, Any]:
    return {
        "method": req.method,
        "url": req.url,
        "body": req.get_body().decode(),
        "params": dict(req.params),
        "content_type": req.headers.get("content-type"),
        "function": context.function_name,
    }


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom on purpose")


@app.route(route="sleep", methods=["GET"])
def sleep(req: func.HttpRequest) -> str:
    seconds = float(req.params.get("seconds", "1"))
    observations.record(function="sleep", phase="start")
    time.sleep(seconds)
    observations.record(function="sleep", phase="end")
    return f"slept {seconds}"


@app.route(route="nap", methods=["GET"])
async def nap(req: func.HttpRequest) -> str:
    await asyncio.sleep(float(req.params.get("seconds", "0.1")))
    return "napped"


@app.route(route="gates/{name}", methods=["POST"])
def open_gate(req: func.HttpRequest) -> func.HttpResponse:
    observations.open_gate(req.route_params["name"])
    return func.HttpResponse(status_code=204)


@app.route(route="observations", methods=["GET"])
def get_observations(req: func.HttpRequest) -> dict[str, Any]:
    return observations.snapshot()


@app.timer_trigger(arg_name="timer", schedule="%TickSchedule%", run_on_startup=True)
def tick(timer: func.TimerRequest) -> None:
    # the worker passes azure.functions.timer.TimerRequest, which adds schedule_status to the ABC
    status = getattr(timer, "schedule_status", {})
    observations.record(function="tick", past_due=timer.past_due, status=status)


@queue_functions.queue_trigger(arg_name="msg", queue_name="%WorkQueue%", connection="AzureWebJobsStorage")
@queue_functions.queue_output(arg_name="done", queue_name="%DoneQueue%", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage, done: func.Out[str]) -> None:
    text = msg.get_body().decode()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {"action": "ok", "text": text}
    if not isinstance(payload, dict):
        payload = {"action": "ok", "text": text}
    key = f"{msg.id}:{msg.dequeue_count}"
    observations.record(function="work", phase="start", id=msg.id, dequeue_count=msg.dequeue_count, payload=payload)
    observations.started("work", key, id=msg.id, gate=payload.get("gate"))
    try:
        action = payload.get("action", "ok")
        if action == "fail":
            raise RuntimeError(f"failing on purpose (dequeue count {msg.dequeue_count})")
        if action == "sleep":
            time.sleep(float(payload.get("seconds", 1)))
        if action == "block" and not observations.gate(str(payload.get("gate"))).wait(60):
            raise TimeoutError("gate never opened")
        done.set(json.dumps({"id": msg.id, "text": payload.get("text"), "dequeue_count": msg.dequeue_count}))
    finally:
        observations.finished(key)
        observations.record(function="work", phase="end", id=msg.id, dequeue_count=msg.dequeue_count)


app.register_functions(queue_functions)
