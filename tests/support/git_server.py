"""A real git server on loopback for tests: smart HTTP (`git http-backend`) and, on demand, `git daemon`.

    with GitServer(tmp_path / "git") as server:
        repo = server.create_repo("org/app", {"Dockerfile": "FROM scratch\n", "src/a.txt": "a"})
        sha = server.commit(repo, {"src/a.txt": "b", "old.txt": None}, "change a")   # None deletes
        server.tag(repo, "v1")
        head = server.create_pull_request_ref(repo, 7, {"src/a.txt": "pr"})       # refs/pull/7/{head,merge}
        url = server.url_for(repo)                      # http://127.0.0.1:PORT/org/app.git
        git_url = server.url_for(repo, protocol="git")  # git://127.0.0.1:PORT/org/app.git (starts git daemon)
        payload = server.github_push_payload(repo, "main", before=first, after=sha)

File values are text or bytes, `Executable(content)`, `Symlink(target)`, `Gitlink(sha)` (a submodule
entry; `add_submodule` also writes `.gitmodules`) or None (delete). Repositories are bare, under
`root`, and built with plumbing (a temporary index, `commit-tree`, `update-ref`), so tests never
need a working tree. Commit dates are fixed (one minute apart from 2024-01-01), and every commit's
changed files are kept (`repo.commits[sha].added/removed/modified`) to build GitHub-like push payloads.

`create_repo(..., token="s3cret")` makes a private repository: HTTP requests for it must carry Basic
auth whose password (or user name) is the token, otherwise the server answers 401 with
`WWW-Authenticate: Basic`; it is never exported over `git://`. `legacy_protocol=True` makes the server
ignore the client's `Git-Protocol` header, so it speaks protocol v0 and, like many servers, refuses
to send commits that no ref points at. Every HTTP request is kept in `server.requests`
(method, path, query, headers, status) so tests can check where credentials travelled.

Server-side git runs with a clean configuration (no system or global config), so the host's git
settings never change what the tests see.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import unquote

from tests.support.processes import ProcessStartError, RunningProcess, free_port, start_process

ZERO_SHA = "0" * 40
_AUTHOR = ("Slipway Tests", "tests@slipway.invalid")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Gitlink:
    """A submodule entry: the commit `sha` of another repository (add `.gitmodules` too, or use `add_submodule`)."""

    sha: str


@dataclass(frozen=True)
class Executable:
    """A file with mode 100755."""

    content: str | bytes


@dataclass(frozen=True)
class Symlink:
    """A symbolic link to `target` (mode 120000)."""

    target: str


FileValue = str | bytes | Executable | Symlink | Gitlink | None


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    message: str
    parents: tuple[str, ...]
    timestamp: datetime
    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[str, ...]


@dataclass
class Repository:
    name: str  # "org/app"; served at /org/app.git
    path: Path
    default_branch: str
    token: str | None = None
    legacy_protocol: bool = False
    commits: dict[str, CommitRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # names in lower case
    status: int

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def basic_credentials(self) -> tuple[str, str] | None:
        """`(user, password)` from a Basic Authorization header, if any."""
        scheme, _, encoded = (self.authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(encoded).decode("utf-8", "replace").partition(":")
        return user, password


class GitServer:
    """Bare repositories under `root`, served over smart HTTP (and git:// once asked for)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[RecordedRequest] = []
        self.backend_errors: list[str] = []
        self._repositories: dict[str, Repository] = {}
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._daemon: RunningProcess | None = None
        self._daemon_port = 0
        self._clock = 0
        self._home = Path(tempfile.mkdtemp(prefix="git-server-home-"))

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> GitServer:
        self.root.mkdir(parents=True, exist_ok=True)
        http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        http.daemon_threads = True
        http.git_server = self  # type: ignore[attr-defined]
        self._http = http
        self._http_thread = threading.Thread(target=http.serve_forever, name="git-http", daemon=True)
        self._http_thread.start()
        return self

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._daemon is not None:
            self._daemon.stop(timeout=5)
            self._daemon = None
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> GitServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def http_base(self) -> str:
        assert self._http is not None, "start() the server first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def url_for(self, repo: Repository | str, protocol: str = "http") -> str:
        """The clone URL (no credentials); `protocol="git"` starts `git daemon` on first use."""
        name = self.repository(repo).name
        if protocol == "http":
            return f"{self.http_base}/{name}.git"
        if protocol == "git":
            return f"git://127.0.0.1:{self._ensure_daemon()}/{name}.git"
        raise ValueError(f"protocol must be 'http' or 'git', not {protocol!r}")

    def requests_for(self, repo: Repository | str) -> list[RecordedRequest]:
        prefix = f"/{self.repository(repo).name}.git/"
        with self._lock:
            return [request for request in self.requests if request.path.startswith(prefix)]

    # --- building repositories ---------------------------------------------------------------------

    def repository(self, repo: Repository | str) -> Repository:
        return repo if isinstance(repo, Repository) else self._repositories[repo]

    def create_repo(
        self,
        name: str,
        files: Mapping[str, FileValue],
        branch: str = "main",
        *,
        message: str = "initial commit",
        token: str | None = None,
        legacy_protocol: bool = False,
    ) -> Repository:
        """A bare repository whose `branch` (also its HEAD) has one commit with `files`."""
        path = self.root / f"{name}.git"
        self._git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(path))
        if token is None:
            (path / "git-daemon-export-ok").touch()
        repo = Repository(name=name, path=path, default_branch=branch, token=token, legacy_protocol=legacy_protocol)
        self._repositories[name] = repo
        if files:
            self.commit(repo, files, message, branch=branch)
        return repo

    def commit(
        self, repo: Repository | str, files: Mapping[str, FileValue], message: str, branch: str | None = None
    ) -> str:
        """Commit `files` (None deletes a path) on `branch`; return the SHA. A new branch starts at the default one."""
        repository = self.repository(repo)
        ref = f"refs/heads/{branch or repository.default_branch}"
        parent = self.resolve(repository, ref) or self.resolve(repository, f"refs/heads/{repository.default_branch}")
        sha = self._commit(repository, files, message, (parent,) if parent else ())
        self._git("update-ref", ref, sha, repo=repository)
        return sha

    def tag(self, repo: Repository | str, name: str, ref: str | None = None, *, annotated: bool = False) -> str:
        """Tag `ref` (default: the default branch's tip); return the tagged commit's SHA."""
        repository = self.repository(repo)
        sha = self.resolve(repository, ref or f"refs/heads/{repository.default_branch}")
        assert sha, f"nothing to tag at {ref!r}"
        if annotated:
            self._git("tag", "--annotate", "--message", f"release {name}", name, sha, repo=repository)
        else:
            self._git("update-ref", f"refs/tags/{name}", sha, repo=repository)
        return sha

    def create_pull_request_ref(
        self, repo: Repository | str, number: int, files: Mapping[str, FileValue], base: str | None = None
    ) -> str:
        """Write `refs/pull/N/head` (a commit with `files` on `base`) and `refs/pull/N/merge`, as GitHub does.

        Returns the head commit's SHA; `resolve(repo, "refs/pull/N/merge")` gives the merge commit.
        """
        repository = self.repository(repo)
        base_sha = self.resolve(repository, f"refs/heads/{base or repository.default_branch}")
        assert base_sha, "the base branch has no commits"
        head = self._commit(repository, files, f"pull request #{number}", (base_sha,))
        merge = self._commit(repository, {}, f"Merge {head} into {base_sha}", (base_sha, head), tree_of=head)
        self._git("update-ref", f"refs/pull/{number}/head", head, repo=repository)
        self._git("update-ref", f"refs/pull/{number}/merge", merge, repo=repository)
        return head

    def add_submodule(self, repo: Repository | str, path: str, url: str, sha: str, *, branch: str | None = None) -> str:
        """Commit a submodule at `path` pointing at commit `sha` of `url` (writes `.gitmodules`)."""
        gitmodules = f'[submodule "{path}"]\n\tpath = {path}\n\turl = {url}\n'
        return self.commit(repo, {".gitmodules": gitmodules, path: Gitlink(sha)}, f"add submodule {path}", branch)

    def resolve(self, repo: Repository | str, ref: str) -> str | None:
        """The commit SHA `ref` points at, or None."""
        done = self._run(
            ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], repo=self.repository(repo), check=False
        )
        return done.stdout.strip() or None

    def github_push_payload(
        self, repo: Repository | str, branch: str, *, before: str | None, after: str
    ) -> dict[str, Any]:
        """A GitHub `push` event body for `before..after` on `branch`, with each commit's changed files."""
        repository = self.repository(repo)
        span = f"{before}..{after}" if before and before != ZERO_SHA else after
        shas = self._run(["rev-list", "--reverse", span], repo=repository).stdout.split()
        commits = [self._payload_commit(repository, sha) for sha in shas]
        owner, _, short = repository.name.rpartition("/")
        url = self.url_for(repository)
        return {
            "ref": f"refs/heads/{branch}",
            "before": before or ZERO_SHA,
            "after": after,
            "created": before in (None, ZERO_SHA),
            "deleted": after == ZERO_SHA,
            "forced": False,
            "repository": {
                "name": short,
                "full_name": repository.name,
                "private": repository.token is not None,
                "owner": {"name": owner or short, "login": owner or short},
                "html_url": url.removesuffix(".git"),
                "clone_url": url,
                "git_url": url,
                "default_branch": repository.default_branch,
            },
            "pusher": {"name": "tests", "email": _AUTHOR[1]},
            "sender": {"login": "tests"},
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
        }

    def _payload_commit(self, repository: Repository, sha: str) -> dict[str, Any]:
        record = repository.commits[sha]
        return {
            "id": sha,
            "tree_id": self._run(["rev-parse", f"{sha}^{{tree}}"], repo=repository).stdout.strip(),
            "message": record.message,
            "timestamp": record.timestamp.isoformat(),
            "url": f"{self.url_for(repository).removesuffix('.git')}/commit/{sha}",
            "author": {"name": _AUTHOR[0], "email": _AUTHOR[1], "username": "tests"},
            "committer": {"name": _AUTHOR[0], "email": _AUTHOR[1], "username": "tests"},
            "added": list(record.added),
            "removed": list(record.removed),
            "modified": list(record.modified),
        }

    def _commit(
        self,
        repository: Repository,
        files: Mapping[str, FileValue],
        message: str,
        parents: tuple[str, ...],
        tree_of: str | None = None,
    ) -> str:
        with tempfile.TemporaryDirectory(prefix="git-server-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch, "index"))}
            start = tree_of or (parents[0] if parents else None)
            self._run(["read-tree", *([start] if start else ["--empty"])], repo=repository, env=index)
            entries = [self._index_entry(repository, path, value, Path(scratch)) for path, value in files.items()]
            if entries:
                self._run(["update-index", "--index-info"], repo=repository, env=index, stdin="".join(entries))
            tree = self._run(["write-tree"], repo=repository, env=index).stdout.strip()
        self._clock += 1
        when = _EPOCH + timedelta(minutes=self._clock)
        dated = {"GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat()}
        parent_args = [arg for parent in parents for arg in ("-p", parent)]
        sha = self._run(["commit-tree", tree, *parent_args, "-m", message], repo=repository, env=dated).stdout.strip()
        changes = self._run(
            ["diff-tree", "-r", "--no-commit-id", "--name-status", "--no-renames", "--root", sha],
            repo=repository,
        ).stdout.splitlines()
        grouped: dict[str, list[str]] = {"A": [], "D": [], "M": []}
        for line in changes:
            status, _, path = line.partition("\t")
            grouped.get(status[:1], grouped["M"]).append(path)
        repository.commits[sha] = CommitRecord(
            sha, message, parents, when, tuple(grouped["A"]), tuple(grouped["D"]), tuple(grouped["M"])
        )
        return sha

    def _index_entry(self, repository: Repository, path: str, value: FileValue, scratch: Path) -> str:
        if value is None:
            return f"0 {ZERO_SHA}\t{path}\n"
        if isinstance(value, Gitlink):
            return f"160000 commit {value.sha}\t{path}\n"
        mode = "100755" if isinstance(value, Executable) else "120000" if isinstance(value, Symlink) else "100644"
        content = (
            value.content if isinstance(value, Executable) else value.target if isinstance(value, Symlink) else value
        )
        blob = scratch / "blob"
        blob.write_bytes(content.encode() if isinstance(content, str) else content)
        sha = self._run(["hash-object", "-w", str(blob)], repo=repository).stdout.strip()
        return f"{mode} blob {sha}\t{path}\n"

    # --- running git -------------------------------------------------------------------------------

    def git_environment(self) -> dict[str, str]:
        """An environment for server-side git: no system or user config, fixed identity."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": _AUTHOR[0],
            "GIT_AUTHOR_EMAIL": _AUTHOR[1],
            "GIT_COMMITTER_NAME": _AUTHOR[0],
            "GIT_COMMITTER_EMAIL": _AUTHOR[1],
            "LC_ALL": "C",
        }

    def _run(
        self,
        args: list[str],
        *,
        repo: Repository | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        location = ["--git-dir", str(repo.path)] if repo else []
        done = subprocess.run(
            ["git", *location, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.git_environment(), **(env or {})},
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def _git(self, *args: str, repo: Repository | None = None) -> str:
        return self._run(list(args), repo=repo).stdout

    def _ensure_daemon(self) -> int:
        with self._lock:
            if self._daemon is None:
                self._daemon, self._daemon_port = self._start_daemon()
            return self._daemon_port

    def _start_daemon(self) -> tuple[RunningProcess, int]:
        last: ProcessStartError | None = None
        for _ in range(3):  # a free port can be taken between free_port() and the daemon's bind
            port = free_port()
            args = [
                "git",
                "daemon",
                "--verbose",
                "--reuseaddr",
                "--informative-errors",
                "--listen=127.0.0.1",
                f"--port={port}",
                f"--base-path={self.root}",
                str(self.root),
            ]
            try:
                return start_process(
                    args, ready="Ready to rumble", stream="stderr", timeout=15, env=self.git_environment()
                ), port
            except ProcessStartError as error:
                last = error
        raise RuntimeError(f"git daemon did not start: {last}")

    def _find(self, path: str) -> Repository | None:
        marker = path.find(".git/")
        return self._repositories.get(path[1:marker]) if marker > 0 else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    """One request: check the repository's token, then hand the request to `git http-backend` (CGI)."""

    server_version = "slipway-test-git/1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are kept in GitServer.requests instead of printed

    def _serve(self) -> None:
        server: GitServer = self.server.git_server  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        path = unquote(path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        repo = server._find(path)
        user = self._authorized_user(repo)
        if repo is not None and repo.token is not None and user is None:
            server._record(RecordedRequest(self.command, path, query, headers, 401))
            self._drain_body()
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="slipway-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = self._run_backend(server, repo, path, query, user or "")
        server._record(RecordedRequest(self.command, path, query, headers, status))

    def _authorized_user(self, repo: Repository | None) -> str | None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None if repo is not None and repo.token else ""
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return None
        if repo is None or repo.token is None or repo.token in (password, user):
            return user or "token"
        return None

    def _run_backend(self, server: GitServer, repo: Repository | None, path: str, query: str, user: str) -> int:
        env = {
            **server.git_environment(),
            "GIT_PROJECT_ROOT": str(server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.0",
        }
        if self.headers.get("Content-Length"):
            env["CONTENT_LENGTH"] = self.headers["Content-Length"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]  # the backend inflates gzip itself
        if self.headers.get("Git-Protocol") and not (repo and repo.legacy_protocol):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        pipe = subprocess.PIPE
        with subprocess.Popen(["git", "http-backend"], stdin=pipe, stdout=pipe, stderr=pipe, env=env) as backend:
            assert backend.stdin and backend.stdout and backend.stderr
            writer = threading.Thread(target=self._copy_body, args=(backend.stdin,), daemon=True)
            writer.start()
            errors = threading.Thread(target=self._collect_errors, args=(server, backend.stderr), daemon=True)
            errors.start()
            status, headers = _read_cgi_headers(backend.stdout)
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            shutil.copyfileobj(backend.stdout, self.wfile)
            writer.join(timeout=10)
            errors.join(timeout=10)
        return status

    def _request_body(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers end with an empty line
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def _copy_body(self, sink: IO[bytes]) -> None:
        with contextlib.suppress(BrokenPipeError), sink:
            for chunk in self._request_body():
                sink.write(chunk)

    def _drain_body(self) -> None:
        for _ in self._request_body():
            pass

    @staticmethod
    def _collect_errors(server: GitServer, stream: IO[bytes]) -> None:
        text = stream.read().decode("utf-8", "replace").strip()
        if text:
            with server._lock:
                server.backend_errors.append(text)


def _read_cgi_headers(stream: IO[bytes]) -> tuple[int, list[tuple[str, str]]]:
    status, headers = 200, []
    while line := stream.readline():
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            break
        name, _, value = text.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((name, value.strip()))
    return status, headers
