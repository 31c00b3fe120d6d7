"""Load `function_app.py` the way the Python worker indexes it, and describe each function.

The worker imports the script, requires exactly one top-level `FunctionRegister` (a `FunctionApp`,
`AsgiFunctionApp` or `WsgiFunctionApp`) and calls `get_functions()` once. Each function's bindings
are read from their JSON form (`get_raw_bindings()`), which is what the real host receives, so the
host knows nothing about the app beyond that metadata.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

from slipway_host.config import HostConfigError, resolve_setting_expressions

log = logging.getLogger("slipway_host")

HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
QUEUE_TRIGGER = "queueTrigger"
SUPPORTED_TRIGGERS = frozenset({HTTP_TRIGGER, TIMER_TRIGGER, QUEUE_TRIGGER})
SUPPORTED_OUTPUTS = frozenset({"http", "queue"})
_UNRESOLVED_FIELDS = frozenset({"type", "name", "direction"})


class ArgumentKind(Enum):
    TRIGGER = "trigger"
    CONTEXT = "context"
    OUTPUT = "output"


@dataclass(frozen=True)
class Argument:
    """Where one parameter of the user function gets its value from."""

    parameter: str
    kind: ArgumentKind
    annotation: Any = None


@dataclass(frozen=True)
class FunctionDefinition:
    """One indexed function: its name, callable, bindings (binding-JSON dicts) and argument plan."""

    name: str
    func: Callable[..., Any]
    is_async: bool
    trigger: Mapping[str, Any]
    outputs: tuple[Mapping[str, Any], ...]
    arguments: tuple[Argument, ...]
    http_type: str = "function"

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])


@dataclass(frozen=True)
class LoadedApp:
    functions: tuple[FunctionDefinition, ...]
    skipped: tuple[str, ...]


def import_script(app_dir: Path, script_file: str = "function_app.py", module_name: str | None = None) -> ModuleType:
    """Import the app script with the app directory first on `sys.path`, as the worker does."""
    path = app_dir / script_file
    if not path.is_file():
        raise HostConfigError(f"{script_file} not found in {app_dir}")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    name = module_name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HostConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def find_function_register(module: ModuleType) -> func.FunctionRegister:
    """The one top-level `FunctionRegister` instance in the module."""
    found: dict[int, tuple[str, func.FunctionRegister]] = {}
    for attribute, value in vars(module).items():
        if isinstance(value, func.FunctionRegister):
            found.setdefault(id(value), (attribute, value))
    script = Path(getattr(module, "__file__", None) or "function_app.py").name
    if not found:
        raise HostConfigError(
            f"{script} defines no FunctionApp; create one at module level, e.g. app = func.FunctionApp()"
        )
    if len(found) > 1:
        names = ", ".join(sorted(name for name, _ in found.values()))
        raise HostConfigError(
            f"{script} defines more than one top-level function app ({names}); define exactly one "
            f"and register the others' functions as Blueprints"
        )
    return next(iter(found.values()))[1]


def load_functions(app: func.FunctionRegister, settings: Mapping[str, str]) -> LoadedApp:
    """Index the app (calls `app.get_functions()`, which works once per app instance)."""
    loaded: list[FunctionDefinition] = []
    skipped: list[str] = []
    for function in app.get_functions():
        name = str(function.get_function_name())
        if settings.get(f"AzureWebJobs.{name}.Disabled", "").lower() in ("true", "1"):
            log.info("Function '%s' is disabled by app setting AzureWebJobs.%s.Disabled", name, name)
            skipped.append(name)
            continue
        try:
            loaded.append(describe_function(function, settings))
        except HostConfigError as error:
            log.warning("Skipping function '%s': %s", name, error)
            skipped.append(name)
    return LoadedApp(functions=tuple(loaded), skipped=tuple(skipped))


def describe_function(function: Any, settings: Mapping[str, str]) -> FunctionDefinition:
    """Turn one `azure.functions` Function into a `FunctionDefinition`, or raise `HostConfigError`."""
    name = str(function.get_function_name())
    bindings = [
        _resolve_binding(json.loads(raw), settings, where=f"function '{name}'") for raw in function.get_raw_bindings()
    ]
    trigger_object = function.get_trigger()
    trigger = next(b for b in bindings if b.get("name") == trigger_object.name and _is_trigger(b))
    if trigger["type"] not in SUPPORTED_TRIGGERS:
        raise HostConfigError(
            f"trigger type '{trigger['type']}' is not supported by this host "
            f"(supported: {', '.join(sorted(SUPPORTED_TRIGGERS))})"
        )
    others: list[Mapping[str, Any]] = [b for b in bindings if b is not trigger]
    unsupported = [b for b in others if b.get("direction") != "OUT" or b.get("type") not in SUPPORTED_OUTPUTS]
    if unsupported:
        kinds = ", ".join(f"{b.get('type')} ({b.get('direction')})" for b in unsupported)
        raise HostConfigError(f"binding {kinds} is not supported by this host (supported outputs: http, queue)")
    user_function = function.get_user_function()
    return FunctionDefinition(
        name=name,
        func=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        trigger=trigger,
        outputs=tuple(others),
        arguments=plan_arguments(user_function, trigger, others),
        http_type=str(getattr(function, "http_type", "function")),
    )


def plan_arguments(
    user_function: Callable[..., Any], trigger: Mapping[str, Any], outputs: list[Mapping[str, Any]]
) -> tuple[Argument, ...]:
    """Match parameters to bindings by name, as the Python worker does (`context` gets the Context)."""
    output_names = {str(b["name"]) for b in outputs}
    plan: list[Argument] = []
    for parameter in _signature(user_function).parameters.values():
        annotation = parameter.annotation
        if parameter.name == trigger["name"]:
            plan.append(Argument(parameter.name, ArgumentKind.TRIGGER, annotation))
        elif parameter.name in output_names:
            plan.append(Argument(parameter.name, ArgumentKind.OUTPUT, annotation))
        elif parameter.name == "context" or annotation is func.Context:
            plan.append(Argument(parameter.name, ArgumentKind.CONTEXT, annotation))
        elif parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            raise HostConfigError(f"parameter '{parameter.name}' matches no binding name")
    return tuple(plan)


def _signature(user_function: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(user_function, eval_str=True)
    except Exception:  # annotations naming types the worker would not resolve either
        return inspect.signature(user_function)


def _is_trigger(binding: Mapping[str, Any]) -> bool:
    return str(binding.get("type", "")).endswith("Trigger")


def _resolve_binding(binding: dict[str, Any], settings: Mapping[str, str], *, where: str) -> dict[str, Any]:
    return {
        key: resolve_setting_expressions(value, settings, where=f"{where}, binding '{binding.get('name')}'")
        if isinstance(value, str) and key not in _UNRESOLVED_FIELDS
        else value
        for key, value in binding.items()
    }
