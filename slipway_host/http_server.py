"""The HTTP front door: a plain ASGI callable that routes requests to HTTP-triggered functions.

Requests become `func.HttpRequest` objects; the function's HTTP output (`$return` or a named
`func.Out[func.HttpResponse]`) becomes the response. A plain `str` return is sent as `text/plain`,
`bytes` as `application/octet-stream`, a `dict`/`list` as JSON and `None` as 204, which is what a
reasonable reading of the real host's `$return` handling gives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func

from slipway_host.invocation import RETURN, InvocationResult, Invoker, log_outcome
from slipway_host.loader import FunctionDefinition
from slipway_host.routes import MethodNotAllowed, RouteTable

log = logging.getLogger("slipway_host")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 100 * 1024 * 1024
_TEXT = b"text/plain; charset=utf-8"


class HttpApp:
    """ASGI application serving the app's HTTP functions."""

    def __init__(self, routes: RouteTable[FunctionDefinition], invoker: Invoker) -> None:
        self._routes = routes
        self._invoker = invoker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        resolved = self._routes.resolve(method, path)
        if resolved is None:
            await _send(send, 404, [(b"content-type", _TEXT)], b"Not Found", method)
            return
        if isinstance(resolved, MethodNotAllowed):
            allow = ", ".join(resolved.allowed).encode()
            await _send(send, 405, [(b"content-type", _TEXT), (b"allow", allow)], b"Method Not Allowed", method)
            return
        body = await _read_body(receive)
        if body is None:
            await _send(send, 413, [(b"content-type", _TEXT)], b"Request body too large", method)
            return
        function = resolved.target
        request = func.HttpRequest(
            method,
            _url(scope),
            headers=_headers(scope),
            params=_params(scope),
            route_params=resolved.values,
            body=body,
        )
        result = await self._invoker.invoke(function, request)
        status, headers, payload = _response_for(function, result)
        log_outcome(result, f"{method} {scope['path']} -> {status}")
        await _send(send, status, headers, payload, method)


def _response_for(
    function: FunctionDefinition, result: InvocationResult
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if not result.succeeded:
        message = f"Exception while executing function: Functions.{function.name}"
        return 500, [(b"content-type", _TEXT)], message.encode()
    output = next((str(b["name"]) for b in function.outputs if b["type"] == "http"), RETURN)
    value = result.return_value if output == RETURN else result.outputs.get(output)
    try:
        return encode_response(value)
    except TypeError as error:
        result.error = error
        log.error("Function '%s' returned a value the HTTP output cannot send: %s", function.name, error)
        return 500, [(b"content-type", _TEXT)], b"Function returned an unsupported HTTP response"


def encode_response(value: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body for a function's HTTP output value."""
    if isinstance(value, func.HttpResponse):
        headers = [
            (name.lower().encode("latin-1"), str(v).encode("latin-1"))
            for name, v in value.headers.items()
            if name.lower() not in ("content-length", "transfer-encoding")
        ]
        if not any(name == b"content-type" for name, _ in headers):
            mimetype = value.mimetype
            content_type = f"{mimetype}; charset={value.charset}" if mimetype.startswith("text/") else mimetype
            headers.append((b"content-type", content_type.encode("latin-1")))
        return int(value.status_code), headers, value.get_body()
    if value is None:
        return 204, [], b""
    if isinstance(value, str):
        return 200, [(b"content-type", _TEXT)], value.encode()
    if isinstance(value, bytes | bytearray):
        return 200, [(b"content-type", b"application/octet-stream")], bytes(value)
    if isinstance(value, dict | list):
        return 200, [(b"content-type", b"application/json; charset=utf-8")], json.dumps(value).encode()
    raise TypeError(f"expected func.HttpResponse, str, bytes, dict, list or None, got {type(value).__name__}")


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, method: str) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _params(scope: Scope) -> dict[str, str]:
    query = scope.get("query_string", b"").decode("latin-1")
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def _url(scope: Scope) -> str:
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")


async def _serve_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
