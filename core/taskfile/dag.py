"""`when` to dependencies, as acb's `graph/dag.go` builds its DAG.

Steps are added in file order, so a step may wait only for steps above it (which also rules out
cycles). No `when` means "after the step just above" (not after every step above); `when: ["-"]`
means "at once"; `when: [a, b]` means "after a and b".
"""

from __future__ import annotations

from collections.abc import Sequence

from core.taskfile.model import IMMEDIATE, ROOT_STEP_ID
from core.taskfile.parse import Reader, suggest
from core.taskfile.positions import quote
from core.taskfile.steps import ReadStep

_EARLIER_ONLY = "steps can only wait for earlier steps"


def resolve_dependencies(
    reader: Reader, steps: Sequence[ReadStep], ids: Sequence[str], warnings: list[str]
) -> list[tuple[str, ...]]:
    """For each step (whose final ids are `ids`), the ids of the steps it waits for."""
    line_of = {step_id: step.spec.line for step_id, step in zip(ids, steps, strict=True)}
    resolved: list[tuple[str, ...]] = []
    for index, (step, step_id) in enumerate(zip(steps, ids, strict=True)):
        target = f"steps[{index}].when"
        earlier = ids[:index]
        if not step.when:
            resolved.append((earlier[-1],) if earlier else ())
            continue
        names = [name for name, _ in step.when]
        waits: list[str] = []
        for name, node in step.when:
            if name == IMMEDIATE:
                if len(names) > 1:
                    raise reader.error(
                        node,
                        f'step {quote(step_id)}: "-" (start at once) must be the only entry of when; '
                        f"remove it or the other entries",
                        target=target,
                    )
                continue
            if not name:
                raise reader.error(node, f"step {quote(step_id)}: when lists an empty step id", target=target)
            if name == step_id:
                raise reader.error(node, f"step {quote(step_id)} waits for itself; {_EARLIER_ONLY}", target=target)
            if name == ROOT_STEP_ID:
                continue  # acb's virtual root: waiting for it is waiting for nothing
            if name not in earlier:
                if name in line_of:
                    problem = f"which is defined below it (line {line_of[name]})"
                else:
                    guess = suggest(name, earlier)
                    problem = "which is not defined above it" + (f" (did you mean {quote(guess)}?)" if guess else "")
                raise reader.error(
                    node, f"step {quote(step_id)} waits for {quote(name)}, {problem}; {_EARLIER_ONLY}", target=target
                )
            if name in waits:
                warnings.append(f"{target}: step {quote(step_id)} lists {quote(name)} twice; it waits for it once")
                continue
            waits.append(name)
        resolved.append(tuple(waits))
    return resolved
