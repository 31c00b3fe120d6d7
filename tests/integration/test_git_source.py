"""Fetching task sources from a real git server on loopback (smart HTTP and git://)."""

from __future__ import annotations

import base64
import gzip
import http.client
import itertools
import logging
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidRequest
from core.git_source import (
    GitAuthenticationFailed,
    GitCheckout,
    GitCheckoutTooLarge,
    GitNotFound,
    GitResult,
    GitTimeout,
    GitUnreachable,
    fetch_git_source,
    run_git,
)
from core.tasks import GitSource, parse_git_context
from tests.support.git_server import GitServer, Repository, Symlink

pytestmark = pytest.mark.integration

TOKEN = "ghp_S3cretTokenValue0123456789abcdef"
TOKEN_FORMS = (
    TOKEN,
    base64.b64encode(TOKEN.encode()).decode(),
    base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode(),
)
_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with GitServer(tmp_path_factory.mktemp("git-server")) as started:
        yield started


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "checkout"


def unique(name: str) -> str:
    return f"org/{name}-{next(_names)}"


class RecordingRunner:
    """The real runner, keeping every argv and environment it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> GitResult:
        self.calls.append((list(args), dict(env)))
        return run_git(args, cwd=cwd, env=env, timeout=timeout)


def fetch(location: str, destination: Path, **options: Any) -> GitCheckout:
    source = parse_git_context(location)
    assert source is not None
    return fetch_git_source(source, destination, **options)


def head_name(checkout: GitCheckout) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=checkout.root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def files_under(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    }


def leaked_in_files(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {form[:6]}…" for form in TOKEN_FORMS if form.encode() in data]
    return found


@pytest.fixture
def app(server: GitServer) -> Repository:
    repo = server.create_repo(unique("app"), {"Dockerfile": "FROM scratch\n", "src/main.txt": "v1"})
    server.commit(repo, {"src/main.txt": "v2"}, "second")
    return repo


def test_a_branch_is_checked_out_shallowly_on_that_branch(server: GitServer, app: Repository, workdir: Path) -> None:
    feature = server.commit(app, {"src/main.txt": "feature"}, "feature work", branch="feature")

    checkout = fetch(f"{server.url_for(app)}#feature", workdir)

    assert (checkout.commit, checkout.branch, checkout.tag) == (feature, "feature", None)
    assert checkout.ref == "refs/heads/feature"
    assert files_under(checkout.path) == {"Dockerfile": "FROM scratch\n", "src/main.txt": "feature"}
    assert head_name(checkout) == "feature"
    assert (workdir / ".git" / "shallow").read_text().split() == [feature]
    assert checkout.run_values() == {"commit": feature, "branch": "feature", "repository": server.url_for(app)}


def test_no_ref_means_the_servers_default_branch(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("trunk"), {"a.txt": "trunk"}, branch="trunk")
    server.commit(repo, {"a.txt": "other"}, "other", branch="other")

    checkout = fetch(server.url_for(repo), workdir)

    assert checkout.branch == "trunk"
    assert checkout.commit == server.resolve(repo, "refs/heads/trunk")


def test_head_as_the_ref_means_the_default_branch_too(server: GitServer, app: Repository, workdir: Path) -> None:
    assert fetch(f"{server.url_for(app)}#HEAD:src", workdir).branch == "main"


def test_no_ref_uses_the_given_default_branch_when_there_is_one(
    server: GitServer, app: Repository, tmp_path: Path
) -> None:
    release = server.commit(app, {"src/main.txt": "release"}, "release", branch="release")

    checkout = fetch(server.url_for(app), tmp_path / "a", default_branch="release")

    assert (checkout.branch, checkout.commit) == ("release", release)
    with pytest.raises(GitNotFound, match="branch or tag 'gone' does not exist in"):
        fetch(server.url_for(app), tmp_path / "b", default_branch="gone")


@pytest.mark.parametrize("annotated", [False, True])
def test_a_tag_is_checked_out_detached_with_the_tag_reported(
    server: GitServer, app: Repository, workdir: Path, annotated: bool
) -> None:
    tagged = server.tag(app, "v1.0", annotated=annotated)
    server.commit(app, {"src/main.txt": "after the tag"}, "later")

    checkout = fetch(f"{server.url_for(app)}#v1.0", workdir)

    assert (checkout.commit, checkout.tag, checkout.branch, checkout.ref) == (tagged, "v1.0", None, "refs/tags/v1.0")
    assert head_name(checkout) == "HEAD"
    assert (checkout.path / "src/main.txt").read_text() == "v2"


def test_a_full_sha_that_no_ref_points_at_is_fetched_shallowly(
    server: GitServer, app: Repository, workdir: Path
) -> None:
    old = server.resolve(app, "refs/heads/main~1")
    assert old

    checkout = fetch(f"{server.url_for(app)}#{old}", workdir)

    assert (checkout.commit, checkout.branch, checkout.ref) == (old, None, old)
    assert (checkout.path / "src/main.txt").read_text() == "v1"
    assert (workdir / ".git" / "shallow").exists()


def test_a_short_sha_is_found_in_the_whole_history(server: GitServer, app: Repository, workdir: Path) -> None:
    old = server.resolve(app, "refs/heads/main~1")
    assert old

    checkout = fetch(f"{server.url_for(app)}#{old[:7]}", workdir)

    assert checkout.commit == old
    assert (checkout.path / "src/main.txt").read_text() == "v1"


def test_a_short_sha_of_a_branch_tip_needs_no_full_fetch(server: GitServer, app: Repository, workdir: Path) -> None:
    tip = server.resolve(app, "refs/heads/main")
    assert tip

    checkout = fetch(f"{server.url_for(app)}#{tip[:10].upper()}", workdir)

    assert checkout.commit == tip
    assert (workdir / ".git" / "shallow").exists()


def test_a_server_refusing_unadvertised_commits_gets_a_full_fetch(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("legacy"), {"a.txt": "1"}, legacy_protocol=True)
    first = server.resolve(repo, "refs/heads/main")
    server.commit(repo, {"a.txt": "2"}, "two")
    assert first

    checkout = fetch(f"{server.url_for(repo)}#{first}", workdir)

    assert checkout.commit == first
    assert (checkout.path / "a.txt").read_text() == "1"
    assert not (workdir / ".git" / "shallow").exists()


@pytest.mark.parametrize("ref", ["pull/7/head", "refs/pull/7/head"])
def test_a_pull_request_head_ref_checks_out_the_pr_commit(
    server: GitServer, app: Repository, workdir: Path, ref: str
) -> None:
    head = server.create_pull_request_ref(app, 7, {"src/main.txt": "from the PR"})

    checkout = fetch(f"{server.url_for(app)}#{ref}", workdir)

    assert (checkout.commit, checkout.branch, checkout.ref) == (head, None, "refs/pull/7/head")
    assert (checkout.path / "src/main.txt").read_text() == "from the PR"


@pytest.mark.parametrize("ref", ["refs/pull/8/merge", "pull/8/merge"])
def test_a_pull_request_merge_ref_checks_out_the_merge_commit(
    server: GitServer, app: Repository, workdir: Path, ref: str
) -> None:
    server.create_pull_request_ref(app, 8, {"pr.txt": "new"})
    merge = server.resolve(app, "refs/pull/8/merge")

    checkout = fetch(f"{server.url_for(app)}#{ref}", workdir)

    assert checkout.commit == merge
    assert files_under(checkout.path)["pr.txt"] == "new"


def test_the_subfolder_after_the_colon_is_the_context_path(server: GitServer, app: Repository, workdir: Path) -> None:
    checkout = fetch(f"{server.url_for(app)}#main:src", workdir)

    assert checkout.path == (workdir / "src").resolve()
    assert files_under(checkout.path) == {"main.txt": "v2"}
    assert checkout.root == workdir.resolve()
    assert checkout.warnings == ()


def test_a_private_repository_is_read_with_the_token_in_a_header_only(
    server: GitServer, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = server.create_repo(unique("private"), {"secret.txt": "ok"}, token=TOKEN)
    runner = RecordingRunner()
    caplog.set_level(logging.DEBUG, logger="core.git_source")

    checkout = fetch(f"{server.url_for(repo)}#main", workdir, token=TOKEN, runner=runner)

    assert (checkout.path / "secret.txt").read_text() == "ok"
    requests = server.requests_for(repo)
    assert requests and all(r.basic_credentials == ("x-access-token", TOKEN) for r in requests)
    assert not [r for r in server.requests if TOKEN in r.path or TOKEN in r.query]
    assert leaked_in_files(workdir) == []
    argv = [" ".join(args) for args, _ in runner.calls]
    assert not [line for line in argv if any(form in line for form in TOKEN_FORMS)]
    assert all(env["GIT_TERMINAL_PROMPT"] == "0" for _, env in runner.calls)
    assert not [m for m in caplog.messages if any(form in m for form in TOKEN_FORMS)]


def test_credentials_in_the_url_are_moved_into_the_header(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("private"), {"a.txt": "ok"}, token=TOKEN)
    with_credentials = server.url_for(repo).replace("http://", f"http://someone:{TOKEN}@")
    runner = RecordingRunner()

    checkout = fetch(with_credentials, workdir, runner=runner)

    assert checkout.repository == server.url_for(repo)
    assert {r.basic_credentials for r in server.requests_for(repo)} == {("someone", TOKEN)}
    assert leaked_in_files(workdir) == []
    assert not [args for args, _ in runner.calls if any(TOKEN in arg for arg in args)]


def test_a_wrong_token_gives_a_clear_error_that_never_shows_the_token(
    server: GitServer, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = server.create_repo(unique("private"), {"a.txt": "ok"}, token="the-right-one")
    url = server.url_for(repo)
    caplog.set_level(logging.DEBUG, logger="core.git_source")

    with pytest.raises(GitAuthenticationFailed) as caught:
        fetch(f"{url}#main", workdir, token=TOKEN)

    message = str(caught.value)
    assert message == f"the git access token was refused for {url}; check it has read access (for GitHub: repo scope)"
    shown = [message, repr(caught.value), str(caught.value.to_body()), *caplog.messages]
    assert not [text for text in shown if any(form in text for form in TOKEN_FORMS)]
    assert list(workdir.iterdir()) == []


def test_a_wrong_token_in_the_url_is_not_echoed_either(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("private"), {"a.txt": "ok"}, token="the-right-one")
    url = server.url_for(repo)

    with pytest.raises(GitAuthenticationFailed) as caught:
        fetch(url.replace("http://", f"http://{TOKEN}@"), workdir)

    assert url in str(caught.value)
    assert not [form for form in TOKEN_FORMS if form in str(caught.value) or form in repr(caught.value)]


def test_a_private_repository_without_a_token_asks_for_one(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("private"), {"a.txt": "ok"}, token=TOKEN)

    with pytest.raises(GitAuthenticationFailed, match="give the task a --git-access-token"):
        fetch(server.url_for(repo), workdir, timeout_seconds=20)


def test_a_missing_branch_is_named_in_the_error(server: GitServer, app: Repository, workdir: Path) -> None:
    url = server.url_for(app)

    with pytest.raises(GitNotFound) as caught:
        fetch(f"{url}#no-such-branch", workdir)

    assert str(caught.value) == f"branch or tag 'no-such-branch' does not exist in {url}"
    assert list(workdir.iterdir()) == []


def test_a_missing_commit_is_named_in_the_error(server: GitServer, app: Repository, workdir: Path) -> None:
    with pytest.raises(GitNotFound, match="commit 'deadbeefdeadbeef' does not exist in"):
        fetch(f"{server.url_for(app)}#deadbeefdeadbeef", workdir)


def test_a_missing_subfolder_is_named_in_the_error(server: GitServer, app: Repository, workdir: Path) -> None:
    with pytest.raises(GitNotFound, match=r"context folder 'docs' does not exist in .* at 'main' \([0-9a-f]{12}\)"):
        fetch(f"{server.url_for(app)}#main:docs", workdir)
    assert list(workdir.iterdir()) == []


def test_a_missing_repository_is_reported_as_not_found(server: GitServer, workdir: Path) -> None:
    with pytest.raises(GitNotFound, match=r"repository http://127\.0\.0\.1:\d+/org/nothing\.git was not found"):
        fetch(f"{server.http_base}/org/nothing.git", workdir)


def test_an_unreachable_server_is_reported_quickly(workdir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(GitUnreachable, match=f"cannot reach http://127.0.0.1:{port}/org/app.git"):
        fetch(f"http://127.0.0.1:{port}/org/app.git", workdir, token=TOKEN)


def test_a_server_that_never_answers_times_out_and_its_git_processes_are_killed(workdir: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/org/app.git"

        with pytest.raises(GitTimeout, match=r"did not finish within 1 s \(git ls-remote\)"):
            fetch(url, workdir, timeout_seconds=1)

    assert processes_working_in(workdir) == []


def processes_working_in(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cwd").readlink().is_relative_to(folder.resolve()):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_submodules_are_checked_out_with_the_same_token(server: GitServer, workdir: Path) -> None:
    lib = server.create_repo(unique("lib"), {"lib.txt": "library"}, token=TOKEN)
    lib_commit = server.resolve(lib, "refs/heads/main")
    server.commit(lib, {"lib.txt": "newer library"}, "newer")
    app = server.create_repo(unique("app"), {"app.txt": "app"}, token=TOKEN)
    assert lib_commit
    server.add_submodule(app, "vendor/lib", server.url_for(lib), lib_commit)

    checkout = fetch(server.url_for(app), workdir, token=TOKEN)

    assert (checkout.path / "vendor/lib/lib.txt").read_text() == "library"
    assert {r.basic_credentials for r in server.requests_for(lib)} == {("x-access-token", TOKEN)}
    assert leaked_in_files(workdir) == []


def test_a_submodule_pinned_below_its_tip_on_a_server_refusing_such_commits_is_fetched_in_full(
    server: GitServer, workdir: Path
) -> None:
    lib = server.create_repo(unique("lib"), {"lib.txt": "pinned"}, legacy_protocol=True)
    pinned = server.resolve(lib, "refs/heads/main")
    server.commit(lib, {"lib.txt": "newer"}, "newer")
    app = server.create_repo(unique("app"), {"app.txt": "app"})
    assert pinned
    server.add_submodule(app, "lib", server.url_for(lib), pinned)

    checkout = fetch(server.url_for(app), workdir)

    assert (checkout.path / "lib/lib.txt").read_text() == "pinned"


def test_the_token_is_not_sent_to_a_submodule_on_another_host(server: GitServer, workdir: Path, tmp_path: Path) -> None:
    with GitServer(tmp_path / "elsewhere") as elsewhere:
        lib = elsewhere.create_repo("other/lib", {"lib.txt": "public library"})
        app = server.create_repo(unique("app"), {"app.txt": "app"}, token=TOKEN)
        lib_commit = elsewhere.resolve(lib, "refs/heads/main")
        assert lib_commit
        server.add_submodule(app, "lib", elsewhere.url_for(lib), lib_commit)

        checkout = fetch(server.url_for(app), workdir, token=TOKEN)

        assert (checkout.path / "lib/lib.txt").read_text() == "public library"
        assert elsewhere.requests and all(r.authorization is None for r in elsewhere.requests)


def test_a_git_protocol_url_is_fetched_through_git_daemon(server: GitServer, app: Repository, workdir: Path) -> None:
    checkout = fetch(f"{server.url_for(app, protocol='git')}#main:src", workdir)

    assert checkout.commit == server.resolve(app, "refs/heads/main")
    assert (checkout.path / "main.txt").read_text() == "v2"


def test_lfs_tracked_files_are_left_as_pointers_with_a_warning(server: GitServer, workdir: Path) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n"
    repo = server.create_repo(
        unique("lfs"), {".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n", "model.bin": pointer}
    )

    checkout = fetch(server.url_for(repo), workdir)

    assert (checkout.path / "model.bin").read_text() == pointer
    assert len(checkout.warnings) == 1
    assert "Git LFS" in checkout.warnings[0]


def test_the_hosts_git_configuration_and_tracing_do_not_apply(
    server: GitServer, app: Repository, workdir: Path, tmp_path: Path
) -> None:
    hostile = tmp_path / "gitconfig"
    hostile.write_text('[url "http://127.0.0.1:9/"]\n\tinsteadOf = http://\n[credential]\n\thelper = store\n')
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(hostile)}
    runner = RecordingRunner()

    checkout = fetch(server.url_for(app), workdir, environ={**environ, "GIT_TRACE_CURL": "1"}, runner=runner)

    assert checkout.branch == "main"
    assert all("GIT_TRACE_CURL" not in env and env["HOME"] != str(tmp_path) for _, env in runner.calls)


def test_a_checkout_larger_than_the_limit_is_refused(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("big"), {"big.txt": "x" * 5000})

    with pytest.raises(GitCheckoutTooLarge, match="larger than the 4096 bytes allowed"):
        fetch(server.url_for(repo), workdir, max_checkout_bytes=4096)


def test_ssh_and_local_urls_are_refused_before_running_git(workdir: Path) -> None:
    runner = RecordingRunner()

    for url in ("ssh://git@github.com/org/app.git", "file:///etc/app.git"):
        with pytest.raises(InvalidRequest, match=r"must be https://host/org/repo\.git"):
            fetch_git_source(GitSource(url), workdir, runner=runner)
    assert runner.calls == []


def test_a_context_folder_that_is_a_symlink_out_of_the_checkout_is_refused(server: GitServer, workdir: Path) -> None:
    repo = server.create_repo(unique("escape"), {"src": Symlink("/etc"), "inside": Symlink("docs"), "docs/a": "a"})

    with pytest.raises(InvalidRequest, match="context folder 'src' leaves the repository"):
        fetch(f"{server.url_for(repo)}#main:src", workdir)
    assert fetch(f"{server.url_for(repo)}#main:inside", workdir).path == (workdir / "docs").resolve()


# --- the test server itself --------------------------------------------------------------------------

LS_REFS = b"0014command=ls-refs\n0001000bsymrefs0000"


def post_upload_pack(server: GitServer, repo: Repository, body: bytes, headers: dict[str, str]) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", int(server.http_base.rsplit(":", 1)[1]), timeout=10)
    try:
        connection.putrequest("POST", f"/{repo.name}.git/git-upload-pack")
        for name, value in {"Content-Type": "application/x-git-upload-pack-request", "Git-Protocol": "version=2",
                            **headers}.items():  # fmt: skip
            connection.putheader(name, value)
        connection.endheaders()
        if headers.get("Transfer-Encoding") == "chunked":
            for start in range(0, len(body), 7):
                piece = body[start : start + 7]
                connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            connection.send(b"0\r\n\r\n")
        else:
            connection.send(body)
        response = connection.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        connection.close()


def test_the_server_accepts_gzip_and_chunked_request_bodies(server: GitServer, app: Repository) -> None:
    tip = server.resolve(app, "refs/heads/main")
    assert tip
    zipped = gzip.compress(LS_REFS)

    plain = post_upload_pack(server, app, LS_REFS, {"Content-Length": str(len(LS_REFS))})
    inflated = post_upload_pack(server, app, zipped, {"Content-Length": str(len(zipped)), "Content-Encoding": "gzip"})
    chunked = post_upload_pack(server, app, LS_REFS, {"Transfer-Encoding": "chunked"})

    assert f"{tip} refs/heads/main".encode() in plain
    assert plain == inflated == chunked


def test_push_payloads_list_each_commits_changed_files(server: GitServer) -> None:
    repo = server.create_repo(unique("payload"), {"a.txt": "a", "b.txt": "b"})
    before = server.resolve(repo, "refs/heads/main")
    first = server.commit(repo, {"a.txt": "a2", "c.txt": "c"}, "change a, add c")
    second = server.commit(repo, {"b.txt": None}, "remove b")

    payload = server.github_push_payload(repo, "main", before=before, after=second)

    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", before, second)
    assert payload["repository"]["clone_url"] == server.url_for(repo)
    changes = [(c["id"], c["added"], c["removed"], c["modified"]) for c in payload["commits"]]
    assert changes == [(first, ["c.txt"], [], ["a.txt"]), (second, [], ["b.txt"], [])]
    assert payload["head_commit"]["id"] == second
