"""`slipway task create|update|show|list|delete|run` and `slipway task timer …` (like `az acr task`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from slipway_cli.client import ApiClient, CliError
from slipway_cli.output import print_json, print_table

_BOOL = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def bool_arg(text: str) -> bool:
    try:
        return _BOOL[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}") from None


def add_task_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    """The options `az acr task create/update` takes, in Slipway's names where ACR has none."""
    parser.add_argument("-n", "--name", required=True, help="task name")
    parser.add_argument(
        "-c", "--context", required=create, help="git URL repo.git#ref:subfolder, tarball URL or /dev/null"
    )
    parser.add_argument("-f", "--file", help="a Dockerfile (build task) or a .yaml task file (multi-step task)")
    parser.add_argument("--cmd", help="one command instead of a file: 'IMAGE [ARGS]'")
    parser.add_argument("-t", "--image", action="append", help="image name for Docker tasks; repeatable")
    parser.add_argument("--arg", action="append", metavar="K=V", help="build argument; repeatable")
    parser.add_argument("--secret-arg", action="append", metavar="K=V", help="secret build argument (sealed, masked)")
    parser.add_argument("--set", action="append", metavar="K=V", help="value for {{.Values.K}}; repeatable")
    parser.add_argument("--set-secret", action="append", metavar="K=V", help="secret value (sealed, masked)")
    parser.add_argument("--values", help="values file inside the context")
    parser.add_argument("--target", help="multi-stage build target")
    parser.add_argument("--schedule", action="append", help="timer 'cron' or 'name:cron' (UTC, 5 fields); repeatable")
    parser.add_argument("--commit-trigger-enabled", type=bool_arg, metavar="true|false")
    parser.add_argument("--pull-request-trigger-enabled", type=bool_arg, metavar="true|false")
    parser.add_argument("--base-image-trigger-enabled", type=bool_arg, metavar="true|false")
    parser.add_argument("--base-image-trigger-type", choices=["Runtime", "All"])
    parser.add_argument("--branch", help="branch the commit trigger watches (default: the context's #ref, else master)")
    parser.add_argument("--include-paths", action="append", help="commit trigger fires only for these globs")
    parser.add_argument("--exclude-paths", action="append", help="changes only to these globs never trigger")
    parser.add_argument("--concurrency-policy", choices=["queue", "cancel-superseded"])
    parser.add_argument("--git-access-token", help="token to clone the repository (a value or a Key Vault secret URL)")
    parser.add_argument("--status", choices=["Enabled", "Disabled"])
    parser.add_argument("--timeout", type=int, help="run timeout in seconds (default 3600)")
    parser.add_argument("--platform", help="os[/arch[/variant]] (default linux/amd64)")
    parser.add_argument("--no-push", type=bool_arg, nargs="?", const=True, metavar="true|false")
    parser.add_argument("--assign-identity", action="append", help="[system] or a user-assigned identity client id")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="json")


def _pairs(items: list[str] | None, flag: str) -> list[dict[str, str]]:
    pairs = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"{flag} {item!r} must look like name=value")
        pairs.append({"name": name, "value": value})
    return pairs


def _with_secrets(plain: list[str] | None, secret: list[str] | None, flag: str) -> list[dict[str, Any]] | None:
    if plain is None and secret is None:
        return None
    return [*_pairs(plain, flag), *({**pair, "isSecret": True} for pair in _pairs(secret, flag + "-secret"))]


def task_body(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "context": args.context,
        "file": args.file,
        "cmd": args.cmd,
        "imageNames": args.image,
        "arguments": _with_secrets(args.arg, args.secret_arg, "--arg"),
        "values": _with_secrets(args.set, args.set_secret, "--set"),
        "valuesFile": args.values,
        "target": args.target,
        "schedules": args.schedule,
        "commitTriggerEnabled": args.commit_trigger_enabled,
        "pullRequestTriggerEnabled": args.pull_request_trigger_enabled,
        "baseImageTriggerEnabled": args.base_image_trigger_enabled,
        "baseImageTriggerType": args.base_image_trigger_type,
        "branch": args.branch,
        "includePaths": args.include_paths,
        "excludePaths": args.exclude_paths,
        "concurrencyPolicy": args.concurrency_policy,
        "gitAccessToken": args.git_access_token,
        "status": args.status,
        "timeout": args.timeout,
        "platform": args.platform,
        "noPush": args.no_push,
        "assignIdentity": args.assign_identity,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _triggers(task: dict[str, Any]) -> str:
    names = []
    source = task.get("sourceTrigger") or {}
    if source.get("commitEnabled") or source.get("pullRequestEnabled"):
        names.append("SOURCE")
    if task.get("timers"):
        names.append("TIMER")
    if (task.get("baseImageTrigger") or {}).get("enabled"):
        names.append("BASE_IMAGE")
    return ", ".join(names)


def _print_task(task: dict[str, Any], output: str) -> None:
    if output == "json":
        print_json(task)
        return
    print_table(
        ("NAME", "PLATFORM", "STATUS", "SOURCE REPOSITORY", "TRIGGERS"),
        [[task["name"], task["platform"], task["status"], task["context"], _triggers(task)]],
    )
    if task.get("webhookUrl"):
        print(f"\nConfigure a GitHub webhook: URL {task['webhookUrl']}, content type application/json")
        if task.get("webhookSecret"):
            print(f"Webhook secret: {task['webhookSecret']}")


def create(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    task = client.post("/tasks", {"name": args.name, **task_body(args)})
    _print_task(task, args.output)
    return 0


def update(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    task = client.request("PATCH", f"/tasks/{args.name}", json=task_body(args))
    _print_task(task, args.output)
    return 0


def show(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    params = {"withSecureProperties": "true"} if args.with_secure_properties else {}
    _print_task(client.get(f"/tasks/{args.name}", **params), args.output)
    return 0


def list_tasks(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    tasks = client.get("/tasks")["value"]
    if args.output == "json":
        print_json(tasks)
    else:
        rows = [[t["name"], t["platform"], t["status"], t["context"], _triggers(t)] for t in tasks]
        print_table(("NAME", "PLATFORM", "STATUS", "SOURCE REPOSITORY", "TRIGGERS"), rows)
    return 0


def delete(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    client.request("DELETE", f"/tasks/{args.name}")
    sys.stderr.write(f"Deleted task {args.name}\n")
    return 0


def _print_timers(timers: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        print_json(timers)
    else:
        print_table(("NAME", "SCHEDULE", "ENABLED"), [[t["name"], t["schedule"], str(t["enabled"])] for t in timers])


def timer(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    base = f"/tasks/{args.name}/timers"
    if args.timer_command == "list":
        timers = client.get(f"/tasks/{args.name}")["timers"]
    elif args.timer_command == "add":
        body = {"timerName": args.timer_name, "schedule": args.schedule, "enabled": args.enabled}
        timers = client.post(base, {k: v for k, v in body.items() if v is not None})
    elif args.timer_command == "update":
        body = {"schedule": args.schedule, "enabled": args.enabled}
        timers = client.request(
            "PATCH", f"{base}/{args.timer_name}", json={k: v for k, v in body.items() if v is not None}
        )
    else:
        timers = client.request("DELETE", f"{base}/{args.timer_name}")
    _print_timers(timers, args.output)
    return 0


def add_timer_parsers(task_commands: Any) -> None:
    parser = task_commands.add_parser("timer", help="a task's timers (add, update, remove, list)")
    actions = parser.add_subparsers(dest="timer_command", required=True, metavar="COMMAND")
    for action in ("add", "update", "remove", "list"):
        sub = actions.add_parser(action, help=f"{action} a timer" if action != "list" else "list timers")
        sub.add_argument("-n", "--name", required=True, help="task name")
        if action != "list":
            sub.add_argument("--timer-name", required=True)
        if action in {"add", "update"}:
            sub.add_argument("--schedule", required=action == "add", help="5-field cron in UTC, e.g. '0 3 * * *'")
            sub.add_argument("--enabled", type=bool_arg, metavar="true|false")
        sub.add_argument("-o", "--output", choices=["table", "json"], default="table")
        sub.set_defaults(handler=timer)


def run_task(args: argparse.Namespace) -> int:
    """`slipway task run -n X`: a Manual run; `--set`/`--arg` apply to this run only."""
    from slipway_cli.commands import follow_run

    client = ApiClient.from_env()
    body = {"values": _pairs(args.set, "--set"), "arguments": _pairs(args.arg, "--arg")}
    run = client.post(f"/tasks/{args.name}/runs", body)
    sys.stderr.write(f"Queued a run with ID: {run['runId']}\n")
    return follow_run(client, run["runId"], no_logs=args.no_logs, no_wait=args.no_wait, output=args.output)


def add_run_parser(task_commands: Any) -> None:
    parser = task_commands.add_parser("run", help="run a task now (trigger: Manual)")
    parser.add_argument("-n", "--name", required=True, help="task name")
    parser.add_argument("--set", action="append", metavar="K=V", help="value for this run only; repeatable")
    parser.add_argument("--arg", action="append", metavar="K=V", help="build argument for this run only; repeatable")
    parser.add_argument("--no-logs", action="store_true", help="do not stream the log; wait for the result")
    parser.add_argument("--no-wait", action="store_true", help="return once the run is queued")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.set_defaults(handler=run_task)


def list_events(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    events = client.get("/events", top=args.top, task=args.name)["value"]
    if args.output == "json":
        print_json(events)
        return 0
    rows = [
        [e["eventId"], e["receivedAt"][:19] + "Z", e.get("provider", ""), e.get("repository", ""), e.get("outcome", "")]
        for e in events
    ]
    print_table(("EVENT ID", "RECEIVED", "SOURCE", "REPOSITORY / IMAGE", "OUTCOME"), rows)
    return 0


def show_event(args: argparse.Namespace) -> int:
    client = ApiClient.from_env()
    event = client.get(f"/events/{args.event_id}")
    if args.output == "json":
        print_json(event)
        return 0
    print(f"{event['provider']} {event['eventName']} {event['summary']}")
    print(f"outcome: {event['outcome']}")
    rows = [
        [d["task"], "yes" if d["starts"] else "no", d.get("runId") or "", d["reason"], d["message"]]
        for d in event.get("decisions", [])
    ]
    print_table(("TASK", "RUNS", "RUN ID", "REASON", "WHY"), rows)
    return 0


def add_event_parsers(groups: Any) -> None:
    events = groups.add_parser("event", help="incoming events and what each did to each task")
    actions = events.add_subparsers(dest="event_command", required=True, metavar="COMMAND")
    listing = actions.add_parser("list", help="newest events first")
    listing.add_argument("--top", type=int, default=15)
    listing.add_argument("-n", "--name", help="only events that concerned this task")
    listing.add_argument("-o", "--output", choices=["table", "json"], default="table")
    listing.set_defaults(handler=list_events)
    show = actions.add_parser("show", help="one event with the decision for every task it concerned")
    show.add_argument("--event-id", required=True)
    show.add_argument("-o", "--output", choices=["table", "json"], default="table")
    show.set_defaults(handler=show_event)


def credential(args: argparse.Namespace) -> int:
    """`slipway task credential add|update|remove|list` (like `az acr task credential`)."""
    client = ApiClient.from_env()
    base = f"/tasks/{args.name}/credentials"
    if args.credential_command == "list":
        listed = client.get(base)
        if args.output == "json":
            print_json(listed)
        else:
            rows = [
                [server, _kind(doc.get("userName")), _kind(doc.get("password")), doc.get("identity") or ""]
                for server, doc in listed.items()
            ]
            print_table(("LOGIN SERVER", "USERNAME", "PASSWORD", "IDENTITY"), rows)
        return 0
    if args.credential_command == "remove":
        client.request("DELETE", f"{base}/{args.login_server}")
        sys.stderr.write(f"Removed the credentials for {args.login_server}\n")
        return 0
    body = {
        "loginServer": args.login_server,
        "username": args.username,
        "password": args.password,
        "identity": args.use_identity,
    }
    body = {key: value for key, value in body.items() if value is not None}
    if args.credential_command == "add":
        shown = client.post(base, body)
    else:
        shown = client.request("PUT", f"{base}/{args.login_server}", json=body)
    print_json(shown)
    return 0


def _kind(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    return str(value.get("value") or value.get("type"))


def add_credential_parsers(task_commands: Any) -> None:
    parser = task_commands.add_parser("credential", help="registry credentials of a task (add, update, remove, list)")
    actions = parser.add_subparsers(dest="credential_command", required=True, metavar="COMMAND")
    for action in ("add", "update", "remove", "list"):
        sub = actions.add_parser(action, help=f"{action} registry credentials")
        sub.add_argument("-n", "--name", required=True, help="task name")
        if action != "list":
            sub.add_argument("--login-server", required=True, help="registry host[:port]")
        if action in {"add", "update"}:
            sub.add_argument("-u", "--username", help="a value or a Key Vault secret URL")
            sub.add_argument("-p", "--password", help="a value or a Key Vault secret URL")
            sub.add_argument("--use-identity", help="[system] or a user-assigned identity's client id")
        sub.add_argument("-o", "--output", choices=["table", "json"], default="table")
        sub.set_defaults(handler=credential)
