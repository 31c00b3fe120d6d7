"""The task-file front end: ACR's `acb.yaml` text in, a checked, typed `TaskFile` out (no execution).

It follows `acb exec` (Azure/acr-builder) step by step: aliases for v1.1.0 files (`aliases`),
Go-template rendering with `.Run`, `.Values` and two-pass `.Secrets` (`render`, `secrets`),
YAML parsing with positions (`parse`, `positions`), property checks and acb's defaults (`steps`,
`build`), and `when` resolution (`dag`). Values files and `--set` overrides are merged by `values`.
Every error is an `InvalidTaskFile` whose message starts with `file:line:column:` in the file the
user wrote, says what is wrong and what is allowed, and never contains a resolved secret.
"""

from core.taskfile.loader import load_task_file
from core.taskfile.model import (
    NetworkSpec,
    SecretSpec,
    StepKind,
    StepSpec,
    TaskFile,
    VolumeMount,
    VolumeSpec,
)
from core.taskfile.secrets import InMemorySecretResolver, SecretResolver
from core.taskfile.values import MergedValues, load_values_file, merge_values, parse_set_values

__all__ = [
    "InMemorySecretResolver",
    "MergedValues",
    "NetworkSpec",
    "SecretResolver",
    "SecretSpec",
    "StepKind",
    "StepSpec",
    "TaskFile",
    "VolumeMount",
    "VolumeSpec",
    "load_task_file",
    "load_values_file",
    "merge_values",
    "parse_set_values",
]
