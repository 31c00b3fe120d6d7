"""Fetching a task's git source at a ref (ACR's git contexts, `https://host/org/repo.git#ref:folder`).

    checkout = fetch_git_source(GitSource("https://github.com/org/app.git", "main", "src"), workdir, token=pat)
    checkout.path, checkout.commit, checkout.branch   # workdir/src, "3f1c…", "main"

Like acb, a checkout is `git init` + `git fetch --depth 1 origin <ref>` + `git checkout`, with a full
fetch when the server refuses a shallow fetch (dumb HTTP servers, or commits no ref points at), then
`git submodule update --init --recursive --depth 1`. Unlike acb, `git ls-remote` runs first: it tells
a branch from a tag, a pull-request ref (`pull/N/head`, `refs/pull/N/merge`) or a commit SHA (full or
abbreviated), so `.Run.Branch` and `.Run.GitTag` are right and a missing ref gets a clear error.

The access token never leaves this process except as an HTTP header, and only through the child's
environment: `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` set
`http.<scheme://host>/.extraHeader = Authorization: Basic base64("x-access-token:<token>")`. So it is
not in any command line (`ps`), URL, `.git/config`, FETCH_HEAD or reflog, and it is only sent to the
repository's own host (a submodule elsewhere gets no token). Credentials written into the URL
(`https://user:pat@host/…`, accepted as ACR does) are moved into the same header. Every message and
log line goes through a `Redactor` that removes the token, its URL-encoded and base64 forms and any
`user:password@` in a URL.

Git runs in a sealed environment: only PATH, CA and proxy variables are inherited; HOME is an empty
temporary folder; no system or global config (so no credential helpers or `url.insteadOf`); prompts
are impossible (`GIT_TERMINAL_PROMPT=0`, empty `GIT_ASKPASS`, no stdin, own session); and only the
http, https and git protocols are allowed, also for submodules (no `file://`, `ext::` or ssh).
Git LFS objects are not downloaded; the checkout keeps the pointer files and a warning says so.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from core.errors import InvalidRequest, SlipwayError
from core.tasks import GitSource

logger = logging.getLogger(__name__)

TOKEN_USER = "x-access-token"  # noqa: S105 - GitHub's user name for PATs and app tokens; other hosts ignore it
ALLOWED_SCHEMES = ("https", "http", "git")
_INHERITED = (
    "PATH", "TMPDIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
)  # fmt: skip
_SAFE_CONFIG = (
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("protocol.http.allow", "always"),
    ("protocol.git.allow", "always"),
    ("protocol.file.allow", "never"),
    ("protocol.ext.allow", "never"),
    ("credential.helper", ""),
    ("core.askPass", ""),
    ("init.defaultBranch", "main"),
    ("advice.detachedHead", "false"),
    ("gc.auto", "0"),
    ("fetch.recurseSubmodules", "false"),
)
_COMMIT_LIKE = re.compile(r"^[0-9a-fA-F]{7,40}$")
_PULL_REQUEST = re.compile(r"^(?:refs/)?pull/[0-9]+/(?:head|merge)$")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.")
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


class GitSourceError(SlipwayError):
    """A git source could not be fetched (the server failed, refused, or is unreachable)."""

    status = 502
    code = "GitFetchFailed"


class GitAuthenticationFailed(GitSourceError):
    code = "GitAuthenticationFailed"


class GitUnreachable(GitSourceError):
    """The host did not answer (DNS, connection refused, TLS)."""


class GitNotFound(GitSourceError):
    """The repository, the ref or the context folder does not exist."""

    status = 404
    code = "GitSourceNotFound"


class GitTimeout(GitSourceError):
    status = 504
    code = "GitFetchTimedOut"


class GitCheckoutTooLarge(GitSourceError):
    status = 413
    code = "GitCheckoutTooLarge"


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"
    PULL_REQUEST = "pull request"
    REF = "ref"  # another full ref name, e.g. GitLab's refs/merge-requests/N/head
    COMMIT = "commit"


@dataclass(frozen=True)
class ResolvedRef:
    kind: RefKind
    name: str  # the full ref name (refs/heads/main), or the SHA (possibly abbreviated) for commits
    commit: str | None = None  # the SHA the server advertised for it, when known

    @property
    def short_name(self) -> str:
        return self.name.removeprefix("refs/heads/").removeprefix("refs/tags/")


@dataclass(frozen=True)
class GitCheckout:
    path: Path  # the context folder inside the checkout
    commit: str  # full SHA of HEAD
    branch: str | None
    tag: str | None
    ref: str  # the full ref fetched (refs/heads/main, refs/pull/3/head) or the commit SHA
    repository: str = ""  # the URL, without credentials
    root: Path | None = None  # the checkout's top folder
    warnings: tuple[str, ...] = ()

    def run_values(self) -> dict[str, str]:
        """The `git` mapping for `core.run_values.run_values` (keys without a value are left out)."""
        values = {"commit": self.commit, "repository": self.repository, "branch": self.branch, "tag": self.tag}
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class Remote:
    """A repository URL without credentials, and the credentials to send in a header."""

    url: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    discarded: tuple[str, ...] = field(default=(), repr=False)  # URL credentials an explicit token replaced

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def auth_header(self) -> str | None:
        if self.password is None or self.scheme == "git":
            return None
        pair = f"{self.username or TOKEN_USER}:{self.password}".encode()
        return "Authorization: Basic " + base64.b64encode(pair).decode("ascii")

    @property
    def auth_scope(self) -> str:
        """`scheme://host[:port]/`: git sends the header to this origin only (not to submodules elsewhere)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/"

    def secrets(self) -> tuple[str, ...]:
        header = self.auth_header
        values = (self.password, header.split(" ")[-1] if header else None, *self.discarded)
        return tuple(value for value in values if value)


def parse_remote(url: str, token: str | None = None) -> Remote:
    """Check the URL's scheme and move credentials out of it; an explicit `token` wins over URL ones.

    parse_remote("https://pat@github.com/o/r.git") == Remote("https://github.com/o/r.git", "x-access-token", "pat")
    """
    shown = _USERINFO.sub("", url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"git URL '{shown}' is not a valid URL", target="context") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise InvalidRequest(
            f"git URL '{shown}' must be https://host/org/repo.git (or http://, git://); "
            "SSH and local paths are not supported",
            target="context",
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port is not None else host
    clean = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if token:
        return Remote(clean, TOKEN_USER, token, tuple(value for value in (user, password) if value))
    if password:
        return Remote(clean, user or TOKEN_USER, password)
    if user:  # https://<pat>@host/…: ACR rewrites it to dummy:<pat>
        return Remote(clean, TOKEN_USER, user)
    return Remote(clean)


class Redactor:
    """Removes secrets (and their URL-encoded and base64 forms) and URL user info from text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            forms.update({secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode("ascii")})
        self._forms = sorted((form for form in forms if form), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        return _USERINFO.sub("", text)


def validate_ref(ref: str, target: str = "context") -> str:
    """Reject what git would not accept as a ref name (and anything that could pass for an option)."""
    if (
        not ref
        or ref.startswith(("-", "/", "."))
        or ref.endswith(("/", ".", ".lock"))
        or _BAD_REF.search(ref)
        or len(ref) > 255
    ):
        raise InvalidRequest(
            f"'{ref}' is not a valid branch, tag, commit or pull-request ref "
            "(no spaces, '..', '~^:?*[\\', and no leading '-')",
            target=target,
        )
    return ref


def ref_candidates(ref: str) -> tuple[str, ...]:
    """The full ref names `ref` may mean, preferred first (a branch wins over a tag, as `git clone -b`)."""
    if _PULL_REQUEST.match(ref):
        return (ref if ref.startswith("refs/") else f"refs/{ref}",)
    if ref.startswith("refs/"):
        return (ref,)
    return (f"refs/heads/{ref}", f"refs/tags/{ref}")


def parse_ls_remote(output: str) -> tuple[dict[str, str], str | None]:
    """`git ls-remote --symref` output → ({ref name: SHA}, what HEAD points at)."""
    refs: dict[str, str] = {}
    head: str | None = None
    for line in output.splitlines():
        left, _, name = line.partition("\t")
        if left.startswith("ref: ") and name == "HEAD":
            head = left.removeprefix("ref: ")
        elif name and not name.endswith("^{}"):
            refs[name] = left.strip()
    return refs, head


def resolve_ref(ref: str | None, advertised: Mapping[str, str], head: str | None, url: str) -> ResolvedRef:
    """What `ref` names on a server that advertised `advertised` (None: the server's default branch)."""
    if ref is None:
        if head:
            return ResolvedRef(RefKind.BRANCH, head, advertised.get(head) or advertised.get("HEAD"))
        if "HEAD" in advertised:
            return ResolvedRef(RefKind.COMMIT, advertised["HEAD"], advertised["HEAD"])
        raise GitNotFound(f"repository {url} has no default branch (is it empty?); name a branch in the context")
    for name in ref_candidates(ref):
        if name in advertised:
            return ResolvedRef(_kind_of(name), name, advertised[name])
    if _COMMIT_LIKE.match(ref):
        sha = ref.lower()
        tips = {tip for tip in advertised.values() if tip.startswith(sha)}
        return ResolvedRef(RefKind.COMMIT, sha, tips.pop() if len(tips) == 1 else None)
    what = "pull request ref" if _PULL_REQUEST.match(ref) else "ref" if ref.startswith("refs/") else "branch or tag"
    raise GitNotFound(f"{what} '{ref}' does not exist in {url}", target="context")


def _kind_of(name: str) -> RefKind:
    for prefix, kind in (
        ("refs/heads/", RefKind.BRANCH),
        ("refs/tags/", RefKind.TAG),
        ("refs/pull/", RefKind.PULL_REQUEST),
    ):
        if name.startswith(prefix):
            return kind
    return RefKind.REF


def git_environment(remote: Remote, home: Path, inherited: Mapping[str, str]) -> dict[str, str]:
    """The whole environment for git: sealed config, no prompts, and the auth header as config."""
    config = list(_SAFE_CONFIG)
    header = remote.auth_header
    if header:
        config.append((f"http.{remote.auth_scope}.extraHeader", header))
    env = {name: inherited[name] for name in _INHERITED if name in inherited}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",  # set but empty: git skips core.askPass and SSH_ASKPASS and never prompts
        GCM_INTERACTIVE="never",
        GIT_LFS_SKIP_SMUDGE="1",
        LC_ALL="C",
        LANG="C",
        GIT_CONFIG_COUNT=str(len(config)),
    )
    env.setdefault("PATH", os.defpath)
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


_AUTH_FAILURES = ("could not read username", "could not read password", "authentication failed", "error: 401",
                  "error: 403", "access denied", "invalid username or password")  # fmt: skip
_UNREACHABLE = ("could not resolve host", "failed to connect", "couldn't connect", "connection refused",
                "unable to connect", "timed out", "unreachable", "no route to host", "unable to look up",
                "ssl certificate problem", "connection reset", "empty reply from server")  # fmt: skip
_REPOSITORY_MISSING = ("not found", "does not appear to be a git repository", "no such repository",
                       "not exported", "error: 404")  # fmt: skip


def describe_failure(stderr: str, *, url: str, authenticated: bool, action: str) -> GitSourceError:
    """Turn git's (already redacted) error output into an error a user can act on."""
    text = stderr.lower()
    detail = _last_line(stderr)
    unexported = "not exported" in text  # git daemon: "access denied or repository not exported"
    if not unexported and any(marker in text for marker in _AUTH_FAILURES):
        problem = (
            f"the git access token was refused for {url}; check it has read access"
            if authenticated
            else f"{url} asks for credentials; give the task a --git-access-token with read access"
        )
        return GitAuthenticationFailed(f"{problem} (for GitHub: repo scope)")
    if any(marker in text for marker in _UNREACHABLE):
        return GitUnreachable(f"cannot reach {url}: {detail}")
    if "couldn't find remote ref" in text:
        return GitNotFound(f"{action}: the ref does not exist in {url} ({detail})", target="context")
    if unexported or any(marker in text for marker in _REPOSITORY_MISSING):
        hint = (
            " or is not exported by its git daemon"
            if unexported
            else " (or the token cannot see it)"
            if authenticated
            else "; if it is private, give a --git-access-token"
        )
        return GitNotFound(f"repository {url} was not found{hint}", target="context")
    return GitSourceError(f"{action} failed for {url}: {detail}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "no error output")[:300]


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class GitRunner(Protocol):
    def __call__(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> GitResult: ...


def run_git(args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> GitResult:
    """Run one git command in its own session; on timeout kill its whole process group."""
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # no controlling terminal, and one group to kill (git-remote-http, ssh…)
    )
    try:
        out, err = process.communicate(timeout=max(timeout, 0.01))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            out, err = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            out, err = b"", b""
        return GitResult(-signal.SIGKILL, _text(out), _text(err), timed_out=True)
    return GitResult(process.returncode, _text(out), _text(err))


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def fetch_git_source(
    source: GitSource,
    destination: Path,
    *,
    token: str | None = None,
    timeout_seconds: float = 300,
    default_branch: str | None = None,
    max_checkout_bytes: int | None = None,
    runner: GitRunner = run_git,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> GitCheckout:
    """Check out `source` (shallow) into `destination`, which must be missing or empty.

    No ref means the remote's default branch, or `default_branch` when given. On failure the
    destination is left empty and a `GitSourceError` (or `InvalidRequest`) says what to fix.
    """
    remote = parse_remote(source.url, token)
    if source.ref == "HEAD":
        source = GitSource(source.url, None, source.subfolder)
    for ref in (source.ref, default_branch):
        if ref is not None:
            validate_ref(ref)
    destination = destination.resolve()
    if destination.exists() and any(destination.iterdir()):
        raise ValueError(f"{destination} must be empty to check out {remote.url}")
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slipway-git-home-") as home:
        fetcher = _Fetcher(
            remote=remote,
            root=destination,
            env=git_environment(remote, Path(home), os.environ if environ is None else environ),
            runner=runner,
            deadline=clock() + timeout_seconds,
            timeout_seconds=timeout_seconds,
            clock=clock,
        )
        try:
            return fetcher.fetch(source, default_branch, max_checkout_bytes)
        except BaseException:
            _empty(destination)
            raise


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


@dataclass
class _Fetcher:
    remote: Remote
    root: Path
    env: Mapping[str, str]
    runner: GitRunner
    deadline: float
    timeout_seconds: float
    clock: Callable[[], float]
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.redact = Redactor(self.remote.secrets())

    def fetch(self, source: GitSource, default_branch: str | None, max_bytes: int | None) -> GitCheckout:
        url = self.remote.url
        if self.remote.scheme == "git" and self.remote.password:
            self.warnings.append(f"{url} uses git://, which has no authentication; the access token was not used")
        elif self.remote.scheme == "http" and self.remote.password and not _is_loopback(url):
            self.warnings.append(f"{url} uses plain http://, so the access token crossed the network unencrypted")
        self.git("init", "--quiet", "--template=", action="git init")
        self.git("remote", "add", "origin", url, action="git remote add")
        wanted = source.ref or default_branch
        resolved = resolve_ref(wanted, *self.list_refs(wanted), url)
        commit = self.fetch_ref(resolved, wanted)
        if resolved.kind is RefKind.BRANCH:
            self.git("checkout", "--quiet", "--force", "-B", resolved.short_name, commit, action="git checkout")
        else:
            self.git("checkout", "--quiet", "--force", "--detach", commit, action="git checkout")
        if (self.root / ".gitmodules").is_file():
            self.update_submodules()
        self.check_lfs()
        path = self.context_folder(source.subfolder, wanted or resolved.short_name, commit)
        if max_bytes is not None:
            self.check_size(max_bytes)
        return GitCheckout(
            path=path,
            commit=commit,
            branch=resolved.short_name if resolved.kind is RefKind.BRANCH else None,
            tag=resolved.short_name if resolved.kind is RefKind.TAG else None,
            ref=commit if resolved.kind is RefKind.COMMIT else resolved.name,
            repository=url,
            root=self.root,
            warnings=tuple(self.warnings),
        )

    def git(self, *args: str, action: str, check: bool = True) -> GitResult:
        remaining = self.deadline - self.clock()
        argv = ["git", *args]
        logger.debug("running %s", self.redact(" ".join(argv)))
        result = (
            self.runner(argv, cwd=self.root, env=self.env, timeout=remaining)
            if remaining > 0
            else GitResult(-1, "", "", timed_out=True)
        )
        if result.timed_out:
            raise GitTimeout(
                f"fetching {self.remote.url} did not finish within {self.timeout_seconds:g} s ({action}); "
                "the server may be slow or the repository very large"
            )
        if check and result.returncode != 0:
            logger.info("%s failed for %s: %s", action, self.remote.url, self.redact(result.stderr).strip())
            raise self.describe(result.stderr, action)
        return result

    def list_refs(self, wanted: str | None) -> tuple[dict[str, str], str | None]:
        if wanted is None:
            selection = ["origin", "HEAD"]
        elif _COMMIT_LIKE.match(wanted):
            selection = ["--heads", "--tags", "origin"]  # every tip: a pushed commit usually is one (shallow-fetchable)
        else:
            selection = ["origin", *ref_candidates(wanted)]  # validated: none starts with "-"
        listing = self.git("ls-remote", "--symref", *selection, action="git ls-remote")
        return parse_ls_remote(listing.stdout)

    def fetch_ref(self, resolved: ResolvedRef, wanted: str | None) -> str:
        """Fetch what `resolved` names (shallow first) and return its full commit SHA."""
        if resolved.kind is RefKind.COMMIT:
            sha = resolved.commit or resolved.name
            if len(sha) == 40 and self.try_shallow(sha):
                return self.commit_of(sha, wanted)
            self.full_fetch()
            return self.commit_of(resolved.name, wanted)
        local = _local_name(resolved)
        refspec = f"+{resolved.name}:{local}"
        if not self.try_shallow(refspec):
            self.git("fetch", "--quiet", "--no-tags", "origin", "--end-of-options", refspec, action="git fetch")
        return self.commit_of(local, wanted)

    def try_shallow(self, refspec: str) -> bool:
        """A shallow fetch; False when the server refuses it (the caller then fetches everything)."""
        args = ("fetch", "--quiet", "--no-tags", "--depth", "1", "origin", "--end-of-options", refspec)
        result = self.git(*args, action="git fetch", check=False)
        if result.returncode == 0:
            return True
        error = self.describe(result.stderr, "git fetch")
        if isinstance(error, GitAuthenticationFailed | GitUnreachable):
            raise error
        logger.info("shallow fetch from %s refused (%s); fetching the whole history", self.remote.url, error.message)
        return False

    def full_fetch(self) -> None:
        every = ("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
        self.git("fetch", "--quiet", "--no-tags", "origin", *every, action="git fetch")

    def commit_of(self, name: str, wanted: str | None) -> str:
        wanted = wanted or name
        result = self.git(
            "rev-parse", "--verify", "--end-of-options", f"{name}^{{commit}}", action="git rev-parse", check=False
        )
        sha = result.stdout.strip()
        if result.returncode == 0 and sha:
            return sha
        if "ambiguous" in result.stderr:
            raise InvalidRequest(
                f"commit '{wanted}' is ambiguous in {self.remote.url}; give more characters of the SHA",
                target="context",
            )
        raise GitNotFound(
            f"commit '{wanted}' does not exist in {self.remote.url} (looked in its branches and tags)", target="context"
        )

    def update_submodules(self) -> None:
        base = ("submodule", "update", "--init", "--recursive")
        result = self.git(*base, "--depth", "1", action="git submodule update", check=False)
        if result.returncode != 0 and not isinstance(
            self.describe(result.stderr, "git submodule update"), GitAuthenticationFailed | GitUnreachable | GitNotFound
        ):
            # A server refusing unadvertised commits: start again from full (not shallow) submodule clones.
            logger.info("shallow submodule update failed for %s; fetching their whole history", self.remote.url)
            self.git("submodule", "deinit", "--all", "--force", action="git submodule deinit", check=False)
            shutil.rmtree(self.root / ".git" / "modules", ignore_errors=True)
            result = self.git(*base, action="git submodule update", check=False)
        if result.returncode != 0:
            error = self.describe(result.stderr, "git submodule update")
            lines = [line.strip() for line in self.redact(result.stderr).splitlines() if line.strip()]
            hint = ""
            if isinstance(error, GitAuthenticationFailed):
                hint = "; the access token is only sent to the repository's own host"
            raise type(error)(
                f"the submodules of {self.remote.url} could not be checked out: {'; '.join(lines[-3:])[:500]}{hint}"
            )

    def describe(self, stderr: str, action: str) -> GitSourceError:
        return describe_failure(
            self.redact(stderr), url=self.remote.url, authenticated=bool(self.remote.password), action=action
        )

    def check_lfs(self) -> None:
        listed = self.git("ls-files", "-z", "--", ":(glob)**/.gitattributes", action="git ls-files", check=False)
        for name in filter(None, listed.stdout.split("\0")):
            with contextlib.suppress(OSError):
                if "filter=lfs" in (self.root / name).read_text(errors="replace"):
                    self.warnings.append(
                        f"{name} tracks files with Git LFS; LFS objects are not downloaded, "
                        "so those files are pointer files in the build context"
                    )
                    return

    def context_folder(self, subfolder: str, ref: str, commit: str) -> Path:
        if not subfolder:
            return self.root
        path = (self.root / subfolder).resolve()
        where = f"{self.remote.url} at '{ref}' ({commit[:12]})"
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidRequest(f"context folder '{subfolder}' leaves the repository {where}", target="context")
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "does not exist"
            raise GitNotFound(
                f"context folder '{subfolder}' {what} in {where}; fix the ':folder' part of the context",
                target="context",
            )
        return path

    def check_size(self, max_bytes: int) -> None:
        total = 0
        for folder, folders, files in os.walk(self.root):
            folders[:] = [name for name in folders if name != ".git"]
            for name in files:
                with contextlib.suppress(OSError):
                    total += Path(folder, name).lstat().st_size
            if total > max_bytes:
                raise GitCheckoutTooLarge(
                    f"the checkout of {self.remote.url} is larger than the {max_bytes} bytes allowed; "
                    "point the context at a smaller repository or folder"
                )


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")


def _local_name(resolved: ResolvedRef) -> str:
    if resolved.kind is RefKind.BRANCH:
        return f"refs/remotes/origin/{resolved.short_name}"
    if resolved.kind is RefKind.TAG:
        return resolved.name
    return f"refs/remotes/origin/{resolved.name.removeprefix('refs/')}"
