"""Run IDs in ACR's style: a short prefix and a base-36 counter (`ca1`, `ca2`, … `caz`, `ca10`).

The counter lives in storage (see `RunStore.allocate_numbers`); this module only converts between
numbers, IDs and the sortable keys under which runs are stored.
"""

from __future__ import annotations

import re

from core.errors import InvalidRequest, RunNotFound

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_PREFIX = re.compile(r"^[a-z]{1,4}$")
# Row keys sort ascending in Table storage; subtracting from a ceiling lists newest runs first.
_KEY_CEILING = 10**15
_KEY_WIDTH = 15


def validate_prefix(prefix: str) -> str:
    """Return the prefix if it is 1-4 lowercase letters, else raise."""
    if not _PREFIX.match(prefix):
        raise InvalidRequest(
            f"run ID prefix {prefix!r} is invalid; use 1 to 4 lowercase letters such as 'ca'",
            target="SLIPWAY_RUN_ID_PREFIX",
        )
    return prefix


def to_base36(number: int) -> str:
    if number < 0:
        raise ValueError("run numbers are positive")
    if number == 0:
        return "0"
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 36)
        digits.append(_DIGITS[remainder])
    return "".join(reversed(digits))


def format_run_id(prefix: str, number: int) -> str:
    """`format_run_id("ca", 71)` → `"ca1z"`."""
    if number < 1:
        raise ValueError("run numbers start at 1")
    return prefix + to_base36(number)


def parse_run_id(prefix: str, run_id: str) -> int:
    """The counter value behind a run ID; `RunNotFound` when it cannot be one of ours."""
    body = run_id[len(prefix) :] if run_id.startswith(prefix) else ""
    if not body or not all(ch in _DIGITS for ch in body) or body.startswith("0"):
        raise RunNotFound(
            f"run {run_id!r} does not exist; run IDs look like '{prefix}1', '{prefix}2a' "
            "(see `slipway task list-runs`)",
            target="runId",
        )
    return int(body, 36)


def sortable_key(number: int) -> str:
    """A row key that sorts newest (largest number) first."""
    if not 0 < number < _KEY_CEILING:
        raise ValueError("run number out of range")
    return f"{_KEY_CEILING - number:0{_KEY_WIDTH}d}"


def number_from_key(key: str) -> int:
    return _KEY_CEILING - int(key)
