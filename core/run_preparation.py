"""Everything a worker does before the first step: fetch the context, render, check and plan.

A quick build becomes acb's two-step plan (build, push) over the uploaded archive; a task run's file
is rendered (with Key Vault secrets resolved through the run's redactor, so their values are masked
in the log from the moment they exist) and planned. Bad input ends the run Failed before any step
runs; a secret that cannot be resolved ends it Error, as ACR does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core.contexts import fetch_context, read_dockerfile
from core.engine import BuildOptions, RegistryAuth
from core.errors import ContextTooLarge, InvalidContext, InvalidRequest, InvalidTaskFile, SlipwayError
from core.keyvault import is_keyvault_reference
from core.log_masking import StreamRedactor
from core.plan import BuildStep, Plan, quick_build_plan
from core.quick_build import plan_quick_build, render_image_names, render_tags
from core.quick_build import request_from_document as quick_build_request
from core.registry_credentials import CredentialResolver, RegistryCredential, auth_for
from core.run_log import RunLogWriter
from core.run_service import request_secrets_context
from core.run_values import run_values
from core.runs import Run, RunStatus, RunType
from core.task_identities import AssignedIdentityResolver, check_credentials, check_identity
from core.task_planner import PlanPolicy
from core.task_runs import ENCODED, FILE, TaskRunRequest, prepare_task_run
from core.task_runs import request_from_document as task_run_request
from core.task_sources import fetch_task_source
from core.taskfile import SecretResolver, SecretSpec
from core.tasks import TaskKind, secret_context, task_from_document
from core.wiring import Services

_USER_ERRORS = (InvalidContext, ContextTooLarge, InvalidRequest, InvalidTaskFile)


class RunFailed(Exception):
    def __init__(self, status: RunStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RunContext:
    """What the executor needs from the worker for one run (`core.execution.ExecutionContext`)."""

    run_id: str
    stack: str
    archive: Path | None
    dockerfile_text: str = ""
    auths: Mapping[str, RegistryAuth] = field(default_factory=dict, repr=False)

    def open_build_context(self, step: BuildStep) -> tuple[BinaryIO, str]:
        if self.archive is None:
            raise InvalidContext("this run has no uploaded context to build")
        return self.archive.open("rb"), self.dockerfile_text

    def registry_auth(self, reference: str) -> RegistryAuth | None:
        return auth_for(reference, self.auths)


def registry_logins(
    services: Services, redactor: StreamRedactor, credentials: Sequence[RegistryCredential] = ()
) -> dict[str, RegistryAuth]:
    """The run's registry logins: the service's own registry (if configured) and the task's credentials."""
    settings = services.settings
    own: list[RegistryCredential] = []
    if settings.registry_username and settings.registry_password:
        own.append(
            RegistryCredential(settings.registry.lower(), settings.registry_username, settings.registry_password, None)
        )
    resolved = CredentialResolver(services.secrets).resolve([*own, *credentials])
    redactor.add_values(resolved.secret_values)
    return dict(resolved)


class MaskingResolver:
    """Resolves secrets and registers every value with the run's log redactor before returning it."""

    def __init__(self, inner: SecretResolver, redactor: StreamRedactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        values = self._inner.resolve_secrets(specs)
        self._redactor.add_values(values.values())
        return values


def _fetch(
    services: Services, log: RunLogWriter, work: Path, *, source: str | None, sha256: str | None, dockerfile: str | None
) -> Path | None:
    if source is None:
        return None
    settings = services.settings
    archive = work / "context.tar.gz"
    log.line("Downloading source code...")
    fetch_context(
        services.blobs,
        source,
        archive,
        max_bytes=settings.max_context_bytes,
        max_unpacked_bytes=settings.max_unpacked_context_bytes,
        expected_sha256=sha256,
        dockerfile=dockerfile,
    )
    log.line("Finished downloading source code")
    return archive


def _quick_build(
    services: Services, run: Run, log: RunLogWriter, work: Path, redactor: StreamRedactor
) -> tuple[Plan, RunContext]:
    settings = services.settings
    request = quick_build_request(run.request, services.opening(request_secrets_context(run.run_id)))
    redactor.add_values(request.secret_build_args.values())
    for name in request.secret_build_args:
        log.line(
            f"Warning: secret build argument {name} is passed to the classic builder as a build argument: it is "
            "masked in this log, but a RUN that uses it can record it in the image history (docker history). "
            "To keep a secret out of the image, use a task file with a secret volume mounted in a cmd step."
        )
    started = run.start_time or services.clock()
    values = run_values(run, registry=settings.registry, started=started)
    images = render_image_names(request, values, registry=settings.registry)
    archive = _fetch(
        services, log, work, source=request.source_location, sha256=request.source_sha256, dockerfile=request.dockerfile
    )
    if archive is None:  # pragma: no cover - a quick build always has a source location
        raise InvalidRequest("a quick build needs an uploaded context")
    context = RunContext(
        run.run_id,
        settings.stack_label,
        archive,
        read_dockerfile(archive, request.dockerfile),
        registry_logins(services, redactor),
    )
    return plan_quick_build(request, images), context


def _task_run(
    services: Services, run: Run, log: RunLogWriter, work: Path, redactor: StreamRedactor
) -> tuple[Plan, RunContext]:
    settings = services.settings
    request = task_run_request(run.request, services.opening(request_secrets_context(run.run_id)))
    redactor.add_values(value for _, value in request.secret_values)
    archive = _fetch(services, log, work, source=request.source_location, sha256=request.source_sha256, dockerfile=None)
    started = run.start_time or services.clock()
    prepared = prepare_task_run(
        request,
        archive=archive,
        run=run_values(run, registry=settings.registry, started=started),
        image_aliases=settings.image_aliases,
        policy=PlanPolicy(allow_privileged=settings.allow_privileged, allow_host_network=settings.allow_host_network),
        secret_resolver=MaskingResolver(services.secrets, redactor),
    )
    for warning in prepared.warnings:
        log.line(f"Warning: {warning}")
    return prepared.plan, RunContext(
        run.run_id, settings.stack_label, archive, auths=registry_logins(services, redactor)
    )


def _triggered_task(
    services: Services, run: Run, log: RunLogWriter, work: Path, redactor: StreamRedactor
) -> tuple[Plan, RunContext, str]:
    """A run of a saved task: fetch its source, then plan it as a build or a task file."""
    settings = services.settings
    document = run.request
    task = task_from_document(document["task"])
    credentials = services.task_store.registry_credentials(task.name)
    check_credentials(task.name, task.identity, credentials)
    logins = registry_logins(services, redactor, credentials)
    token_setting = services.task_store.git_token(task.name)
    if token_setting and is_keyvault_reference(token_setting):
        check_identity(task.name, task.identity, None, what="the git access token", target="gitAccessToken")
    token = services.resolve_setting(token_setting) if token_setting else None
    if token:
        redactor.add_values([token])
    if task.git is not None:
        ref = document.get("sourceRef") or task.git.ref or "the default branch"
        log.line(f"Fetching source code from {task.git.url} ({ref})...")
    source = fetch_task_source(
        task,
        work,
        token=token,
        source_ref=document.get("sourceRef"),
        max_bytes=settings.max_context_bytes,
        max_unpacked_bytes=settings.max_unpacked_context_bytes,
        dockerfile=task.dockerfile if task.kind is TaskKind.DOCKER else None,
    )
    if source.description:
        log.line(f"Using source code from {source.description}")
    values = run_values(run, registry=settings.registry, started=run.start_time or services.clock(), git=source.git)
    overrides = {v["name"]: v["value"] for v in document.get("arguments") or ()}
    open_args = services.opening(secret_context(task.name, "arguments"))
    open_values = services.opening(secret_context(task.name, "values"))
    secret_args = {name: open_args(name, token) for name, token in task.secret_build_args}
    secret_values = tuple((name, open_values(name, token)) for name, token in task.secret_values)
    redactor.add_values([*secret_args.values(), *(value for _, value in secret_values)])
    if task.kind is TaskKind.DOCKER:
        if source.archive is None:
            raise InvalidContext(f"task '{task.name}' builds a Dockerfile but its context is /dev/null")
        dockerfile = read_dockerfile(source.archive, task.dockerfile)
        options = BuildOptions(
            dockerfile=task.dockerfile,
            tags=tuple(n.reference for n in render_tags(task.image_names, values, registry=settings.registry)),
            build_args={**task.build_args, **secret_args, **overrides},
            target=task.target,
            platform=task.platform,
            no_cache=task.no_cache,
        )
        context = RunContext(run.run_id, settings.stack_label, source.archive, dockerfile, logins)
        return quick_build_plan(options, push=task.push), context, source.git.get("commit", "")
    request = TaskRunRequest(
        kind=ENCODED if task.kind is TaskKind.ENCODED else FILE,
        source_location=None,
        source_sha256=None,
        task_file_path=task.task_file,
        encoded_task=task.encoded_task,
        values_file_path=task.values_file,
        encoded_values=None,
        values=(*task.values, *((v["name"], v["value"]) for v in document.get("values") or ())),
        secret_values=secret_values,
        platform=task.platform,
        timeout=task.timeout,
    )
    prepared = prepare_task_run(
        request,
        archive=source.archive,
        run=values,
        image_aliases=settings.image_aliases,
        policy=PlanPolicy(allow_privileged=settings.allow_privileged, allow_host_network=settings.allow_host_network),
        secret_resolver=MaskingResolver(AssignedIdentityResolver(services.secrets, task.name, task.identity), redactor),
    )
    for warning in prepared.warnings:
        log.line(f"Warning: {warning}")
    context = RunContext(run.run_id, settings.stack_label, source.archive, auths=logins)
    return prepared.plan, context, source.git.get("commit", "")


def prepare_run(
    services: Services, run: Run, log: RunLogWriter, work: Path, redactor: StreamRedactor
) -> tuple[Plan, RunContext, str]:
    """The plan of `run`, its context and git commit (if any); raises `RunFailed` with the status to end with."""
    try:
        if run.run_type is RunType.QUICK_BUILD:
            return (*_quick_build(services, run, log, work, redactor), "")
        if run.run_type is RunType.QUICK_RUN:
            return (*_task_run(services, run, log, work, redactor), "")
        return _triggered_task(services, run, log, work, redactor)
    except _USER_ERRORS as error:
        raise RunFailed(RunStatus.FAILED, error.message) from error
    except SlipwayError as error:
        # Key Vault, storage or engine trouble before any step: the platform's error, not the user's.
        raise RunFailed(RunStatus.ERROR, error.message) from error
