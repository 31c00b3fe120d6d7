"""An in-memory `ContainerEngine` for unit and functional tests.

Behaviour is scripted per image tag or reference: a build can print lines, fail, or block until
canceled; a push can fail a number of times before succeeding. It records every call so tests can
compare what happened with what they expected.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from core.engine import BuildOptions, Cancellation, OperationCanceled, OutputSink, RegistryAuth, StepFailed


@dataclass
class BuildScript:
    output: tuple[str, ...] = ("Step 1/1 : FROM scratch\n",)
    error: str | None = None
    block_until_canceled: bool = False


@dataclass
class PushScript:
    failures: int = 0
    error: str = "dial tcp: connection refused"


@dataclass
class FakeEngine:
    builds: dict[str, BuildScript] = field(default_factory=dict)
    pushes: dict[str, PushScript] = field(default_factory=dict)
    digests: dict[str, tuple[str, ...]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    context_bytes: list[int] = field(default_factory=list)
    removed_labels: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, kind: str, subject: str) -> None:
        with self._lock:
            self.calls.append((kind, subject))

    def build(
        self,
        context: BinaryIO | Iterable[bytes],
        options: BuildOptions,
        *,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        key = options.tags[0] if options.tags else ""
        self._record("build", key)
        data = context.read() if hasattr(context, "read") else b"".join(context)
        self.context_bytes.append(len(data))
        script = self.builds.get(key, BuildScript())
        for line in script.output:
            on_output(line)
        if script.block_until_canceled:
            cancellation.wait()
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        if script.error:
            raise StepFailed(script.error)
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    def push(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        self._record("push", reference)
        script = self.pushes.setdefault(reference, PushScript())
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        if script.failures > 0:
            script.failures -= 1
            raise StepFailed(script.error)
        on_output(f"{reference.rpartition(':')[2]}: digest: sha256:{'0' * 64} size: 527\n")
        return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()

    def repo_digests(self, reference: str) -> tuple[str, ...]:
        return self.digests.get(reference, ())

    def remove_labeled(self, labels: Mapping[str, str]) -> int:
        self.removed_labels.append(dict(labels))
        return 0
