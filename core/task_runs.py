"""Quick runs of ACR task files (`az acr run`): the requests, and turning one into a plan.

Two request shapes, named as in ACR's API: `EncodedTaskRunRequest` carries the task file (and
values file) base64-encoded in the request — what `slipway run -f FILE /dev/null` sends — and
`FileTaskRunRequest` names a task file inside the uploaded context. Values given with `--set`
travel in `values`; secret values (`--set-secret`) are sealed in the stored request and masked in
the run's log.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.contexts import validate_sha256, validate_source_location
from core.errors import InvalidContext, InvalidRequest
from core.named_values import NamedValues, Transform, parse_named_values
from core.plan import Plan
from core.quick_build import parse_platform, parse_timeout
from core.task_planner import PlanPolicy, plan_task
from core.taskfile import SecretResolver, SecretSpec, TaskFile, load_task_file, load_values_file, merge_values

ENCODED = "EncodedTaskRunRequest"
FILE = "FileTaskRunRequest"
MAX_TASK_BYTES = 256 * 1024


@dataclass(frozen=True)
class TaskRunRequest:
    kind: str
    source_location: str | None
    source_sha256: str | None
    task_file_path: str | None
    encoded_task: str | None
    values_file_path: str | None
    encoded_values: str | None
    values: tuple[tuple[str, str], ...]
    platform: str
    timeout: int
    # `--set-secret`: sealed when stored, masked in the log.
    secret_values: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def file_name(self) -> str:
        return self.task_file_path or "acb.yaml"

    def to_document(self, seal: Transform | None = None) -> dict[str, Any]:
        return {
            "type": self.kind,
            "sourceLocation": self.source_location,
            "sourceSha256": self.source_sha256,
            "taskFilePath": self.task_file_path,
            "encodedTaskContent": self.encoded_task,
            "valuesFilePath": self.values_file_path,
            "encodedValuesContent": self.encoded_values,
            "values": NamedValues(self.values, self.secret_values).to_documents(seal),
            "platform": self.platform,
            "timeout": self.timeout,
        }


def _decode(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{field} must be the base64-encoded file content", target=field)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{field} is not valid base64", target=field) from None
    if len(raw) > MAX_TASK_BYTES:
        raise InvalidRequest(f"{field} is {len(raw)} bytes; at most {MAX_TASK_BYTES} are accepted", target=field)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{field} is not UTF-8 text", target=field) from None


def _relative_path(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{field} must name a file inside the context, like 'acb.yaml'", target=field)
    cleaned = posixpath.normpath(value.strip())
    if cleaned.startswith(("/", "../")) or cleaned in {".", ".."}:
        raise InvalidRequest(f"{field} '{value}' must be a relative path inside the context", target=field)
    return cleaned


def parse_task_run_request(
    body: Mapping[str, Any], *, default_timeout: int, open_secret: Transform | None = None
) -> TaskRunRequest:
    kind = body.get("type")
    source = body.get("sourceLocation")
    if kind == ENCODED:
        _decode(body.get("encodedTaskContent"), "encodedTaskContent")
        if body.get("encodedValuesContent") is not None:
            _decode(body.get("encodedValuesContent"), "encodedValuesContent")
    elif kind == FILE:
        if source is None:
            raise InvalidRequest("a FileTaskRunRequest needs the sourceLocation of an uploaded context", target="type")
    else:
        raise InvalidRequest(f"type must be '{ENCODED}' or '{FILE}', got {kind!r}", target="type")
    values_path = body.get("valuesFilePath")
    values = parse_named_values(body.get("values"), field_name="values", open_secret=open_secret)
    return TaskRunRequest(
        kind=kind,
        source_location=validate_source_location(source) if source is not None else None,
        source_sha256=validate_sha256(body.get("sourceSha256")),
        task_file_path=_relative_path(body.get("taskFilePath", "acb.yaml"), "taskFilePath") if kind == FILE else None,
        encoded_task=body.get("encodedTaskContent") if kind == ENCODED else None,
        values_file_path=_relative_path(values_path, "valuesFilePath") if values_path is not None else None,
        encoded_values=body.get("encodedValuesContent") if kind == ENCODED else None,
        values=values.plain,
        secret_values=values.secret,
        platform=parse_platform(body.get("platform")),
        timeout=parse_timeout(body.get("timeout"), default_timeout),
    )


def request_from_document(document: Mapping[str, Any], open_secret: Transform | None = None) -> TaskRunRequest:
    return parse_task_run_request(
        document, default_timeout=int(document.get("timeout") or 3600), open_secret=open_secret
    )


def read_archive_text(archive: Path | None, path: str, *, what: str, limit: int = MAX_TASK_BYTES) -> str:
    """A text file from the uploaded context; a clear error if there is no context or no such file."""
    if archive is None:
        raise InvalidContext(f"{what} '{path}' cannot be read: this run has no uploaded context (/dev/null)")
    wanted = posixpath.normpath(path)
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                if posixpath.normpath(member.name) == wanted and member.isfile():
                    if member.size > limit:
                        raise InvalidContext(f"{what} '{path}' is {member.size} bytes; at most {limit} are accepted")
                    handle = tar.extractfile(member)
                    data = handle.read() if handle else b""
                    return data.decode("utf-8-sig", "replace")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InvalidContext(f"the context archive cannot be read: {error}") from error
    raise InvalidContext(f"{what} '{path}' was not found in the uploaded context; check the path and .dockerignore")


class PlaceholderSecrets:
    """For validation and dry runs: every secret renders as `<secret:id>`; nothing is fetched."""

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        return {spec.id: f"<secret:{spec.id}>" for spec in specs}


@dataclass(frozen=True)
class PreparedTaskRun:
    task: TaskFile
    plan: Plan
    values: Mapping[str, Any]
    warnings: tuple[str, ...]


def prepare_task_run(
    request: TaskRunRequest,
    *,
    archive: Path | None,
    run: Mapping[str, str],
    image_aliases: Mapping[str, str],
    policy: PlanPolicy,
    secret_resolver: SecretResolver | None,
) -> PreparedTaskRun:
    """Render, check and plan the task file of `request`; `InvalidTaskFile`/`InvalidContext` on bad input."""
    if request.kind == ENCODED:
        text = _decode(request.encoded_task, "encodedTaskContent")
    else:
        text = read_archive_text(archive, request.file_name, what="task file")
    file_values: dict[str, Any] | None = None
    if request.encoded_values is not None:
        file_values = load_values_file(_decode(request.encoded_values, "encodedValuesContent"), file_name="values")
    elif request.values_file_path is not None:
        source = read_archive_text(archive, request.values_file_path, what="values file")
        file_values = load_values_file(source, file_name=request.values_file_path)
    merged = merge_values(file_values, [*request.values, *request.secret_values])
    task = load_task_file(
        text,
        file_name=request.file_name,
        run=run,
        values=merged.values,
        image_aliases=image_aliases,
        secret_resolver=secret_resolver,
        read_alias_source=lambda path: read_archive_text(archive, path, what="alias file"),
    )
    plan = plan_task(task, file_name=request.file_name, policy=policy)
    return PreparedTaskRun(task=task, plan=plan, values=merged.values, warnings=tuple(merged.warnings))
