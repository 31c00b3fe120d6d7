"""Packing a folder into a multi-member `.tar.gz` build context and reading it back."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.context_archive import inspect_context_archive
from core.context_packing import PackResult, pack_context
from core.errors import InvalidContext

MTIME = 1_700_000_000.75


def make_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def pack(root: Path, dockerfile: str = "Dockerfile", **kwargs: object) -> tuple[PackResult, bytes]:
    sink = io.BytesIO()
    result = pack_context(root, dockerfile, sink, **kwargs)  # type: ignore[arg-type]
    return result, sink.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def names(data: bytes) -> list[str]:
    return [m.name for m in members(data)]


def gzip_member_count(data: bytes) -> int:
    count = 0
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        decompressor.decompress(data)
        assert decompressor.eof
        data = decompressor.unused_data
        count += 1
    return count


def test_the_archive_holds_what_dockerignore_keeps_in_sorted_order(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "Dockerfile": "FROM alpine\n",
            ".dockerignore": "node_modules\n*.log\n!keep.log\n",
            "src/main.py": "print(1)\n",
            "src/b/c.txt": "c",
            "app.log": "log",
            "keep.log": "keep",
            "node_modules/x/index.js": "x",
        },
    )
    result, data = pack(tmp_path)
    assert names(data) == [
        ".dockerignore",
        "Dockerfile",
        "keep.log",
        "src",
        "src/b",
        "src/b/c.txt",
        "src/main.py",
    ]
    assert result.file_count == 5
    assert result.dockerfile_in_archive == "Dockerfile"


def test_the_result_describes_the_bytes_written(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": "FROM alpine\n", "data.bin": os.urandom(50_000)})
    seen: list[int] = []
    result, data = pack(tmp_path, progress=seen.append, block_size=8192)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.compressed_bytes == len(data)
    assert result.unpacked_bytes == len(gzip.decompress(data))
    assert gzip_member_count(data) > 1
    assert seen == sorted(seen)
    assert seen[-1] == len(data)


def test_packing_the_same_tree_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": "FROM alpine\n", "a/b.txt": "b" * 10_000, "c.bin": os.urandom(30_000)})
    first, _ = pack(tmp_path, block_size=4096)
    second, _ = pack(tmp_path, block_size=4096, workers=1)
    assert first.sha256 == second.sha256


def test_entries_carry_docker_cli_metadata(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": "FROM alpine\n", "bin/run.sh": "#!/bin/sh\n"})
    script = tmp_path / "bin" / "run.sh"
    script.chmod(0o4755)
    os.utime(script, (MTIME, MTIME))
    (tmp_path / "bin" / "run-link").symlink_to("run.sh")
    os.link(script, tmp_path / "bin" / "zz-hardlink.sh")
    by_name = {m.name: m for m in members(pack(tmp_path)[1])}
    run = by_name["bin/run.sh"]
    assert (run.type, run.mode, run.mtime, run.size) == (tarfile.REGTYPE, 0o4755, int(MTIME), 10)
    assert (run.uid, run.gid, run.uname, run.gname) == (0, 0, "", "")
    assert by_name["bin"].type == tarfile.DIRTYPE
    assert (by_name["bin/run-link"].type, by_name["bin/run-link"].linkname) == (tarfile.SYMTYPE, "run.sh")
    hard = by_name["bin/zz-hardlink.sh"]
    assert (hard.type, hard.linkname, hard.size) == (tarfile.LNKTYPE, "bin/run.sh", 0)


def test_an_exception_re_includes_a_file_and_its_excluded_parents(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "Dockerfile": "FROM alpine\n",
            ".dockerignore": "vendor\n!vendor/keep/me.txt\n",
            "vendor/keep/me.txt": "me",
            "vendor/keep/other.txt": "no",
            "vendor/drop/x.txt": "no",
        },
    )
    (tmp_path / "vendor" / "keep").chmod(0o750)
    by_name = {m.name: m for m in members(pack(tmp_path)[1])}
    assert sorted(by_name) == [".dockerignore", "Dockerfile", "vendor", "vendor/keep", "vendor/keep/me.txt"]
    assert by_name["vendor/keep"].mode == 0o750


def test_the_dockerfile_and_dockerignore_are_sent_even_when_ignored(tmp_path: Path) -> None:
    make_tree(tmp_path, {"build/app.Dockerfile": "FROM alpine\n", ".dockerignore": "*\n", "src/a": "a"})
    result, data = pack(tmp_path, "build/app.Dockerfile")
    assert names(data) == [".dockerignore", "build", "build/app.Dockerfile"]
    assert result.dockerfile_in_archive == "build/app.Dockerfile"


def test_a_dockerfile_specific_ignore_file_takes_precedence(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "Dockerfile": "FROM alpine\n",
            "docker/api.Dockerfile": "FROM alpine\n",
            "docker/api.Dockerfile.dockerignore": "*.md\n",
            ".dockerignore": "*.txt\n",
            "README.md": "r",
            "notes.txt": "n",
        },
    )
    with_specific = names(pack(tmp_path, "docker/api.Dockerfile")[1])
    assert "README.md" not in with_specific
    assert "notes.txt" in with_specific
    assert "docker/api.Dockerfile.dockerignore" in with_specific
    with_root = names(pack(tmp_path)[1])
    assert "README.md" in with_root
    assert "notes.txt" not in with_root


def test_vcs_folders_are_left_out_unless_re_included(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": "FROM alpine\n", ".git/HEAD": "ref", ".hg/x": "x", "sub/.git/HEAD": "ref"})
    assert names(pack(tmp_path)[1]) == ["Dockerfile", "sub", "sub/.git", "sub/.git/HEAD"]
    (tmp_path / ".dockerignore").write_text("!.git\n")
    assert ".git/HEAD" in names(pack(tmp_path)[1])


def test_a_dockerfile_outside_the_context_is_added_under_a_generated_name(tmp_path: Path) -> None:
    context = make_tree(tmp_path / "ctx", {"main.go": "package main\n", "secret.env": "x"})
    make_tree(tmp_path / "other", {"Dockerfile": "FROM golang\n", "Dockerfile.dockerignore": "secret.env\n"})
    result, data = pack(context, "../other/Dockerfile")
    generated = ".slipway-dockerfile-" + hashlib.sha256(b"FROM golang\n").hexdigest()[:16]
    assert result.dockerfile_in_archive == generated
    assert names(data) == ["main.go", generated, generated + ".dockerignore"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        extracted = tar.extractfile(generated)
        assert extracted is not None
        assert extracted.read() == b"FROM golang\n"


def test_a_lower_case_dockerfile_is_found_like_the_docker_cli_does(tmp_path: Path) -> None:
    make_tree(tmp_path, {"dockerfile": "FROM alpine\n"})
    assert pack(tmp_path)[0].dockerfile_in_archive == "dockerfile"


def test_a_missing_dockerfile_is_reported_with_the_context(tmp_path: Path) -> None:
    make_tree(tmp_path, {"main.go": "package main\n"})
    with pytest.raises(InvalidContext) as raised:
        pack(tmp_path, "build/Dockerfile")
    assert raised.value.message == (
        f"Dockerfile 'build/Dockerfile' not found in context '{os.path.realpath(tmp_path)}'; "
        "pass -f to name another file"
    )


@pytest.mark.parametrize("target", ["../outside.txt", "/etc/passwd", "sub/../../x"])
def test_a_symlink_pointing_outside_the_context_is_refused(tmp_path: Path, target: str) -> None:
    context = make_tree(tmp_path / "ctx", {"Dockerfile": "FROM alpine\n"})
    (context / "link").symlink_to(target)
    with pytest.raises(InvalidContext) as raised:
        pack(context)
    assert raised.value.message == (
        f"symlink 'link' points to '{target}', outside the context root '{os.path.realpath(context)}'; "
        "remove it, make it point inside the context, or add it to .dockerignore"
    )


def test_a_symlink_escaping_through_another_symlink_is_refused(tmp_path: Path) -> None:
    context = make_tree(tmp_path / "ctx", {"Dockerfile": "FROM alpine\n", "sub/file": "f"})
    (context / "here").symlink_to(".")
    (context / "zz").symlink_to("here/../x")
    with pytest.raises(InvalidContext, match=r"^symlink 'zz' points to 'here/\.\./x', outside the context root"):
        pack(context)


def test_an_ignored_symlink_pointing_outside_is_fine(tmp_path: Path) -> None:
    context = make_tree(tmp_path / "ctx", {"Dockerfile": "FROM alpine\n", ".dockerignore": "link\n"})
    (context / "link").symlink_to("/etc/passwd")
    assert "link" not in names(pack(context)[1])


def test_a_named_pipe_in_the_context_is_refused_unless_ignored(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": "FROM alpine\n"})
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InvalidContext, match=r"^'pipe' in context '.*' is a named pipe; .* add it to \.dockerignore"):
        pack(tmp_path)
    (tmp_path / ".dockerignore").write_text("pipe\n")
    assert "pipe" not in names(pack(tmp_path)[1])


SAFE_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, bytes]:
    """Random trees of safe names, where no file path is also used as a directory."""
    files: dict[str, bytes] = {"Dockerfile": b"FROM alpine\n"}
    for parts in draw(st.lists(st.lists(SAFE_NAME, min_size=1, max_size=3), max_size=12)):
        rel = "/".join(parts)
        clashes = any(p == rel or p.startswith(rel + "/") or rel.startswith(p + "/") for p in files)
        if not clashes:
            files[rel] = draw(st.binary(max_size=3000) | st.just(b"text " * draw(st.integers(0, 800))))
    return files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees(), block_size=st.sampled_from([512, 1500, 4096, 1 << 20]), links=st.integers(0, 3))
def test_packing_then_inspecting_round_trips(tree: dict[str, bytes], block_size: int, links: int) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = make_tree(Path(temp), dict(tree))
        targets = sorted(tree)
        for index in range(min(links, len(targets))):
            link = Path(temp, f"link{index}")
            link.symlink_to(os.path.relpath(Path(temp, targets[index]), link.parent))
        result, data = pack(root, block_size=block_size)
        summary = inspect_context_archive(
            io.BytesIO(data), max_bytes=len(data), max_unpacked_bytes=result.unpacked_bytes, dockerfile="Dockerfile"
        )
    assert (summary.sha256, summary.compressed_bytes, summary.unpacked_bytes) == (
        result.sha256,
        result.compressed_bytes,
        result.unpacked_bytes,
    )
    assert summary.file_count == result.file_count == len(tree)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        contents = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}  # type: ignore[union-attr]
    assert contents == tree
