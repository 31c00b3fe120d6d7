"""Start Azurite (in memory, OS-chosen ports) for a test session.

    azurite = start_azurite()
    QueueServiceClient.from_connection_string(azurite.connection_string)
    ...
    azurite.stop()

or as a context manager. Azurite is the pinned npm package in `node_modules` (see package.json),
run with `--skipApiVersionCheck` (the Python SDKs speak a newer service version than Azurite 3.35)
and `--disableTelemetry` (no outbound traffic).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.processes import RunningProcess, start_process

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's published, well-known development key: it protects nothing.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = r"Azurite {} service is successfully listening at http://127\.0\.0\.1:(\d+)"


@dataclass
class Azurite:
    """A running Azurite: its ports, a full connection string, and `stop()`."""

    blob_port: int
    queue_port: int
    table_port: int
    process: RunningProcess
    host: str = "127.0.0.1"

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.blob_port}/{ACCOUNT_NAME}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://{self.host}:{self.queue_port}/{ACCOUNT_NAME}"

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.table_port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def stop(self, timeout: float = 10) -> None:
        self.process.stop(timeout)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_azurite(timeout: float = 60) -> Azurite:
    """Start Azurite with blob, queue and table services on free ports and wait until all listen."""
    if not AZURITE_BIN.exists():
        raise FileNotFoundError(f"{AZURITE_BIN} is missing; run `npm ci` in {REPO_ROOT}")
    args = [
        str(AZURITE_BIN),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--inMemoryPersistence",
        "--blobPort",
        "0",
        "--queuePort",
        "0",
        "--tablePort",
        "0",
    ]
    process = start_process(args, ready=_LISTENING.format("Blob"), timeout=timeout, cwd=REPO_ROOT)
    try:
        queue = process.wait_for_line(_LISTENING.format("Queue"), timeout)
        table = process.wait_for_line(_LISTENING.format("Table"), timeout)
    except BaseException:
        process.stop()
        raise
    assert process.match is not None
    return Azurite(
        blob_port=int(process.match.group(1)),
        queue_port=int(queue.group(1)),
        table_port=int(table.group(1)),
        process=process,
    )
