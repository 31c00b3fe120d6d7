"""`slipway`: the command line for Slipway, shaped like `az acr build` and `az acr task`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from slipway_cli import commands
from slipway_cli import task_commands as task_commands_module
from slipway_cli.client import CliError


def _output(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument("-o", "--output", choices=["table", "json"], default=default, help="output format")


def _add_build(groups: Any) -> None:
    build = groups.add_parser("build", help="build an image from a local folder (like `az acr build`)")
    build.add_argument("context", metavar="CONTEXT", help="folder to build, e.g. '.'")
    build.add_argument("-t", "--image", action="append", help="image name and tag; repeatable; {{.Run.ID}} works")
    build.add_argument("-f", "--file", help="Dockerfile path relative to the context (default: Dockerfile)")
    build.add_argument("--build-arg", action="append", metavar="K=V", help="build argument; repeatable")
    build.add_argument(
        "--secret-build-arg",
        action="append",
        metavar="K=V",
        help="build argument kept secret: sealed at rest, masked in the log (see docs on image history)",
    )
    build.add_argument("--target", help="multi-stage build target")
    build.add_argument("--platform", help="os[/arch[/variant]], default linux/amd64")
    build.add_argument("--no-push", action="store_true", help="build only; do not push")
    build.add_argument("--no-cache", action="store_true", help="do not use the engine's layer cache")
    build.add_argument("--no-logs", action="store_true", help="do not stream the log; wait for the result")
    build.add_argument("--no-wait", action="store_true", help="return once the build is queued")
    build.add_argument("--timeout", type=int, help="run timeout in seconds (default 3600, max 28800)")
    _output(build)
    build.set_defaults(handler=commands.build)


def _add_run(groups: Any) -> None:
    run = groups.add_parser("run", help="run a task file or one command (like `az acr run`)")
    run.add_argument("context", metavar="CONTEXT", help="folder to upload, or /dev/null for none")
    run.add_argument(
        "-f", "--file", help="task file (default acb.yaml); relative to CONTEXT, or local with /dev/null; - reads stdin"
    )
    run.add_argument("--cmd", help="run one command instead of a task file: 'IMAGE [ARGS]'")
    run.add_argument("--set", action="append", metavar="K=V", help="a value for {{.Values.K}}; repeatable")
    run.add_argument(
        "--set-secret", action="append", metavar="K=V", help="a secret value: sealed at rest, masked in the log"
    )
    run.add_argument("--values", help="values file (YAML); relative to CONTEXT, or local with /dev/null")
    run.add_argument("--timeout", type=int, help="run timeout in seconds (default 3600, max 28800)")
    run.add_argument("--platform", help="os[/arch[/variant]], default linux/amd64")
    run.add_argument("--dry-run", action="store_true", help="render and check the file and print the plan; run nothing")
    run.add_argument("--no-logs", action="store_true", help="do not stream the log; wait for the result")
    run.add_argument("--no-wait", action="store_true", help="return once the run is queued")
    _output(run)
    run.set_defaults(handler=commands.run)


def _add_task(groups: Any) -> None:
    task = groups.add_parser("task", help="runs and tasks (like `az acr task`)")
    task_commands = task.add_subparsers(dest="task_command", required=True, metavar="COMMAND")

    for action, handler, text in (
        ("create", task_commands_module.create, "create a task"),
        ("update", task_commands_module.update, "change a task (only the options given)"),
    ):
        sub = task_commands.add_parser(action, help=text)
        task_commands_module.add_task_options(sub, create=action == "create")
        sub.set_defaults(handler=handler)
    show = task_commands.add_parser("show", help="show a task, its triggers and webhook")
    show.add_argument("-n", "--name", required=True)
    show.add_argument("--with-secure-properties", action="store_true", help="include the webhook secret")
    show.add_argument("-o", "--output", choices=["table", "json"], default="json")
    show.set_defaults(handler=task_commands_module.show)
    listing = task_commands.add_parser("list", help="list tasks")
    _output(listing)
    listing.set_defaults(handler=task_commands_module.list_tasks)
    delete = task_commands.add_parser("delete", help="delete a task")
    delete.add_argument("-n", "--name", required=True)
    delete.set_defaults(handler=task_commands_module.delete)
    task_commands_module.add_timer_parsers(task_commands)
    task_commands_module.add_run_parser(task_commands)
    task_commands_module.add_credential_parsers(task_commands)

    list_runs = task_commands.add_parser("list-runs", help="list runs, newest first")
    list_runs.add_argument("-n", "--name", help="only runs of this task")
    list_runs.add_argument("--top", type=int, default=15, help="how many runs (default 15)")
    list_runs.add_argument("--run-status", help="only runs with this status (Queued, Running, Succeeded, …)")
    _output(list_runs)
    list_runs.set_defaults(handler=commands.list_runs)

    show_run = task_commands.add_parser("show-run", help="show one run")
    show_run.add_argument("--run-id", required=True)
    _output(show_run)
    show_run.set_defaults(handler=commands.show_run)

    logs = task_commands.add_parser("logs", help="print a run's log, following it while it runs")
    logs.add_argument("--run-id", required=True)
    logs.set_defaults(handler=commands.logs)

    cancel = task_commands.add_parser("cancel-run", help="cancel a queued or running run")
    cancel.add_argument("--run-id", required=True)
    cancel.set_defaults(handler=commands.cancel_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slipway", description="Build container images with Slipway.")
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_build(groups)
    _add_run(groups)
    _add_task(groups)
    task_commands_module.add_event_parsers(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as error:
        sys.stderr.write(f"error: {error.message}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def run() -> None:
    """The `slipway` command: `main`, then exit without the interpreter's clean-up (~10 ms of every
    command). Nothing is left to clean up: output is flushed here and requests have finished."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # e.g. a reader that went away (`slipway ... | head`)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
