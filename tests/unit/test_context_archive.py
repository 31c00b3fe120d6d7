"""Validating uploaded context archives, each bad case built in memory."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import itertools
import tarfile

import pytest

from core.context_archive import ContextSummary, find_escaping_link, inspect_context_archive
from core.errors import ContextTooLarge, InvalidContext

MB = 1024 * 1024
Entry = tuple[str, bytes, object]  # (name, type, content for files / link target for links)


def tar_bytes(*entries: Entry, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                assert isinstance(value, bytes)
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            else:
                info.linkname = str(value or "")
                tar.addfile(info)
    return buffer.getvalue()


def file(name: str, content: bytes = b"x") -> Entry:
    return (name, tarfile.REGTYPE, content)


def directory(name: str) -> Entry:
    return (name, tarfile.DIRTYPE, None)


def symlink(name: str, target: str) -> Entry:
    return (name, tarfile.SYMTYPE, target)


def hardlink(name: str, target: str) -> Entry:
    return (name, tarfile.LNKTYPE, target)


DOCKERFILE = file("Dockerfile", b"FROM alpine\n")


def inspect(
    data: bytes, *, dockerfile: str = "Dockerfile", max_bytes: int = 10 * MB, max_unpacked: int = 100 * MB
) -> ContextSummary:
    return inspect_context_archive(
        io.BytesIO(data), max_bytes=max_bytes, max_unpacked_bytes=max_unpacked, dockerfile=dockerfile
    )


def rejected(data: bytes, **kwargs: object) -> str:
    with pytest.raises(InvalidContext) as raised:
        inspect(data, **kwargs)  # type: ignore[arg-type]
    return raised.value.message


def test_a_good_gzip_archive_is_summarised() -> None:
    raw = tar_bytes(
        DOCKERFILE,
        directory("src"),
        file("src/app.py", b"print('hi')\n" * 1000),
        symlink("src/link", "app.py"),
        hardlink("src/again.py", "src/app.py"),
        symlink("top", "src/link"),
    )
    compressed = gzip.compress(raw)
    summary = inspect(compressed)
    assert summary == ContextSummary(
        file_count=3,
        unpacked_bytes=len(raw),
        compressed_bytes=len(compressed),
        sha256=hashlib.sha256(compressed).hexdigest(),
        dockerfile="Dockerfile",
    )


def test_a_plain_tar_is_accepted_too() -> None:
    raw = tar_bytes(file("./docker/app.Dockerfile"), file("./main.go"))
    summary = inspect(raw, dockerfile="docker/app.Dockerfile")
    assert (summary.file_count, summary.compressed_bytes, summary.unpacked_bytes) == (2, len(raw), len(raw))
    assert summary.dockerfile == "docker/app.Dockerfile"


def test_a_multi_member_gzip_reads_as_one_stream() -> None:
    raw = tar_bytes(DOCKERFILE, file("big.bin", bytes(range(256)) * 4000))
    cut = [0, 1000, 1001, 50_000, len(raw)]
    compressed = b"".join(gzip.compress(raw[a:b]) for a, b in itertools.pairwise(cut))
    summary = inspect(compressed)
    assert (summary.file_count, summary.unpacked_bytes) == (2, len(raw))


def test_zero_padding_after_the_last_gzip_member_is_accepted() -> None:
    compressed = gzip.compress(tar_bytes(DOCKERFILE)) + bytes(4096)
    assert inspect(compressed).compressed_bytes == len(compressed)


def test_an_absolute_entry_is_rejected() -> None:
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE, file("/etc/passwd"))))
    assert message == (
        "context entry '/etc/passwd' is an absolute path; archives must contain only relative paths inside the context"
    )


@pytest.mark.parametrize("name", ["../etc/passwd", "src/../../x", ".."])
def test_an_entry_escaping_the_root_is_rejected(name: str) -> None:
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE, file(name))))
    assert message == (
        f"context entry '{name}' escapes the context root; archives must contain only relative paths inside the context"
    )


def test_an_entry_with_dotdot_that_stays_inside_is_accepted() -> None:
    assert inspect(gzip.compress(tar_bytes(DOCKERFILE, file("src/../other")))).file_count == 2


@pytest.mark.parametrize(
    ("entries", "link", "target"),
    [
        ([symlink("etc", "/etc")], "etc", "/etc"),
        ([directory("a"), symlink("a/up", "../../x")], "a/up", "../../x"),
        ([symlink("a", "."), symlink("b", "a/..")], "b", "a/.."),
        ([symlink("b", "a/../x"), symlink("a", "sub/..")], "b", "a/../x"),
        ([symlink("loop1", "loop2"), symlink("loop2", "loop1/..")], "loop1", "loop2"),
    ],
)
def test_a_symlink_resolving_outside_the_root_is_rejected(entries: list[Entry], link: str, target: str) -> None:
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE, *entries)))
    assert message.startswith(f"context entry '{link}' is a symlink to '{target}', which resolves outside")


def test_a_hard_link_outside_the_root_is_rejected() -> None:
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE, hardlink("h", "../../etc/shadow"))))
    assert message.startswith("context entry 'h' is a hard link to '../../etc/shadow', outside the context root")


def test_a_hard_link_to_a_later_file_is_rejected() -> None:
    message = rejected(gzip.compress(tar_bytes(hardlink("h", "Dockerfile"), DOCKERFILE)))
    assert "is a hard link to 'Dockerfile', which is not a regular file stored earlier" in message


@pytest.mark.parametrize(
    ("kind", "what"),
    [(tarfile.CHRTYPE, "a character device"), (tarfile.BLKTYPE, "a block device"), (tarfile.FIFOTYPE, "a named pipe")],
)
def test_device_and_fifo_entries_are_rejected(kind: bytes, what: str) -> None:
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE, ("dev/x", kind, None))))
    assert message.startswith(f"context entry 'dev/x' is {what}")


def test_a_truncated_gzip_is_reported_with_the_last_entry_read() -> None:
    compressed = gzip.compress(tar_bytes(DOCKERFILE, file("a", b"a" * 5000), file("b", bytes(range(256)) * 400)))
    message = rejected(compressed[: len(compressed) - 20])
    assert message.startswith("context archive is truncated (the gzip stream ends in the middle of a member)")
    assert message.endswith("; the last entry read was 'b'; re-create the archive and upload it again")


def test_corrupt_gzip_data_is_reported() -> None:
    noise = hashlib.shake_256(b"noise").digest(3 * MB)  # big enough that the damage is met after the headers
    compressed = bytearray(gzip.compress(tar_bytes(DOCKERFILE, file("a", noise)), compresslevel=1))
    compressed[-6] ^= 0xFF  # inside the CRC32 trailer
    message = rejected(bytes(compressed))
    assert message.startswith(
        "context archive is corrupt (gzip data error: Error -3 while decompressing data: incorrect"
    )
    assert "; the last entry read was 'a';" in message


def test_a_truncated_plain_tar_is_reported() -> None:
    raw = tar_bytes(DOCKERFILE, file("a", b"a" * 5000))
    message = rejected(raw[: 1536 + 1000])
    assert message == (
        "context archive is truncated (unexpected end of data); the last entry read was 'a'; "
        "re-create the archive and upload it again"
    )


def test_a_damaged_tar_header_is_reported_not_taken_for_the_end() -> None:
    raw = bytearray(tar_bytes(DOCKERFILE, file("a"), file("b")))
    raw[2048 + 10] ^= 0xFF  # the name field of 'b', so its checksum no longer matches
    message = rejected(gzip.compress(bytes(raw)))
    assert message.startswith(
        "context archive is corrupt (invalid tar header: bad checksum); the last entry read was 'a'"
    )


def test_data_after_the_gzip_stream_is_reported() -> None:
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE)) + b"garbage")
    assert "is not another gzip member" in message


def test_a_missing_dockerfile_says_where_it_looked_and_suggests_f() -> None:
    message = rejected(gzip.compress(tar_bytes(file("main.go"))))
    assert message == (
        "Dockerfile 'Dockerfile' not found in the context archive (looked for 'Dockerfile' and 'dockerfile' "
        "among 1 files); pass -f with the Dockerfile's path inside the context"
    )
    message = rejected(gzip.compress(tar_bytes(DOCKERFILE)), dockerfile="build/Dockerfile")
    assert "(looked for 'build/Dockerfile' among 1 files)" in message


def test_a_lower_case_dockerfile_is_found_like_the_docker_daemon_does() -> None:
    assert inspect(gzip.compress(tar_bytes(file("dockerfile")))).dockerfile == "dockerfile"


def test_a_dockerfile_reached_through_a_symlink_counts() -> None:
    archive = gzip.compress(tar_bytes(file("docker/Dockerfile.prod"), symlink("Dockerfile", "docker/Dockerfile.prod")))
    assert inspect(archive).dockerfile == "Dockerfile"


@pytest.mark.parametrize("dockerfile", ["../Dockerfile", "/Dockerfile", "."])
def test_a_dockerfile_path_outside_the_context_is_refused(dockerfile: str) -> None:
    assert "is not a file path inside the context" in rejected(
        gzip.compress(tar_bytes(DOCKERFILE)), dockerfile=dockerfile
    )


def test_an_upload_over_the_compressed_limit_is_too_large() -> None:
    archive = gzip.compress(tar_bytes(DOCKERFILE, file("noise", bytes(range(256)) * 4096)))
    with pytest.raises(ContextTooLarge, match="larger than the limit of 1000 bytes"):
        inspect(archive, max_bytes=1000)


def test_a_decompression_bomb_stops_at_the_unpacked_limit() -> None:
    bomb = gzip.compress(tar_bytes(DOCKERFILE, file("zeros", bytes(64 * MB))), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(
        ContextTooLarge, match=r"unpacks to more than the limit of 8388608 bytes \(after entry 'zeros'\)"
    ):
        inspect(bomb, max_unpacked=8 * MB)


def test_an_archive_with_too_many_entries_is_too_large() -> None:
    archive = gzip.compress(tar_bytes(DOCKERFILE, *(file(f"f{i}") for i in range(10))))
    with pytest.raises(ContextTooLarge, match="has more than 5 entries; leave generated or vendored folders out"):
        inspect_context_archive(
            io.BytesIO(archive), max_bytes=MB, max_unpacked_bytes=MB, dockerfile="Dockerfile", max_entries=5
        )


def test_a_huge_pax_header_is_refused_before_it_is_buffered() -> None:
    raw = tar_bytes(DOCKERFILE, file("x" * 300, b"y"))  # the long name needs a PAX header
    pax = raw.index(b"././@PaxHeader")
    header = bytearray(raw[pax : pax + 512])
    header[124:136] = b"%011o\0" % (2 * MB)
    header[148:156] = b"        "
    header[148:155] = b"%06o\0" % sum(header)
    message = rejected(gzip.compress(raw[:pax] + bytes(header) + raw[pax + 512 :]))
    assert "PAX/GNU metadata header is larger than" in message


def test_other_compressions_are_named() -> None:
    message = rejected(bz2.compress(tar_bytes(DOCKERFILE)))
    assert message.startswith("context archive is compressed with bzip2;")


def test_an_empty_upload_is_rejected() -> None:
    assert rejected(b"").startswith("context archive is empty")


def test_bytes_that_are_no_archive_are_rejected() -> None:
    message = rejected(b"hello, this is not a tar archive at all\n" * 30)
    assert message.startswith("context archive is neither gzip nor tar (invalid tar header: invalid header)")
    assert rejected(gzip.compress(b"")).startswith("context archive is gzip-compressed but holds no tar archive")


def test_links_are_resolved_through_other_links() -> None:
    assert find_escaping_link({"a": "b/c", "b": "d", "d/c": "../.."}) == ("a", "b/c")
    assert find_escaping_link({"a": "b/c", "b": "d", "d/c": "../e"}) is None
