"""A minimal keep-alive HTTP(S) client on the standard library, for the CLI.

`slipway build` runs for every quick build, so its start-up counts: importing httpx alone costs about
60 ms, more than everything else the command imports. Each thread keeps its own connection per
origin (uploads send blocks from a few threads at once). No retries: the CLI reports failures.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


class TransportError(Exception):
    """The server could not be reached or the connection broke."""


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class HttpClient:
    def __init__(self, *, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        connections: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "by_origin", {}
        )
        connection = connections.get((scheme, netloc))
        if connection is None:
            if scheme == "https":
                import ssl  # only for https services: it is one of the slower imports

                connection = http.client.HTTPSConnection(
                    netloc, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                connection = http.client.HTTPConnection(netloc, timeout=self._timeout)
            connections[(scheme, netloc)] = connection
            with self._lock:
                self._all.append(connection)
        return connection

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
        target = parts.path or "/"
        query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
        if query:
            target += "?" + query
        sent = {**self._headers, **(headers or {})}
        body: bytes | Iterable[bytes] | None = content
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        if isinstance(body, bytes):
            sent["Content-Length"] = str(len(body))
        connection = self._connection(parts.scheme, parts.netloc)
        try:
            connection.request(method, target, body=body, headers=sent)
            reply = connection.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            self._local.by_origin.pop((parts.scheme, parts.netloc), None)
            raise TransportError(str(error) or type(error).__name__) from error
        return Response(reply.status, reply.reason, data)

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
