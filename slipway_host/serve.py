"""`serve`: run a `FunctionsHost` behind uvicorn until SIGTERM/SIGINT, then shut down gracefully.

Start-up order: load the app, bind the socket (port 0 lets the OS choose), start uvicorn, start timers
and queue listeners, then print exactly one line to stdout:
`Slipway local host listening on http://HOST:PORT`. On the first SIGTERM/SIGINT the host stops
accepting connections and polling queues and waits up to the grace period for running invocations;
a second signal stops waiting. Either way the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from slipway_host.host import FunctionsHost, HostSetup

log = logging.getLogger("slipway_host")

READY_LINE = "Slipway local host listening on http://{host}:{port}"


@dataclass(frozen=True)
class ServeOptions:
    setup: HostSetup
    host: str = "127.0.0.1"
    port: int = 7071
    grace_seconds: float = 30.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling; `serve` decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0) lets asyncio turn off Nagle on accepted connections; without it every
    # keep-alive response waits ~40 ms for a delayed ACK between its header and body writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


# One process serves HTTP, timers and queue functions, and the storage SDK is CPU-heavy: with Python's
# default 5 ms GIL switch interval a busy thread delays an HTTP response by up to 5 ms per switch.
GIL_SWITCH_INTERVAL_SECONDS = 0.001


async def serve(options: ServeOptions) -> bool:
    """Run until a signal arrives; True if every invocation finished within the grace period."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    signals = _SignalWaiter()
    host = FunctionsHost(options.setup, os.environ)
    # Everything loaded so far (the app, the SDKs) lives as long as the process: keep it out of the
    # garbage collector's full passes, which otherwise stall every request for tens of milliseconds.
    gc.collect()
    gc.freeze()
    sock = bind_socket(options.host, options.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        host.http_app,
        http="h11",
        loop="asyncio",
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=max(1, int(options.grace_seconds)),
        backlog=2048,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("HTTP server stopped during start-up")
        await asyncio.sleep(0.01)
    await host.start()

    base_url = f"http://{options.host}:{port}"
    listing = "\n".join(f"        {line}" for line in host.describe(base_url))
    log.info("Functions:\n%s", listing or "        (none)")
    print(READY_LINE.format(host=options.host, port=port), flush=True)

    await signals.first.wait()
    log.info(
        "Stopping: no new requests or messages; waiting up to %.0f s for running invocations", options.grace_seconds
    )
    server.should_exit = True

    async def shut_down() -> bool:
        _, host_stopped = await asyncio.gather(serving, host.stop(options.grace_seconds), return_exceptions=True)
        return host_stopped is True

    stopping = asyncio.create_task(shut_down())
    second = asyncio.create_task(signals.second.wait())
    done, _ = await asyncio.wait(
        {stopping, second}, timeout=options.grace_seconds + 5, return_when=asyncio.FIRST_COMPLETED
    )
    second.cancel()
    clean = stopping in done and stopping.result()
    if not clean:
        server.force_exit = True
    host.close()
    return clean


class _SignalWaiter:
    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.second = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self._received)

    def _received(self) -> None:
        (self.second if self.first.is_set() else self.first).set()


def run(options: ServeOptions) -> int:
    """Serve, then exit 0; abandoned invocations do not keep the process alive."""
    clean = asyncio.run(serve(options))
    log.info("Host stopped")
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    if not clean:
        os._exit(0)  # pool threads still running user code would otherwise block interpreter exit
    return 0
