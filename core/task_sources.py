"""Getting a task's source for a run: a git checkout or a tarball URL, packed as a context archive.

The worker clones the task's repository (at the pushed commit, the PR head, or the task's ref) with
the task's token passed as a header only, then packs the checkout's folder honouring `.dockerignore`
into the same kind of archive an uploaded context is, so every later step is the same as for
`slipway build` / `slipway run`. Tarball URLs are downloaded with a size limit and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.context_archive import inspect_context_archive
from core.context_packing import pack_context
from core.errors import ContextTooLarge, InvalidContext
from core.git_source import fetch_git_source
from core.tasks import GitSource, Task


@dataclass(frozen=True)
class TaskSource:
    archive: Path | None
    git: dict[str, str] = field(default_factory=dict)  # `.Run` git values: commit, branch, tag, repository
    description: str = ""


def fetch_tarball(url: str, destination: Path, *, max_bytes: int, timeout: float = 300) -> None:
    """Download a context tarball (3 attempts, as acb does), refusing more than `max_bytes`."""
    last: Exception | None = None
    for _ in range(3):
        try:
            size = 0
            with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise InvalidContext(f"downloading the context {url} failed: HTTP {response.status_code}")
                with destination.open("wb") as sink:
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise ContextTooLarge(f"the context at {url} is larger than {max_bytes} bytes")
                        sink.write(chunk)
            return
        except httpx.HTTPError as error:
            last = error
    raise InvalidContext(f"downloading the context {url} failed: {type(last).__name__}: {last}")


def fetch_task_source(
    task: Task,
    work: Path,
    *,
    token: str | None,
    source_ref: str | None,
    max_bytes: int,
    max_unpacked_bytes: int,
    dockerfile: str | None,
) -> TaskSource:
    """The run's context archive for `task` (None for /dev/null tasks) and its git values."""
    git = task.git
    if git is not None:
        source = GitSource(url=git.url, ref=source_ref or git.ref, subfolder=git.subfolder)
        checkout = fetch_git_source(source, work / "source", token=token)
        archive = work / "context.tar.gz"
        with archive.open("wb") as sink:
            packed = pack_context(checkout.path, dockerfile, sink)
        if packed.compressed_bytes > max_bytes:
            raise ContextTooLarge(f"the checkout's context is {packed.compressed_bytes} bytes, over {max_bytes}")
        values = {key: value for key, value in checkout.run_values().items() if value}
        where = f"{checkout.repository} at {checkout.commit[:12]}"
        return TaskSource(archive=archive, git=values, description=where)
    if task.context == "/dev/null":
        return TaskSource(archive=None)
    archive = work / "context.tar.gz"
    fetch_tarball(task.context, archive, max_bytes=max_bytes)
    with archive.open("rb") as data:
        inspect_context_archive(data, max_bytes=max_bytes, max_unpacked_bytes=max_unpacked_bytes, dockerfile=dockerfile)
    return TaskSource(archive=archive, description=task.context)
