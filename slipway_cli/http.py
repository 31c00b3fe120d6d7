"""A minimal keep-alive HTTP/1.1 client over sockets, for the CLI.

`slipway build` runs for every quick build, so its start-up counts: `httpx` costs ~60 ms to import and
even `http.client` ~25 ms (it loads the `email` package to parse headers), more than the rest of the
command. The CLI needs little of HTTP: requests with a known body length, and responses sized by
`Content-Length`, chunked, or ended by the server closing the connection. Each thread keeps its own
connection per origin (uploads send blocks from a few threads at once). A request on a kept-alive
connection that the server closed meanwhile is sent again once on a new connection, if its body can
be sent again; otherwise failures are reported, not retried.
"""

from __future__ import annotations

import json as jsonlib
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

_MAX_LINE = 64 << 10
_MAX_HEADERS = 200


class TransportError(Exception):
    """The server could not be reached, the connection broke, or the reply was not HTTP."""


class _Stale(Exception):
    """A reused connection was closed by the server before it answered."""


class Response:
    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers  # names lower-cased
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class _Connection:
    def __init__(self, scheme: str, host: str, port: int, timeout: float) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        if scheme == "https":
            import ssl  # only for https services: it is one of the slower imports

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb")
        self.used = False

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class HttpClient:
    def __init__(self, *, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url!r}")
        target = parts.path or "/"
        query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
        if query:
            target += "?" + query
        sent = {"Host": parts.netloc, **self._headers, **(headers or {})}
        body: bytes | Iterable[bytes] = content if content is not None else b""
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        if isinstance(body, bytes | bytearray):
            sent["Content-Length"] = str(len(body))
        elif "Content-Length" not in sent:
            raise TransportError("a streamed body needs a Content-Length header")
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items()) + "\r\n"
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        replayable = isinstance(body, bytes | bytearray)
        try:
            try:
                return self._exchange(origin, head.encode("latin-1"), body, method)
            except _Stale:
                if not replayable:
                    raise TransportError("the server closed the connection") from None
                return self._exchange(origin, head.encode("latin-1"), body, method)
        except (OSError, ValueError) as error:
            raise TransportError(str(error) or type(error).__name__) from error

    def _exchange(
        self, origin: tuple[str, str, int], head: bytes, body: bytes | Iterable[bytes], method: str
    ) -> Response:
        connection = self._connection(origin)
        reused, connection.used = connection.used, True
        try:
            _send(connection.sock, head, body)
            status_line = connection.reader.readline(_MAX_LINE)
        except TimeoutError:
            self._drop(origin, connection)
            raise  # the server may be working on it: never sent twice
        except OSError:
            self._drop(origin, connection)
            if reused:
                raise _Stale from None
            raise
        try:
            if not status_line:
                if reused:
                    raise _Stale
                raise ValueError("the server closed the connection without answering")
            response, keep = _read_response(connection.reader, status_line, method)
        except BaseException:
            self._drop(origin, connection)
            raise
        if not keep:
            self._drop(origin, connection)
        return response

    def _connection(self, origin: tuple[str, str, int]) -> _Connection:
        connections: dict[tuple[str, str, int], _Connection] = self._local.__dict__.setdefault("by_origin", {})
        connection = connections.get(origin)
        if connection is None:
            connection = _Connection(*origin, self._timeout)
            connections[origin] = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def _drop(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        self._local.by_origin.pop(origin, None)
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)
        connection.close()

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()


def _send(sock: socket.socket, head: bytes, body: bytes | Iterable[bytes]) -> None:
    if isinstance(body, bytes | bytearray) and len(body) < 64 << 10:
        sock.sendall(head + body)  # one segment for the small requests the API takes
        return
    sock.sendall(head)
    for piece in [body] if isinstance(body, bytes | bytearray) else body:
        sock.sendall(piece)


def _read_response(reader: BinaryIO, status_line: bytes, method: str) -> tuple[Response, bool]:
    """The response whose status line was read; also whether the connection can be kept."""
    version, _, rest = status_line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        line = reader.readline(_MAX_LINE).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ValueError("too many response headers")
    status = int(code)
    keep = version != "HTTP/1.0" and "close" not in headers.get("connection", "").lower()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(reader)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body = reader.read(length)
        if len(body) != length:
            raise ValueError(f"the connection closed after {len(body)} of {length} body bytes")
    else:
        body, keep = reader.read(), False  # the body ends when the server closes the connection
    return Response(status, reason, headers, body), keep


def _read_chunked(reader: BinaryIO) -> bytes:
    pieces: list[bytes] = []
    while True:
        size_line = reader.readline(_MAX_LINE)
        if not size_line:
            raise ValueError("the connection closed inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline(_MAX_LINE).strip():  # trailers, then the blank line
                pass
            return b"".join(pieces)
        piece = reader.read(size)
        if len(piece) != size or reader.readline(_MAX_LINE).strip():
            raise ValueError("a chunk of the response body was cut short")
        pieces.append(piece)
