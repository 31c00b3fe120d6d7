"""A display-only reading of a `Plan`: what `--dry-run` shows, as JSON-ready data.

Secret volume contents are never shown, only their file names; secrets in a dry run are rendered
as placeholders by the caller, so nothing here can leak a value.
"""

from __future__ import annotations

from typing import Any

from core.plan import BuildStep, CmdStep, Plan, PushStep, Step, UploadedArchive


def _step(step: Step) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": step.id,
        "dependsOn": list(step.depends_on),
        "timeout": step.timeout,
        "ignoreErrors": step.ignore_errors,
    }
    if isinstance(step, BuildStep):
        context = "(uploaded context)" if isinstance(step.context, UploadedArchive) else step.context.path
        view |= {
            "type": "build",
            "context": context,
            "dockerfile": step.options.dockerfile,
            "tags": list(step.options.tags),
            "buildArgs": dict(step.options.build_args),
            "target": step.options.target,
            "platform": step.options.platform,
        }
    elif isinstance(step, PushStep):
        view |= {"type": "push", "images": list(step.images)}
    elif isinstance(step, CmdStep):
        view |= {
            "type": "cmd",
            "image": step.image,
            "args": list(step.args),
            "entrypoint": step.entrypoint,
            "env": dict(step.env),
            "workingDirectory": step.working_directory,
            "network": step.network,
            "detach": step.detach,
            "volumeMounts": [{"name": m.volume, "mountPath": m.path} for m in step.volume_mounts],
        }
    control = getattr(step, "control", None)
    if control is not None and (control.retries or control.repeat or control.start_delay):
        view["retries"] = control.retries
        view["repeat"] = control.repeat
        view["startDelay"] = control.start_delay
    notes = getattr(step, "notes", ())
    if notes:
        view["notes"] = list(notes)
    return view


def describe_plan(plan: Plan) -> dict[str, Any]:
    return {
        "steps": [_step(step) for step in plan.steps],
        "networks": [{"name": n.name, "create": n.create, "driver": n.driver} for n in plan.networks],
        "defaultNetwork": plan.default_network,
        "volumes": [{"name": v.name, "files": sorted(v.files)} for v in plan.volumes],
        "notes": list(plan.notes),
    }
