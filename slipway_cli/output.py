"""Human output of the CLI: tables like `az acr … -o table`, durations, sizes, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO


def print_json(value: Any, stream: TextIO = sys.stdout) -> None:
    stream.write(json.dumps(value, indent=2) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], stream: TextIO = sys.stdout) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    stream.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def format_time(value: str | None) -> str:
    moment = _parse(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def format_duration(run: Mapping[str, Any]) -> str:
    start, finish = _parse(run.get("startTime")), _parse(run.get("finishTime"))
    if not start or not finish:
        return ""
    seconds = int((finish - start).total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def trigger_of(run: Mapping[str, Any]) -> str:
    """ACR's TRIGGER column: the source trigger's event, else Timer, else Image Update, else Manual."""
    trigger = run.get("trigger") or {}
    kind = trigger.get("kind")
    return {
        "commit": "Commit",
        "pullrequest": "Pull Request",
        "timer": "Timer",
        "imageupdate": "Image Update",
    }.get(str(kind).lower(), "Manual")


RUN_HEADERS = ("RUN ID", "TASK", "PLATFORM", "STATUS", "TRIGGER", "STARTED", "DURATION")


def run_row(run: Mapping[str, Any]) -> list[str]:
    return [
        run.get("runId", ""),
        run.get("task") or "",
        run.get("platform") or "",
        run.get("status", ""),
        trigger_of(run),
        format_time(run.get("startTime")),
        format_duration(run),
    ]


def print_plan(result: Mapping[str, Any], stream: TextIO = sys.stdout) -> None:
    """A dry run's plan: each step with what it waits for and what it will do."""
    plan = result.get("plan", {})
    for note in [*result.get("warnings", []), *plan.get("notes", [])]:
        stream.write(f"note: {note}\n")
    for step in plan.get("steps", []):
        waits = ", ".join(step["dependsOn"]) or "nothing (starts at once)"
        stream.write(f"step {step['id']} ({step['type']}, timeout {step['timeout']}s), waits for {waits}\n")
        if step["type"] == "build":
            tags = " ".join(f"-t {t}" for t in step["tags"])
            stream.write(f"    docker build {tags} -f {step['dockerfile']} {step['context']}\n")
        elif step["type"] == "push":
            for image in step["images"]:
                stream.write(f"    docker push {image}\n")
        else:
            command = " ".join([step["image"], *step["args"]])
            detached = " (detached)" if step.get("detach") else ""
            stream.write(f"    docker run{detached} {command}\n")
        for note in step.get("notes", []):
            stream.write(f"    note: {note}\n")
    networks = ", ".join(n["name"] for n in plan.get("networks", []))
    if networks:
        stream.write(f"networks: {networks} (default: {plan.get('defaultNetwork')})\n")
