"""Uploaded build contexts: upload tickets, checks at scheduling time, download for the worker.

As with ACR's `listBuildSourceUploadUrl`, clients upload the `.tar.gz` straight to Blob storage with
a short-lived write-only URL, so large contexts never pass through a Function's request body. The
worker later downloads the blob to a local file, checking its size and SHA-256 while streaming.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from core.errors import ContextNotFound, ContextTooLarge, InvalidContext, InvalidRequest
from core.ports import BlobInfo, BlobStore

CONTEXTS_CONTAINER = "contexts"
_SOURCE_LOCATION = re.compile(r"^[0-9a-f]{32}\.tar\.gz$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def context_blob_name(context_id: str) -> str:
    return f"{context_id}.tar.gz"


@dataclass(frozen=True)
class UploadTicket:
    upload_url: str
    source_location: str
    max_bytes: int
    expires_on: datetime


def create_upload_ticket(blobs: BlobStore, *, now: datetime, minutes: int, max_bytes: int) -> UploadTicket:
    name = context_blob_name(uuid.uuid4().hex)
    expires = now + timedelta(minutes=minutes)
    return UploadTicket(
        upload_url=blobs.upload_url(CONTEXTS_CONTAINER, name, expires=expires),
        source_location=name,
        max_bytes=max_bytes,
        expires_on=expires,
    )


def validate_source_location(source_location: object, *, where: str = "sourceLocation") -> str:
    if not isinstance(source_location, str) or not _SOURCE_LOCATION.match(source_location):
        raise InvalidRequest(
            f"{where} must be the sourceLocation returned by POST /api/contexts (like '<32 hex>.tar.gz'), "
            f"got {source_location!r}",
            target=where,
        )
    return source_location


def validate_sha256(value: object, *, where: str = "sourceSha256") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value.lower()):
        raise InvalidRequest(f"{where} must be 64 hexadecimal characters (a SHA-256 digest)", target=where)
    return value.lower()


def check_uploaded_context(blobs: BlobStore, source_location: str, *, max_bytes: int) -> BlobInfo:
    """Refuse, before queuing a run, contexts that were never uploaded or are too large."""
    info = blobs.info(CONTEXTS_CONTAINER, source_location)
    if info is None:
        raise ContextNotFound(
            f"no uploaded context at sourceLocation {source_location!r}; upload the archive to the URL from "
            "POST /api/contexts first (it expires after an hour)",
            target="sourceLocation",
        )
    if info.size > max_bytes:
        blobs.delete(CONTEXTS_CONTAINER, source_location)
        raise ContextTooLarge(
            f"the uploaded context is {info.size} bytes, over the limit of {max_bytes} bytes; exclude large "
            "files with .dockerignore or raise SLIPWAY_MAX_CONTEXT_BYTES",
            target="sourceLocation",
        )
    return info


def download_context(
    blobs: BlobStore, source_location: str, destination: Path, *, max_bytes: int, expected_sha256: str | None
) -> str:
    """Stream the context blob to `destination`; returns its SHA-256 after checking size and digest."""
    digest = hashlib.sha256()
    size = 0
    with destination.open("wb") as sink:
        for chunk in blobs.read_chunks(CONTEXTS_CONTAINER, source_location):
            size += len(chunk)
            if size > max_bytes:
                raise ContextTooLarge(f"the uploaded context exceeds the limit of {max_bytes} bytes")
            digest.update(chunk)
            sink.write(chunk)
    if size == 0 and blobs.info(CONTEXTS_CONTAINER, source_location) is None:
        raise ContextNotFound(f"the uploaded context {source_location!r} no longer exists")
    actual = digest.hexdigest()
    if expected_sha256 is not None and actual != expected_sha256:
        raise InvalidContext(
            f"the uploaded context's SHA-256 is {actual}, but the client sent {expected_sha256}; the upload was "
            "changed or truncated - run the build again"
        )
    return actual


def fetch_context(
    blobs: BlobStore,
    source_location: str,
    destination: Path,
    *,
    max_bytes: int,
    max_unpacked_bytes: int,
    expected_sha256: str | None,
    dockerfile: str | None,
) -> None:
    """Download an uploaded context and check it is a safe, complete archive (see `context_archive`)."""
    from core.context_archive import inspect_context_archive

    download_context(blobs, source_location, destination, max_bytes=max_bytes, expected_sha256=expected_sha256)
    with destination.open("rb") as source:
        inspect_context_archive(
            source, max_bytes=max_bytes, max_unpacked_bytes=max_unpacked_bytes, dockerfile=dockerfile
        )


def read_dockerfile(archive: Path, dockerfile: str, *, limit: int = 1 << 20) -> str:
    """The Dockerfile's text from a context archive (already validated, so the member exists)."""
    wanted = dockerfile.removeprefix("./")
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                if member.name.removeprefix("./") == wanted and member.isfile():
                    if member.size > limit:
                        raise InvalidContext(f"Dockerfile '{dockerfile}' is larger than {limit} bytes")
                    handle = tar.extractfile(member)
                    if handle is None:
                        break
                    return handle.read().decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InvalidContext(f"the context archive cannot be read: {error}") from error
    raise InvalidContext(
        f"Dockerfile '{dockerfile}' was not found in the context; pass -f with its path relative to the context",
        target="dockerFilePath",
    )
