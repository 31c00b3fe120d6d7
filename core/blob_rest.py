"""The blob calls on a run's path, over REST with Shared Key auth.

A running build appends its output a few times a second and every follower reads from its offset as
the log grows; through the SDK each call costs ~2.5 ms of CPU (and two calls per read: properties,
then the range), taken from the build that shares the machine. Here an append is one PUT and a read
one ranged GET (plus a HEAD only when nothing new is there); opening a log is one conditional PUT and
completing it one metadata PUT. Checking and fetching a context and storing small outputs are single
calls too. The SDK adapter keeps the rest: containers, upload URLs, large uploads and the parallel
download of large contexts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from core.errors import StorageError
from core.ports import BlobInfo, BlobRange
from core.storage_http import Reply, SharedKey, SharedKeyRest, failure

_META = "x-ms-meta-"


def _metadata(reply: Reply) -> dict[str, str]:
    return {name[len(_META) :]: value for name, value in reply.headers.items() if name.lower().startswith(_META)}


class RestBlobs:
    def __init__(self, endpoint: str, key: SharedKey) -> None:
        self._rest = SharedKeyRest(endpoint, key)

    def close(self) -> None:
        self._rest.close()

    def _call(self, method: str, container: str, name: str, **options: Any) -> Reply:
        return self._rest.call(method, f"{container}/{quote(name)}", **options)

    def open_append_blob(self, container: str, name: str) -> int:
        """Create the append blob unless it exists (`If-None-Match: *`); returns its size."""
        created = self._call(
            "PUT",
            container,
            name,
            headers={"x-ms-blob-type": "AppendBlob", "If-None-Match": "*"},
            operation="create append blob",
        )
        if created.status == 201:
            return 0
        if created.status != 409:
            raise failure(f"create of {container}/{name}", created)
        found = self.info(container, name)  # it exists: how much is in it?
        if found is None:
            raise StorageError(f"storage create of {container}/{name} failed: it exists but cannot be read")
        return found.size

    def append(self, container: str, name: str, data: bytes) -> int | None:
        reply = self._call("PUT", container, name, query={"comp": "appendblock"}, body=data, operation="append to blob")
        if reply.status != 201:
            raise failure(f"append to {container}/{name}", reply)
        offset = reply.headers.get("x-ms-blob-append-offset", "")
        return int(offset) if offset.isdigit() else None

    def set_metadata(self, container: str, name: str, metadata: dict[str, str]) -> None:
        headers = {f"{_META}{key}": value for key, value in metadata.items()}
        reply = self._call(
            "PUT", container, name, query={"comp": "metadata"}, headers=headers, operation="set metadata"
        )
        if reply.status != 200:
            raise failure(f"metadata update of {container}/{name}", reply)

    def info(self, container: str, name: str) -> BlobInfo | None:
        head = self._call("HEAD", container, name, operation="read blob properties")
        if head.status == 404:
            return None
        if head.status != 200:
            raise StorageError(f"storage read of {container}/{name} failed: HTTP {head.status}")
        return BlobInfo(size=int(head.headers.get("Content-Length") or 0), metadata=_metadata(head))

    def get(self, container: str, name: str) -> bytes | None:
        reply = self._call("GET", container, name, operation="read blob")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise failure(f"read of {container}/{name}", reply)
        return reply.body

    def put(self, container: str, name: str, data: bytes, metadata: dict[str, str]) -> None:
        """One Put Blob call: for small blobs (the SDK adapter uploads large ones in blocks)."""
        headers = {"x-ms-blob-type": "BlockBlob", **{f"{_META}{key}": value for key, value in metadata.items()}}
        reply = self._call("PUT", container, name, body=data, headers=headers, operation="write blob")
        if reply.status != 201:
            raise failure(f"write of {container}/{name}", reply)

    def read_range(self, container: str, name: str, offset: int, length: int) -> BlobRange | None:
        if length > 0:
            wanted = {"x-ms-range": f"bytes={offset}-{offset + length - 1}"}
            reply = self._call("GET", container, name, headers=wanted, operation="read blob range")
            if reply.status in (200, 206):
                total = reply.headers.get("Content-Range", "").rpartition("/")[2]
                size = int(total) if total.isdigit() else len(reply.body)
                return BlobRange(data=reply.body, total_size=size, metadata=_metadata(reply))
            if reply.status == 404:
                return None
            if reply.status != 416:  # 416: nothing at `offset` yet; the HEAD below says how much there is
                raise failure(f"read of {container}/{name}", reply)
        found = self.info(container, name)
        return None if found is None else BlobRange(data=b"", total_size=found.size, metadata=found.metadata)
