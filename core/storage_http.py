"""Kept-alive HTTP connections and Shared Key signing for the lean Storage REST adapters.

The Azure SDKs spend about 2.5 ms of CPU per call (their pipeline over `requests`); in one Python
process that caps the webhook intake and the event worker far below what the storage account can do.
`queue_rest` and `table_rest` speak the few REST calls Slipway needs themselves, over one
`http.client` connection per thread, and sign them with the account key as the SDKs do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote, unquote, urlsplit

from core.errors import StorageError

_TIMEOUT_SECONDS = 30
API_VERSION = "2021-02-12"  # Blob and Queue REST version the lean clients speak
_ATTEMPTS = 3


def parse_connection_string(connection: str) -> dict[str, str]:
    return {
        key.strip(): value.strip()
        for key, _, value in (part.partition("=") for part in connection.split(";") if "=" in part)
    }


def service_endpoint(settings: Mapping[str, str], service: str) -> str | None:
    """The `queue` or `table` endpoint of a parsed connection string, without a trailing slash."""
    explicit = settings.get(f"{service.capitalize()}Endpoint")
    if explicit:
        return explicit.rstrip("/")
    if settings.get("AccountName"):
        protocol = settings.get("DefaultEndpointsProtocol", "https")
        suffix = settings.get("EndpointSuffix", "core.windows.net")
        return f"{protocol}://{settings['AccountName']}.{service}.{suffix}"
    return None


@dataclass(frozen=True)
class SharedKey:
    account: str
    key: bytes

    @classmethod
    def from_connection(cls, settings: Mapping[str, str]) -> SharedKey | None:
        if not settings.get("AccountName") or not settings.get("AccountKey"):
            return None  # identity-based storage: the SDK adapters handle it
        return cls(settings["AccountName"], base64.b64decode(settings["AccountKey"]))

    def authorization(self, string_to_sign: str) -> str:
        digest = hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).digest()
        return f"SharedKey {self.account}:{base64.b64encode(digest).decode()}"


def shared_key_access(connection_string: str, service: str) -> tuple[str, SharedKey] | None:
    """The `blob`/`queue`/`table` endpoint and account key of a connection string; None without a key
    (identity-based storage), where callers keep the SDK adapters."""
    settings = parse_connection_string(connection_string)
    endpoint, key = service_endpoint(settings, service), SharedKey.from_connection(settings)
    return (endpoint, key) if endpoint and key else None


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class KeepAliveHttp:
    """Requests to one storage endpoint, each thread on its own kept-alive connection."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self.base_path = parts.path.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._local = threading.local()
        self._open: list[http.client.HTTPConnection] = []  # every thread's connection, to close them all
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = factory(self._host, self._port, timeout=_TIMEOUT_SECONDS)
            self._local.connection = connection
            with self._lock:
                self._open.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            connection.close()

    def __del__(self) -> None:
        self.close()

    def request(
        self, method: str, target: str, *, body: bytes = b"", headers: Mapping[str, str], operation: str
    ) -> Reply:
        """Send, retrying on a dropped connection or a 5xx; `StorageError` naming `operation` if all fail."""
        for attempt in range(_ATTEMPTS):
            connection = self._connection()
            last = attempt == _ATTEMPTS - 1
            try:
                connection.request(method, target, body=body, headers=dict(headers))
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                self._local.connection = None
                if last:
                    raise StorageError(f"storage {operation} failed: {type(error).__name__}") from error
                continue
            if response.status >= 500 and not last:
                continue
            return Reply(response.status, response.headers, data)
        raise AssertionError("unreachable")


def failure(operation: str, reply: Reply) -> StorageError:
    """A `StorageError` with the status and the service's error text (which never holds the key)."""
    reason = reply.body[:300].decode("utf-8", "replace").replace("\n", " ")
    return StorageError(f"storage {operation} failed: HTTP {reply.status} {reason}")


def shared_key_authorization(
    key: SharedKey,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
) -> str:
    """The Shared Key signature of a Blob or Queue request (not Table: that service signs less).

    `headers` are the request's headers; the standard ones signed here are Content-Length,
    Content-Type, If-Match and If-None-Match, and every `x-ms-*` header is signed in canonical
    (sorted, lower-case) form.
    """
    length = headers.get("Content-Length", "")
    canonical_headers = "".join(
        f"{name.lower()}:{value}\n"
        for name, value in sorted(headers.items(), key=lambda h: h[0].lower())
        if name.lower().startswith("x-ms-")
    )
    canonical_query = "".join(f"\n{name.lower()}:{unquote(value)}" for name, value in sorted(query.items()))
    standard = (
        "",  # Content-Encoding
        "",  # Content-Language
        "" if length in ("", "0") else length,
        "",  # Content-MD5
        headers.get("Content-Type", ""),
        "",  # Date (x-ms-date is signed instead)
        "",  # If-Modified-Since
        headers.get("If-Match", ""),
        headers.get("If-None-Match", ""),
        "",  # If-Unmodified-Since
        "",  # Range (x-ms-range is signed instead)
    )
    string_to_sign = f"{method}\n" + "".join(f"{value}\n" for value in standard)
    string_to_sign += f"{canonical_headers}/{key.account}{path}{canonical_query}"
    return key.authorization(string_to_sign)


class SharedKeyRest:
    """Signed Blob or Queue requests to one storage account (see `shared_key_authorization`)."""

    def __init__(self, endpoint: str, key: SharedKey) -> None:
        self._http = KeepAliveHttp(endpoint)
        self._key = key

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        resource: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        operation: str,
    ) -> Reply:
        """`resource` is the path under the endpoint, already URL-quoted (`container/blob`, `queue/messages`)."""
        path = f"{self._http.base_path}/{resource}"
        sent = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION, "Content-Length": str(len(body))}
        sent.update(headers or {})
        sent["Authorization"] = shared_key_authorization(self._key, method, path, query or {}, sent)
        target = path + ("?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()) if query else "")
        return self._http.request(method, target, body=body, headers=sent, operation=operation)
