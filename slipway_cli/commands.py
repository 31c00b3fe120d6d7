"""The CLI's commands, each a function of parsed arguments that returns the exit code."""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import SlipwayError
from slipway_cli.client import ApiClient, CliError
from slipway_cli.follow import TERMINAL, stream_log, wait_for_run
from slipway_cli.output import (
    RUN_HEADERS,
    format_duration,
    format_size,
    print_json,
    print_plan,
    print_table,
    run_row,
)
from slipway_cli.upload import BlockUploader


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2:
            last[0] = now
            sys.stderr.write(f"\rUploading context: {format_size(done)}   ")
            sys.stderr.flush()

    return report


def upload_context(client: ApiClient, context: Path, dockerfile: str | None) -> tuple[str, str, str]:
    """Pack `context` and upload it; returns (sourceLocation, sha256, dockerfile path in the archive)."""
    if not context.is_dir():
        raise CliError(f"context {str(context)!r} is not a directory; give the folder to build (e.g. '.')")
    ticket = client.post("/contexts")
    sys.stderr.write("Packing source code into tar to upload...\n")
    from core.context_packing import pack_context  # loaded only when a folder is packed (CLI start-up)

    uploader = BlockUploader(ticket["uploadUrl"])
    try:
        result = pack_context(context, dockerfile, uploader, progress=_progress(sys.stderr.isatty()))
        if result.compressed_bytes > int(ticket["maxBytes"]):
            raise CliError(
                f"the packed context is {format_size(result.compressed_bytes)}, over the service's limit of "
                f"{format_size(int(ticket['maxBytes']))}; exclude large files with .dockerignore"
            )
        uploader.commit(result.sha256)
    except SlipwayError as error:
        raise CliError(error.message) from None
    finally:
        uploader.close()
    if sys.stderr.isatty():
        sys.stderr.write("\r")
    sys.stderr.write(
        f"Sending context ({format_size(result.compressed_bytes)}, {result.file_count} files) to {client.base_url}...\n"
    )
    return ticket["sourceLocation"], result.sha256, result.dockerfile_in_archive


def follow_run(client: ApiClient, run_id: str, *, no_logs: bool, no_wait: bool, output: str) -> int:
    if no_wait:
        return 0
    if no_logs:
        run = wait_for_run(client, run_id)
    else:
        sys.stderr.write("Waiting for an agent...\n")
        if stream_log(client, run_id) == "succeeded" and output != "json":
            return 0  # the log completes only after the run's final status is stored: nothing more to show
        run = client.get(f"/runs/{run_id}")
    if output == "json":
        print_json(run)
    elif run.get("status") != "Succeeded":
        message = run.get("runErrorMessage") or ""
        sys.stderr.write(f"Run {run_id} ended {run.get('status')}" + (f": {message}" if message else "") + "\n")
    return 0 if run.get("status") == "Succeeded" else 1


def build(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    source, digest, dockerfile = upload_context(client, Path(args.context), args.file or "Dockerfile")
    body: dict[str, Any] = {
        "type": "DockerBuildRequest",
        "sourceLocation": source,
        "sourceSha256": digest,
        "dockerFilePath": dockerfile,
        "imageNames": args.image or [],
        "isPushEnabled": not args.no_push,
        "arguments": [_build_arg(a) for a in args.build_arg or []]
        + [{**_build_arg(a), "isSecret": True} for a in args.secret_build_arg or []],
        "target": args.target,
        "platform": args.platform,
        "noCache": args.no_cache,
        "timeout": args.timeout,
    }
    run = client.post("/runs", {k: v for k, v in body.items() if v is not None})
    sys.stderr.write(f"Queued a build with ID: {run['runId']}\n")
    return follow_run(client, run["runId"], no_logs=args.no_logs, no_wait=args.no_wait, output=args.output)


def _read_local(path: str, what: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CliError(f"cannot read the {what} '{path}': {error.strerror}") from None


def _encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _set_values(items: list[str] | None) -> list[dict[str, Any]]:
    values = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--set {item!r} must look like name=value")
        values.append({"name": name, "value": value, "isSecret": False})
    return values


def _cmd_task(command: str, timeout: int | None) -> bytes:
    """`az acr run --cmd` as a one-step task file (the command is YAML-quoted, so any text is safe)."""
    import yaml

    step: dict[str, Any] = {"cmd": command}
    if timeout:
        step["timeout"] = timeout
    return yaml.safe_dump({"version": "v1.1.0", "steps": [step]}, sort_keys=False).encode()


def _run_request(args: argparse.Namespace, client: ApiClient) -> dict[str, Any]:
    if args.cmd and args.file:
        raise CliError("--cmd and -f cannot be used together; --cmd runs one command, -f a task file")
    values = _set_values(args.set) + [{**v, "isSecret": True} for v in _set_values(args.set_secret)]
    body: dict[str, Any] = {"values": values, "timeout": args.timeout, "platform": args.platform}
    if args.context == "/dev/null":
        task = _cmd_task(args.cmd, args.timeout) if args.cmd else _read_local(args.file or "acb.yaml", "task file")
        body |= {"type": "EncodedTaskRunRequest", "encodedTaskContent": _encoded(task)}
        if args.values:
            body["encodedValuesContent"] = _encoded(_read_local(args.values, "values file"))
        return body
    context = Path(args.context)
    if args.cmd:
        source, digest, _ = upload_context(client, context, None)
        body |= {"type": "EncodedTaskRunRequest", "encodedTaskContent": _encoded(_cmd_task(args.cmd, args.timeout))}
    else:
        task_file = args.file or "acb.yaml"
        if task_file == "-":
            body |= {"type": "EncodedTaskRunRequest", "encodedTaskContent": _encoded(_read_local("-", "task file"))}
        else:
            if not (context / task_file).is_file():
                raise CliError(f"task file '{task_file}' not found in context '{context}'; -f is relative to it")
            body |= {"type": "FileTaskRunRequest", "taskFilePath": task_file}
        if args.values:
            body["valuesFilePath"] = args.values
        source, digest, _ = upload_context(client, context, None)
    body |= {"sourceLocation": source, "sourceSha256": digest}
    return body


def run(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    body = {k: v for k, v in _run_request(args, client).items() if v is not None}
    if args.dry_run:
        result = client.post("/runs", {**body, "dryRun": True})
        if args.output == "json":
            print_json(result)
        else:
            print_plan(result)
        return 0
    queued = client.post("/runs", body)
    sys.stderr.write(f"Queued a run with ID: {queued['runId']}\n")
    return follow_run(client, queued["runId"], no_logs=args.no_logs, no_wait=args.no_wait, output=args.output)


def _build_arg(text: str) -> dict[str, Any]:
    name, sep, value = text.partition("=")
    if not sep:
        import os

        if name not in os.environ:
            raise CliError(f"--build-arg {name!r} has no value and no environment variable {name} is set")
        value = os.environ[name]
    return {"name": name, "value": value, "isSecret": False}


def list_runs(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    runs = client.get("/runs", top=args.top, status=args.run_status, task=getattr(args, "name", None))["value"]
    if args.output == "json":
        print_json(runs)
    else:
        print_table(RUN_HEADERS, [run_row(r) for r in runs])
    return 0


def show_run(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    run = client.get(f"/runs/{args.run_id}")
    if args.output == "json":
        print_json(run)
        return 0
    print_table(RUN_HEADERS, [run_row(run)])
    trigger = run.get("trigger") or {}
    details = [
        ("Run type", run.get("runType")),
        ("Trigger", _trigger_details(trigger)),
        ("Created", run.get("createTime")),
        ("Duration", format_duration(run)),
        ("Error", run.get("runErrorMessage")),
    ]
    print()
    for label, value in details:
        if value:
            print(f"{label}: {value}")
    for image in run.get("outputImages") or []:
        print(f"Output image: {image['registry']}/{image['repository']}:{image['tag']}@{image['digest']}")
    return 0


def _trigger_details(trigger: dict[str, Any]) -> str:
    """What started a run, in one line (commit, branch, PR, timer occurrence, base image and digest)."""
    kind = trigger.get("kind")
    if kind in {"commit", "pullrequest"}:
        text = f"{trigger.get('repositoryUrl')} {trigger.get('branchName')} at {str(trigger.get('commitId'))[:12]}"
        return text + (f", pull request #{trigger['pullRequestId']}" if trigger.get("pullRequestId") else "")
    if kind == "timer":
        return f"timer '{trigger.get('timerTriggerName')}', occurrence {trigger.get('scheduleOccurrence')}"
    if kind == "imageupdate":
        return f"base image {trigger.get('image')} changed to {trigger.get('digest')}"
    return "Manual" if kind == "manual" or not kind else str(kind)


def logs(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    stream_log(client, args.run_id)
    return 0


def cancel_run(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    run = client.post(f"/runs/{args.run_id}/cancel")
    if run.get("status") in TERMINAL:
        sys.stderr.write(f"Run {args.run_id} was canceled\n")
    else:
        sys.stderr.write(f"Cancel requested for run {args.run_id} ({run.get('status')}); it stops within seconds\n")
    return 0
