"""Uploading a packed context straight to Blob storage through the service's upload URL.

The archive is written into `BlockUploader` as it is produced; every full block (8 MiB) is sent as a
Put Block on a small thread pool while packing continues, and `commit` sends the block list. Memory
stays bounded by the blocks in flight, whatever the context's size.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import quote

from slipway_cli.client import CliError
from slipway_cli.http import HttpClient, Response, TransportError

BLOCK_SIZE = 8 << 20
_STORAGE_VERSION = "2021-08-06"


_SLICE = 256 << 10


def _slices(block: bytes) -> Iterator[bytes]:
    view = memoryview(block)
    for start in range(0, len(view), _SLICE):
        yield view[start : start + _SLICE].tobytes()


class BlockUploader:
    def __init__(self, upload_url: str, *, in_flight: int = 3, timeout: float = 120.0) -> None:
        self._url = upload_url
        self._http = HttpClient(timeout=timeout)
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="upload")
        self._slots = threading.Semaphore(in_flight)
        # Pieces of the next block, joined once when it is full: no growing buffer, one copy per block.
        self._pieces: list[bytes] = []
        self._pending = 0
        self._block_ids: list[str] = []
        self._futures: list[Future[None]] = []
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        self.bytes_written += len(data)
        self._pieces.append(bytes(data))
        self._pending += len(data)
        if self._pending >= BLOCK_SIZE:
            # Blocks may be a little larger than BLOCK_SIZE (up to one piece); Azure takes up to 4000 MiB.
            block = b"".join(self._pieces)
            self._pieces.clear()
            self._pending = 0
            self._send(block)
        return len(data)

    def flush(self) -> None:
        """Part of the file protocol; blocks are sent when full or at commit."""

    def _send(self, block: bytes) -> None:
        self._raise_failed()
        block_id = base64.b64encode(f"{len(self._block_ids):08d}".encode()).decode()
        self._block_ids.append(block_id)
        self._slots.acquire()
        future = self._pool.submit(self._put_block, block_id, block)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _put_block(self, block_id: str, block: bytes) -> None:
        # No per-block MD5: the worker checks the whole archive's SHA-256, which covers every block.
        headers = {"x-ms-version": _STORAGE_VERSION, "Content-Length": str(len(block))}
        url = f"{self._url}&comp=block&blockid={quote(block_id, safe='')}"
        try:
            # Streamed in slices with a known length: the HTTP stack then never copies the whole block.
            response = self._http.request("PUT", url, content=_slices(block), headers=headers)
        except TransportError as error:
            raise CliError(f"uploading the context failed: {error}") from None
        self._checked(response)

    def _checked(self, response: Response) -> None:
        if response.status >= 300:
            reason = response.text[:300].replace("\n", " ")
            raise CliError(f"uploading the context failed: HTTP {response.status} {reason}")

    def _raise_failed(self) -> None:
        for future in self._futures:
            if future.done():
                future.result()

    def commit(self, sha256: str) -> None:
        """Send the last block and the block list, recording the archive's SHA-256 as metadata."""
        if self._pieces or not self._block_ids:
            self._send(b"".join(self._pieces))
            self._pieces.clear()
            self._pending = 0
        for future in self._futures:
            future.result()
        body = "".join(f"<Latest>{b}</Latest>" for b in self._block_ids)  # base64: nothing to escape
        headers = {
            "x-ms-version": _STORAGE_VERSION,
            "x-ms-blob-content-type": "application/gzip",
            "x-ms-meta-sha256": sha256,
            "Content-Type": "application/xml",
        }
        xml = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{body}</BlockList>'
        try:
            response = self._http.request("PUT", f"{self._url}&comp=blocklist", content=xml.encode(), headers=headers)
        except TransportError as error:
            raise CliError(f"uploading the context failed: {error}") from None
        self._checked(response)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()
