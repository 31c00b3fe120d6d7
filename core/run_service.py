"""What the HTTP API does with runs: upload tickets, scheduling, show, list, logs, cancel.

Scheduling writes the run record first and then the queue message, so a run is never queued
without a record; if the message cannot be sent, the run is marked Error rather than left Queued.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from core.contexts import UploadTicket, check_uploaded_context, create_upload_ticket, fetch_context
from core.errors import InvalidRequest, SlipwayError, StorageError
from core.live_logs import LogChunk
from core.log_masking import mask_text
from core.plan_view import describe_plan
from core.quick_build import parse_platform, parse_quick_build_request, plan_quick_build, render_image_names
from core.run_log import RunLogWriter, read_log
from core.run_values import run_values
from core.runs import Run, RunStatus, RunType, new_run, request_cancel, transition
from core.task_planner import PlanPolicy
from core.task_runs import PlaceholderSecrets, parse_task_run_request, prepare_task_run
from core.wiring import RUNS_QUEUE, Services

MAX_TOP = 1000


def request_secrets_context(run_id: str) -> str:
    """What a run's sealed request values are bound to: they open only for this run."""
    return f"run/{run_id}/request"


def create_context_upload(services: Services) -> UploadTicket:
    services.ensure_storage()
    settings = services.settings
    return create_upload_ticket(
        services.blobs,
        now=services.clock(),
        minutes=settings.upload_url_minutes,
        max_bytes=settings.max_context_bytes,
    )


def schedule_quick_build(services: Services, body: Mapping[str, Any]) -> Run:
    """Validate a `DockerBuildRequest`, record the run as Queued and queue it for a worker."""
    services.ensure_storage()
    settings = services.settings
    request = parse_quick_build_request(body, default_timeout=settings.default_timeout_seconds)
    check_uploaded_context(services.blobs, request.source_location, max_bytes=settings.max_context_bytes)
    run_id, number = services.runs.next_run_id()
    now = services.clock()
    run = new_run(
        run_id=run_id,
        number=number,
        run_type=RunType.QUICK_BUILD,
        request=request.to_document(services.sealing(request_secrets_context(run_id))),
        now=now,
        platform=request.platform,
        timeout=request.timeout,
    )
    # Render the tags once now so a bad tag is a 400 for the caller, not a failed run later.
    render_image_names(request, run_values(run, registry=settings.registry, started=now), registry=settings.registry)
    services.runs.create(run)
    return enqueue_run(services, run)


def schedule_run(services: Services, body: Mapping[str, Any]) -> Run:
    """Like ACR's scheduleRun: a DockerBuildRequest, EncodedTaskRunRequest or FileTaskRunRequest."""
    kind = body.get("type", "DockerBuildRequest")
    if kind == "DockerBuildRequest":
        return schedule_quick_build(services, body)
    return schedule_task_run(services, body)


def _task_run_values(services: Services, run: Run) -> dict[str, str]:
    return run_values(run, registry=services.settings.registry, started=services.clock())


def _policy(services: Services) -> PlanPolicy:
    settings = services.settings
    return PlanPolicy(allow_privileged=settings.allow_privileged, allow_host_network=settings.allow_host_network)


def schedule_task_run(services: Services, body: Mapping[str, Any]) -> Run:
    """Queue a quick run of a task file (`az acr run`); inline files are checked before queuing."""
    services.ensure_storage()
    settings = services.settings
    request = parse_task_run_request(body, default_timeout=settings.default_timeout_seconds)
    if request.source_location is not None:
        check_uploaded_context(services.blobs, request.source_location, max_bytes=settings.max_context_bytes)
    run_id, number = services.runs.next_run_id()
    run = new_run(
        run_id=run_id,
        number=number,
        run_type=RunType.QUICK_RUN,
        request=request.to_document(services.sealing(request_secrets_context(run_id))),
        now=services.clock(),
        platform=request.platform,
        timeout=request.timeout,
    )
    if request.source_location is None:
        # Everything the file needs is in the request: a mistake is a 400 now, not a failed run later.
        prepare_task_run(
            request,
            archive=None,
            run=_task_run_values(services, run),
            image_aliases=settings.image_aliases,
            policy=_policy(services),
            secret_resolver=PlaceholderSecrets(),
        )
    services.runs.create(run)
    return enqueue_run(services, run)


def dry_run(services: Services, body: Mapping[str, Any]) -> dict[str, Any]:
    """Render, check and plan a run without running anything (ACR has no such thing)."""
    services.ensure_storage()
    settings = services.settings
    kind = body.get("type", "DockerBuildRequest")
    placeholder = new_run(
        run_id="dryrun",
        number=1,
        run_type=RunType.QUICK_RUN,
        request={},
        now=services.clock(),
        platform=parse_platform(body.get("platform")),
        timeout=settings.default_timeout_seconds,
    )
    values = _task_run_values(services, placeholder)
    if kind == "DockerBuildRequest":
        build = parse_quick_build_request(body, default_timeout=settings.default_timeout_seconds)
        plan = plan_quick_build(build, render_image_names(build, values, registry=settings.registry))
        return _masked({"plan": describe_plan(plan), "warnings": []}, build.secret_build_args.values())
    request = parse_task_run_request(body, default_timeout=settings.default_timeout_seconds)
    with tempfile.TemporaryDirectory(prefix="slipway-dry-run-") as work:
        archive = None
        if request.source_location is not None:
            check_uploaded_context(services.blobs, request.source_location, max_bytes=settings.max_context_bytes)
            archive = Path(work) / "context.tar.gz"
            fetch_context(
                services.blobs,
                request.source_location,
                archive,
                max_bytes=settings.max_context_bytes,
                max_unpacked_bytes=settings.max_unpacked_context_bytes,
                expected_sha256=request.source_sha256,
                dockerfile=None,
            )
        prepared = prepare_task_run(
            request,
            archive=archive,
            run=values,
            image_aliases=settings.image_aliases,
            policy=_policy(services),
            secret_resolver=PlaceholderSecrets(),
        )
    result = {"plan": describe_plan(prepared.plan), "warnings": list(prepared.warnings)}
    return _masked(result, (value for _, value in request.secret_values))


def _masked(result: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """A dry run never echoes secret values back."""
    values = [value for value in secrets if value]
    if not values:
        return result
    masked: dict[str, Any] = json.loads(mask_text(json.dumps(result), values))
    return masked


def enqueue_run(services: Services, run: Run) -> Run:
    try:
        services.queues.send(RUNS_QUEUE, json.dumps({"runId": run.run_id}))
    except StorageError as error:
        reason = f"could not queue the run: {error.message}"
        services.runs.update(
            run.run_id,
            lambda current: transition(current, RunStatus.ERROR, now=services.clock(), error_message=reason),
        )
        raise
    return run


def get_run(services: Services, run_id: str) -> Run:
    services.ensure_storage()
    return services.runs.get(run_id).run


def list_runs(services: Services, *, top: int = 15, status: str | None = None, task: str | None = None) -> list[Run]:
    services.ensure_storage()
    if not 1 <= top <= MAX_TOP:
        raise InvalidRequest(f"top must be between 1 and {MAX_TOP}, got {top}", target="top")
    parsed: RunStatus | None = None
    if status:
        try:
            parsed = RunStatus.parse(status)
        except ValueError as error:
            raise InvalidRequest(str(error), target="status") from None
    return services.runs.list(top=top, status=parsed, task=task)


def cancel_run(services: Services, run_id: str) -> Run:
    """Cancel a queued run at once, or ask the worker of an active run to stop it."""
    services.ensure_storage()
    run = services.runs.update(run_id, lambda current: request_cancel(current, now=services.clock()))
    if run.status is RunStatus.CANCELED:
        _close_log_of_unstarted_run(services, run)
    return run


def _close_log_of_unstarted_run(services: Services, run: Run) -> None:
    """No worker will write this run's log, so write its ending ourselves for anyone following it."""
    try:
        writer = RunLogWriter(
            services.blobs, run.run_id, clock=services.clock, flush_seconds=60, live=services.live_logs
        )
        writer.open()
        writer.write(f"Run ID: {run.run_id} was canceled before it started\n")
        writer.close(RunStatus.CANCELED)
    except SlipwayError:
        pass  # the run record already says Canceled; the log is a convenience


MAX_LOG_WAIT_SECONDS = 25
LOG_RECHECK_SECONDS = 0.5  # for logs written on another instance, which this process hears nothing of


def read_run_log(
    services: Services,
    run_id: str,
    *,
    offset: int,
    max_bytes: int = 1 << 20,
    wait_seconds: float = 0,
    sleep: Callable[[float], None] | None = None,
) -> LogChunk:
    """Log bytes from `offset`. With `wait_seconds`, wait (long poll) until there is something new or
    the log is complete: at once when this process wrote it, else within `LOG_RECHECK_SECONDS`."""
    services.ensure_storage()
    if offset < 0:
        raise InvalidRequest("offset must be zero or positive", target="offset")
    if not 0 <= wait_seconds <= MAX_LOG_WAIT_SECONDS:
        raise InvalidRequest(f"wait must be between 0 and {MAX_LOG_WAIT_SECONDS} seconds", target="wait")
    live = services.live_logs
    # 404 for unknown runs, even before a log exists; a log this process writes proves the run exists.
    run = None if live.holds(run_id) else services.runs.get(run_id).run
    deadline = time.monotonic() + wait_seconds
    while True:
        seen = live.version(run_id)
        chunk = live.read(run_id, offset, max_bytes) or read_log(
            services.blobs, run_id, offset=offset, max_bytes=max_bytes
        )
        if chunk is None:
            # No worker has opened the log yet; a finished run without a log (e.g. rejected) is complete too.
            run = services.runs.get(run_id).run if wait_seconds or run is None else run
            complete = run.status.log_completion if run.status.is_terminal else None
            chunk = LogChunk(data=b"", next_offset=offset, total_size=0, complete=complete)
        remaining = deadline - time.monotonic()
        if chunk.data or chunk.complete is not None or remaining <= 0:
            return chunk
        if sleep is not None:
            sleep(min(LOG_RECHECK_SECONDS, remaining))
        else:
            live.wait(run_id, seen, min(LOG_RECHECK_SECONDS, remaining))
