"""Server-side validation of an uploaded build context archive.

`inspect_context_archive` reads a `.tar.gz` (gzip may be multi-member, as `core.context_packing`
writes it) or a plain `.tar` once, as a stream: the compressed bytes are hashed and counted as they
arrive, decompression output is bounded per call, and `tarfile` runs in stream mode with its member
list cleared as it goes, so memory stays constant however large or hostile the upload is.

It refuses what a builder should never unpack: absolute or `..` paths, symlinks or hard links that
lead out of the context, device and fifo entries, corrupt or truncated streams, a missing
Dockerfile, and archives over the compressed or unpacked size limits (decompression bombs).
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, Self

from core.errors import ContextTooLarge, InvalidContext

MAX_ENTRIES = 1_000_000
_READ_SIZE = 256 * 1024
_OUTPUT_SIZE = 1024 * 1024
_TAR_BUFSIZE = 64 * 1024
_MAX_METADATA_HEADER = 1024 * 1024
_MAX_LINK_HOPS = 40
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_METADATA_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)
_SPECIAL_TYPES = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a named pipe (fifo)",
}


@dataclass(frozen=True)
class ContextSummary:
    """What an accepted archive holds; `unpacked_bytes` is the size of the uncompressed tar stream."""

    file_count: int
    unpacked_bytes: int
    compressed_bytes: int
    sha256: str
    dockerfile: str


def inspect_context_archive(
    source: BinaryIO,
    *,
    max_bytes: int,
    max_unpacked_bytes: int,
    dockerfile: str | None,
    max_entries: int = MAX_ENTRIES,
) -> ContextSummary:
    """Validate a build context archive in one streaming pass and summarise it.

    `dockerfile` is the Dockerfile's path inside the context (None: no file is required, as for task
    runs whose task file is sent inline). Raises `InvalidContext` for unsafe,
    corrupt or incomplete archives and `ContextTooLarge` for archives over either size limit or
    with more than `max_entries` entries (the only state kept per entry is a hash of its name).
    """
    wanted = _normalise_dockerfile(dockerfile) if dockerfile is not None else None
    raw = _RawReader(source, max_bytes)
    head = raw.read()
    if not head:
        raise InvalidContext(
            "context archive is empty; upload a .tar.gz (or .tar) of the build context", target="context"
        )
    for magic, name in _OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            raise InvalidContext(
                f"context archive is compressed with {name}; upload a gzip-compressed (.tar.gz) or plain tar",
                target="context",
            )
    check = _EntryCheck(max_entries)
    stream = _TarStream(raw, head, gzipped=head.startswith(_GZIP_MAGIC), limit=max_unpacked_bytes, check=check)
    try:
        with _open_tar(stream) as tar:
            while (member := tar.next()) is not None:
                check.add(member)
                # stream mode keeps every TarInfo otherwise; `members` is missing from typeshed
                tar.members.clear()  # type: ignore[attr-defined]
        stream.drain()
    except _Damaged as damage:
        raise _damage_error(damage.truncated, str(damage), check.last) from damage
    except (tarfile.ReadError, tarfile.StreamError) as error:
        raise _damage_error("end of data" in str(error), str(error), check.last) from error
    return ContextSummary(
        file_count=check.file_count,
        unpacked_bytes=stream.total,
        compressed_bytes=raw.count,
        sha256=raw.sha256.hexdigest(),
        dockerfile=check.finish(wanted),
    )


def _open_tar(stream: _TarStream) -> tarfile.TarFile:
    """Open the tar stream (which reads its first header), explaining what a failure means."""
    try:
        return tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo, bufsize=_TAR_BUFSIZE)
    except (tarfile.ReadError, _Damaged) as error:
        if isinstance(error, _Damaged) and (stream.gzipped or error.truncated):
            raise _damage_error(error.truncated, str(error), None) from error
        what = "gzip-compressed but holds no tar archive" if stream.gzipped else "neither gzip nor tar"
        raise InvalidContext(
            f"context archive is {what} ({error}); upload a .tar.gz (or .tar) of the build context",
            target="context",
        ) from error


def find_escaping_link(symlinks: Mapping[str, str]) -> tuple[str, str] | None:
    """The first symlink (name, target) that resolves outside the root, following other links.

    Names are normalised archive paths; a target is resolved from the link's directory the way the
    kernel would after extraction. Example: `{"a": ".", "b": "a/.."}` gives `("b", "a/..")`.
    """
    for name, target in symlinks.items():
        parent = name.split("/")[:-1]
        if target.startswith("/") or not _resolves_inside([*parent, *target.split("/")], symlinks):
            return name, target
    return None


def normalise_entry_name(name: str) -> str:
    """An archive entry's path, cleaned; raises `InvalidContext` for absolute or escaping paths."""
    if name.startswith("/"):
        raise InvalidContext(
            f"context entry '{name}' is an absolute path; archives must contain only relative paths inside the context",
            target=name,
        )
    cleaned = posixpath.normpath(name) if name else "."
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidContext(
            f"context entry '{name}' escapes the context root; archives must contain only relative paths "
            "inside the context",
            target=name,
        )
    return cleaned


def _resolves_inside(parts: list[str], symlinks: Mapping[str, str]) -> bool:
    pending = deque(parts)
    stack: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return False
            stack.pop()
            continue
        stack.append(part)
        target = symlinks.get("/".join(stack))
        if target is None:
            continue
        hops += 1
        if target.startswith("/") or hops > _MAX_LINK_HOPS:
            # a loop cannot be resolved, so it cannot be shown to stay inside
            return False
        stack.pop()
        pending.extendleft(reversed(target.split("/")))
    return True


def _normalise_dockerfile(dockerfile: str) -> str:
    cleaned = posixpath.normpath(dockerfile or "Dockerfile")
    if cleaned.startswith("/") or cleaned == ".." or cleaned.startswith("../") or cleaned == ".":
        raise InvalidContext(
            f"Dockerfile path '{dockerfile}' is not a file path inside the context; pass -f with a "
            "relative path such as 'Dockerfile' or 'docker/app.Dockerfile'",
            target="dockerfile",
        )
    return cleaned


def _damage_error(truncated: bool, detail: str, last: str | None) -> InvalidContext:
    what = "truncated" if truncated else "corrupt"
    where = f"the last entry read was '{last}'" if last is not None else "no entry could be read"
    return InvalidContext(
        f"context archive is {what} ({detail}); {where}; re-create the archive and upload it again",
        target="context",
    )


class _Damaged(Exception):
    def __init__(self, message: str, *, truncated: bool) -> None:
        super().__init__(message)
        self.truncated = truncated


class _StrictTarInfo(tarfile.TarInfo):
    """Turns header damage into errors; stream-mode `tarfile` would take it for the end of the archive."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        try:
            info = super().frombuf(buf, encoding, errors)
        except tarfile.HeaderError as error:
            # typeshed lists only the base class; the subclasses tell an ending from damage
            kind = type(error).__name__
            if kind in ("EOFHeaderError", "EmptyHeaderError"):
                raise
            truncated = kind == "TruncatedHeaderError"
            what = "incomplete" if truncated else "invalid"
            raise _Damaged(f"{what} tar header: {error}", truncated=truncated) from error
        if info.type in _METADATA_TYPES and info.size > _MAX_METADATA_HEADER:
            raise _Damaged(
                f"a {info.size}-byte PAX/GNU metadata header is larger than {_MAX_METADATA_HEADER} bytes",
                truncated=False,
            )
        return info


class _EntryCheck:
    """Per-entry rules. Regular files are remembered by the hash of their name only (for hard links
    and the Dockerfile), symlinks by name and target (to resolve them all at the end)."""

    def __init__(self, max_entries: int) -> None:
        self.files: set[int] = set()
        self.symlinks: dict[str, str] = {}
        self.file_count = 0
        self.entries = 0
        self.max_entries = max_entries
        self.last: str | None = None

    def add(self, member: tarfile.TarInfo) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise ContextTooLarge(
                f"context archive has more than {self.max_entries} entries; leave generated or vendored "
                "folders out with .dockerignore",
                target="context",
            )
        name = normalise_entry_name(member.name)
        if member.isreg():
            self.files.add(hash(name))
            self.file_count += 1
        elif member.issym():
            self._check_symlink(member, name)
        elif member.islnk():
            self._check_hardlink(member, name)
        elif member.isdir():
            pass
        else:
            kind = _SPECIAL_TYPES.get(member.type, f"of unsupported type {member.type!r}")
            raise InvalidContext(
                f"context entry '{member.name}' is {kind}; archives may only contain regular files, "
                "directories and links",
                target=member.name,
            )
        if name == "." and not member.isdir():
            raise InvalidContext(
                f"context entry '{member.name}' has no file name; re-create the archive", target=member.name
            )
        self.last = member.name

    def _check_symlink(self, member: tarfile.TarInfo, name: str) -> None:
        target = member.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target)) if target else name
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise _link_error(member.name, target)
        self.symlinks[name] = target

    def _check_hardlink(self, member: tarfile.TarInfo, name: str) -> None:
        target = member.linkname
        cleaned = posixpath.normpath(target) if target else "."
        if target.startswith("/") or cleaned == ".." or cleaned.startswith("../"):
            raise InvalidContext(
                f"context entry '{member.name}' is a hard link to '{target}', outside the context root; "
                "archives may only contain links that stay inside the context",
                target=member.name,
            )
        if hash(cleaned) not in self.files:
            raise InvalidContext(
                f"context entry '{member.name}' is a hard link to '{target}', which is not a regular file "
                "stored earlier in the archive; hard links must follow the file they point to",
                target=member.name,
            )
        self.files.add(hash(name))
        self.file_count += 1

    def finish(self, wanted: str | None) -> str:
        """Run the checks that need the whole archive; returns the Dockerfile's path in it ("" if none)."""
        escaping = find_escaping_link(self.symlinks)
        if escaping is not None:
            raise _link_error(*escaping)
        if wanted is None:
            return ""
        candidates = [wanted, "dockerfile"] if wanted == "Dockerfile" else [wanted]
        for candidate in candidates:
            if hash(candidate) in self.files or self._link_reaches_file(candidate):
                return candidate
        looked = " and ".join(f"'{c}'" for c in candidates)
        raise InvalidContext(
            f"Dockerfile '{wanted}' not found in the context archive (looked for {looked} among "
            f"{self.file_count} files); pass -f with the Dockerfile's path inside the context",
            target="dockerfile",
        )

    def _link_reaches_file(self, name: str) -> bool:
        for _ in range(_MAX_LINK_HOPS):
            target = self.symlinks.get(name)
            if target is None:
                return hash(name) in self.files
            name = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        return False


def _link_error(name: str, target: str) -> InvalidContext:
    return InvalidContext(
        f"context entry '{name}' is a symlink to '{target}', which resolves outside the context root; "
        "archives may only contain symlinks that stay inside the context",
        target=name,
    )


class _RawReader:
    """Reads the upload, hashing and counting the compressed bytes and enforcing `max_bytes`."""

    def __init__(self, source: BinaryIO, max_bytes: int) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.count = 0
        self.sha256 = hashlib.sha256()

    def read(self) -> bytes:
        data = self.source.read(_READ_SIZE)
        if data:
            self.count += len(data)
            if self.count > self.max_bytes:
                raise ContextTooLarge(
                    f"context archive is larger than the limit of {self.max_bytes} bytes; make the context "
                    "smaller (e.g. with .dockerignore) or ask for a higher limit",
                    target="context",
                )
            self.sha256.update(data)
        return data


class _TarStream(io.RawIOBase):
    """The uncompressed tar bytes, produced in bounded chunks; counts them against the unpacked limit."""

    def __init__(self, raw: _RawReader, head: bytes, *, gzipped: bool, limit: int, check: _EntryCheck) -> None:
        super().__init__()
        self.raw = raw
        self.input = head
        self.gzipped = gzipped
        self.limit = limit
        self.check = check
        self.decompressor: zlib._Decompress | None = None
        self.chunk = b""
        self.offset = 0
        self.total = 0
        self.finished = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.offset >= len(self.chunk):
            self.chunk, self.offset = self._next_chunk(), 0
        if size < 0:
            size = len(self.chunk) - self.offset
        data = self.chunk[self.offset : self.offset + size]
        self.offset += len(data)
        return data

    def drain(self) -> None:
        """Consume the rest (tar padding, later gzip members) so sizes, hash and CRCs are complete."""
        self.chunk, self.offset = b"", 0
        while self._next_chunk():
            pass

    def _next_chunk(self) -> bytes:
        data = self._decompress() if self.gzipped else self._passthrough()
        self.total += len(data)
        if self.total > self.limit:
            after = f" (after entry '{self.check.last}')" if self.check.last is not None else ""
            raise ContextTooLarge(
                f"context archive unpacks to more than the limit of {self.limit} bytes{after}; make the "
                "context smaller (e.g. with .dockerignore) or ask for a higher limit",
                target="context",
            )
        return data

    def _passthrough(self) -> bytes:
        data, self.input = self.input or self.raw.read(), b""
        return data

    def _decompress(self) -> bytes:
        while not self.finished:
            if not self.input:
                self.input = self.raw.read()
                if not self.input:
                    if self.decompressor is not None:
                        raise _Damaged("the gzip stream ends in the middle of a member", truncated=True)
                    self.finished = True
                    break
            if self.decompressor is None:
                self._start_member()
                continue
            try:
                data = self.decompressor.decompress(self.input, _OUTPUT_SIZE)
            except zlib.error as error:
                raise _Damaged(f"gzip data error: {error}", truncated=False) from error
            if self.decompressor.eof:
                self.input, self.decompressor = self.decompressor.unused_data, None
            else:
                self.input = self.decompressor.unconsumed_tail
            if data:
                return data
        return b""

    def _start_member(self) -> None:
        if self.input.strip(b"\0") == b"":
            # zero padding after the last member, which gzip readers skip
            self.input = b""
            return
        if len(self.input) < 2:
            more = self.raw.read()
            if more:
                self.input += more
                return
        if not self.input.startswith(_GZIP_MAGIC):
            raise _Damaged("data after a gzip member is not another gzip member", truncated=False)
        self.decompressor = zlib.decompressobj(wbits=31)
