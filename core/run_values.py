"""The `.Run` values that tags and task files can use, as acb defines them (reference §1.6)."""

from __future__ import annotations

import platform as host_platform
from collections.abc import Mapping
from datetime import UTC, datetime

from core.runs import Run

_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def format_run_date(when: datetime) -> str:
    """Go layout `20060102-150405z`, as acb formats `.Run.Date`."""
    return when.astimezone(UTC).strftime("%Y%m%d-%H%M%Sz")


def engine_architecture() -> str:
    machine = host_platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine)


def run_values(
    run: Run,
    *,
    registry: str,
    started: datetime,
    shared_volume: str = "",
    git: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every `.Run.X` value for `run`; empty strings where acb would have none (e.g. no git)."""
    os_name, _, rest = run.platform.partition("/")
    architecture = rest.split("/", 1)[0] if rest else engine_architecture()
    git_info = git or {}
    trigger = run.trigger
    return {
        "ID": run.run_id,
        "Registry": registry,
        "RegistryName": registry.split(".", 1)[0],
        "Date": format_run_date(started),
        "OS": os_name or "linux",
        "Architecture": architecture,
        "OSVersion": "",
        "Commit": git_info.get("commit", str(trigger.get("commitId", ""))),
        "Branch": git_info.get("branch", str(trigger.get("branchName", ""))),
        "Repository": git_info.get("repository", str(trigger.get("repositoryUrl", ""))),
        "GitTag": git_info.get("tag", ""),
        "TriggeredBy": str(trigger.get("kind", "")),
        "TaskName": run.task or "",
        "SharedVolume": shared_volume,
    }
