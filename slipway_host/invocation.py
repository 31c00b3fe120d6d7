"""Run one function invocation: bind arguments, call the user function, flush output bindings.

Sync functions run on a shared thread pool (the Python worker's `PYTHON_THREADPOOL_THREAD_COUNT`);
`async def` functions are awaited on the host's event loop. Output bindings (`func.Out` parameters and
a non-HTTP `$return`) are flushed only after the function succeeds; a flush failure fails the
invocation, as it does in the real host. Every invocation is counted so shutdown can wait for them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext

from slipway_host.loader import ArgumentKind, FunctionDefinition

log = logging.getLogger("slipway_host")

RETURN = "$return"
_HOST_DIR = str(Path(__file__).resolve().parent)
_FUTURES_DIR = str(Path(concurrent.futures.__file__).resolve().parent)

# Receives (function, binding name -> value set) after a successful call, e.g. to send queue messages.
OutputSink = Callable[[FunctionDefinition, Mapping[str, Any]], Awaitable[None]]


class OutValue(func.Out[Any]):
    """The concrete `func.Out` handed to a function for each output binding parameter."""

    def __init__(self) -> None:
        self._value: Any = None
        self.was_set = False

    def set(self, val: Any) -> None:
        self._value = val
        self.was_set = True

    def get(self) -> Any:
        return self._value


class _TraceContext(TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(RetryContext):
    def __init__(self, retry_count: int) -> None:
        self._retry_count = retry_count

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """The concrete `func.Context` passed to a `context` parameter."""

    _thread_local = threading.local()

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext(0)


@dataclass
class InvocationResult:
    invocation_id: str
    function_name: str
    trigger_type: str
    started: datetime
    duration_ms: float = 0.0
    return_value: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


class Invoker:
    """Runs invocations and tracks how many are in flight."""

    def __init__(self, executor: Executor, function_directory: str, output_sink: OutputSink | None = None) -> None:
        self._executor = executor
        self._function_directory = function_directory
        self._output_sink = output_sink
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def invoke(self, function: FunctionDefinition, trigger_value: Any) -> InvocationResult:
        """Call the function with `trigger_value`; never raises for the function's own errors."""
        result = InvocationResult(
            invocation_id=str(uuid.uuid4()),
            function_name=function.name,
            trigger_type=function.trigger_type,
            started=datetime.now(UTC),
        )
        self._in_flight += 1
        self._idle.clear()
        start = time.perf_counter()
        try:
            await self._run(function, trigger_value, result)
        except Exception as error:  # the function's (or an output binding's) failure is the result
            result.error = error
        finally:
            result.duration_ms = (time.perf_counter() - start) * 1000
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        return result

    async def _run(self, function: FunctionDefinition, trigger_value: Any, result: InvocationResult) -> None:
        context = InvocationContext(result.invocation_id, function.name, self._function_directory)
        outs: dict[str, OutValue] = {}
        kwargs: dict[str, Any] = {}
        for argument in function.arguments:
            if argument.kind is ArgumentKind.TRIGGER:
                kwargs[argument.parameter] = trigger_value
            elif argument.kind is ArgumentKind.CONTEXT:
                kwargs[argument.parameter] = context
            else:
                kwargs[argument.parameter] = outs.setdefault(argument.parameter, OutValue())
        if function.is_async:
            result.return_value = await function.func(**kwargs)
        else:
            call = _call_in_thread(function.func, kwargs, context)
            result.return_value = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        result.outputs = {name: out.get() for name, out in outs.items() if out.was_set}
        output_types = {str(b["name"]): b["type"] for b in function.outputs}
        if output_types.get(RETURN) not in (None, "http") and result.return_value is not None:
            result.outputs[RETURN] = result.return_value
        to_send = {name: value for name, value in result.outputs.items() if output_types.get(name) != "http"}
        if to_send and self._output_sink is not None:
            await self._output_sink(function, to_send)


def _call_in_thread(
    target: Callable[..., Any], kwargs: dict[str, Any], context: InvocationContext
) -> Callable[[], Any]:
    def call() -> Any:
        context.thread_local_storage.invocation_id = context.invocation_id
        return target(**kwargs)

    return call


def describe_outcome(result: InvocationResult, detail: str = "") -> str:
    """One short log line in the style of Core Tools' `Executed 'Functions.x' (...)`."""
    outcome = "Succeeded" if result.succeeded else "Failed"
    extra = f", {detail}" if detail else ""
    return (
        f"Executed 'Functions.{result.function_name}' ({outcome}, {result.trigger_type}{extra}, "
        f"Id={result.invocation_id}, Duration={result.duration_ms:.0f}ms)"
    )


def log_outcome(result: InvocationResult, detail: str = "") -> None:
    """Log an invocation's outcome, with the function's part of the traceback when it failed."""
    if result.error is None:
        log.info(describe_outcome(result, detail))
        return
    error = result.error
    trace = "".join(traceback.format_exception(type(error), error, _user_frames(error.__traceback__)))
    log.error(
        "%s\n  Exception while executing function: Functions.%s\n%s",
        describe_outcome(result, detail),
        result.function_name,
        trace.rstrip(),
    )


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip the host's own frames (and the thread pool's) at the top of a traceback."""
    first = tb
    while tb is not None and _is_host_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb or first


def _is_host_file(filename: str) -> bool:
    return filename.startswith(_HOST_DIR) or filename.startswith(_FUTURES_DIR)
