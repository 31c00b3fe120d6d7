"""Masking secret values in streamed run logs.

A run's output reaches the log in arbitrary chunks, so a secret can arrive split across two of them.
`StreamRedactor.feed` therefore holds back the end of each chunk when it could be the start of a
secret (at most `max(len(form)) - 1` bytes, usually none) and releases it with the next chunk, or at
`flush()` when the stream ends. The output is exactly what masking the whole stream at once would
give (`mask_bytes`), whatever the chunking.

What is masked. Every byte that lies inside any occurrence of any *form* of a secret; each maximal
run of such bytes becomes one `***`. Overlapping or adjacent secrets therefore leave no fragment
behind (`abcdef` with secrets `abcd` and `cdef` becomes `***`, not `***ef`). The forms of a value are:
- the value itself (UTF-8), whatever its length: like GitHub Actions, a registered value is always
  masked, because leaking a short password is worse than an over-masked log;
- its base64 encoding, and the part of its encoding that does not depend on the neighbouring bytes
  at each of the three byte alignments, so `base64("user:" + value)` (a Docker `config.json` auth)
  is caught too (GitHub masks the same shifted forms);
- its JSON-string (both `ensure_ascii` variants) and URL-percent-encoded forms when they differ
  from the value;
- each line of a multi-line value (a PEM key printed line by line, or with `\r\n` endings), as
  GitHub does, besides the whole value.
Derived forms shorter than `MIN_DERIVED_LENGTH` are skipped: a 2-character fragment of a base64
string or a `}` line would mask unrelated text everywhere while protecting nothing.

Limits: a secret containing `*` may be recreated by the mask next to its remaining bytes; secrets
that only appear in other encodings (hex, shell-quoted) are not masked.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

MASK = b"***"
MIN_DERIVED_LENGTH = 4


def secret_forms(value: str | bytes) -> frozenset[bytes]:
    """The byte strings that reveal `value` in a log: the value and its encodings (see module doc)."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not raw:
        return frozenset()
    derived: set[bytes] = set(_base64_forms(raw))
    if isinstance(value, str):
        derived.update(
            form.encode("utf-8")
            for form in (
                json.dumps(value, ensure_ascii=False)[1:-1],
                json.dumps(value, ensure_ascii=True)[1:-1],
                quote(value, safe=""),
            )
        )
    if b"\n" in raw:
        derived.update(line.strip() for line in raw.split(b"\n"))
    return frozenset({raw} | {form for form in derived if len(form) >= MIN_DERIVED_LENGTH})


def _base64_forms(raw: bytes) -> list[bytes]:
    forms = [base64.b64encode(raw)]
    for shift in range(3):
        # Characters that depend only on `raw` when it starts `shift` bytes into a 3-byte group.
        encoded = base64.b64encode(bytes(shift) + raw)
        first = -(-8 * shift // 6)
        last = (8 * (shift + len(raw))) // 6
        forms.append(encoded[first:last])
    return forms


@dataclass(frozen=True)
class MaskPatterns:
    """The forms to mask, computed once per set of secrets."""

    forms: tuple[bytes, ...]

    @classmethod
    def for_values(cls, values: Iterable[str | bytes]) -> MaskPatterns:
        forms: set[bytes] = set()
        for value in values:
            forms.update(secret_forms(value))
        return cls(tuple(sorted(forms, key=lambda form: (-len(form), form))))

    @property
    def longest(self) -> int:
        return max((len(form) for form in self.forms), default=0)


def mask_bytes(data: bytes, values: Iterable[str | bytes]) -> bytes:
    """`data` with every secret form masked at once; what a `StreamRedactor` produces for any chunking.

    Example: `mask_bytes(b"token=hunter2", ["hunter2"]) == b"token=***"`.
    """
    redactor = StreamRedactor(MaskPatterns.for_values(values))
    return redactor.feed(data) + redactor.flush()


def mask_text(text: str, values: Iterable[str | bytes]) -> str:
    """`text` with every secret form masked (for messages and single strings, not streams)."""
    return mask_bytes(text.encode("utf-8"), values).decode("utf-8", "replace")


class StreamRedactor:
    """Masks secrets in a byte stream fed in chunks, including secrets split across chunks.

    `feed`, `flush` and `add_values` take a lock, so several threads may call them; but the output
    order follows the call order, so a writer must feed its chunks in stream order (take a chunk and
    feed it under one lock). Call `flush()` once, when the stream ends, to release the held-back tail.
    """

    def __init__(self, patterns: MaskPatterns) -> None:
        self._forms = patterns.forms
        self._lock = threading.Lock()
        self._held = b""  # bytes not yet released: they may begin a secret
        self._held_covered_until = 0  # the first `n` held bytes are inside a secret seen earlier
        self._in_mask = False  # the last released byte was masked, so a continuing run adds no ***

    @classmethod
    def for_values(cls, values: Iterable[str | bytes]) -> StreamRedactor:
        return cls(MaskPatterns.for_values(values))

    def add_values(self, values: Iterable[str | bytes]) -> None:
        """Mask these values too, from the bytes not yet released on.

        For a log opened before its secrets are known: add them before any output that may contain them.
        """
        extra = MaskPatterns.for_values(values).forms
        with self._lock:
            merged = set(self._forms) | set(extra)
            self._forms = tuple(sorted(merged, key=lambda form: (-len(form), form)))

    @property
    def held_bytes(self) -> int:
        """How many bytes are held back waiting for the next chunk (at most the longest form - 1)."""
        return len(self._held)

    def feed(self, chunk: bytes) -> bytes:
        """The masked bytes that can be released now; the rest waits for more input or `flush()`."""
        with self._lock:
            if not self._forms:
                return chunk
            return self._advance(self._held + chunk, final=False)

    def flush(self) -> bytes:
        """Everything still held back, masked; the stream is over."""
        with self._lock:
            return self._advance(self._held, final=True)

    def _advance(self, buffer: bytes, *, final: bool) -> bytes:
        covered = self._coverage(buffer)
        release = len(buffer) if final else self._hold_point(buffer)
        output = self._render(buffer, covered, release)
        self._held = buffer[release:]
        # Remember the covered run that reaches into the held bytes (a match that began in released
        # bytes, or one carried over before); matches lying wholly inside them are found again next time.
        self._held_covered_until = max(
            (end - release for start, end in covered if start <= release < end),
            default=0,
        )
        return output

    def _coverage(self, buffer: bytes) -> list[tuple[int, int]]:
        """Merged [start, end) ranges of `buffer` inside some form (or carried over as covered)."""
        spans: list[tuple[int, int]] = []
        if self._held_covered_until:
            spans.append((0, self._held_covered_until))
        for form in self._forms:
            start = buffer.find(form)
            while start != -1:
                spans.append((start, start + len(form)))
                start = buffer.find(form, start + 1)
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return merged

    def _hold_point(self, buffer: bytes) -> int:
        """The earliest position whose remaining bytes are a proper prefix of some form."""
        hold = len(buffer)
        for form in self._forms:
            first = form[:1]
            position = buffer.find(first, max(0, len(buffer) - len(form) + 1))
            while position != -1 and position < hold:
                if form.startswith(buffer[position:]):
                    hold = position
                    break
                position = buffer.find(first, position + 1)
        return hold

    def _render(self, buffer: bytes, covered: list[tuple[int, int]], release: int) -> bytes:
        parts: list[bytes] = []
        position = 0
        for start, end in covered:
            if start >= release:
                break
            if start > position:
                parts.append(buffer[position:start])
                self._in_mask = False
            if not (self._in_mask and start == position):
                parts.append(MASK)
            self._in_mask = True
            position = min(end, release)
        if position < release:
            parts.append(buffer[position:release])
            self._in_mask = False
        return b"".join(parts)
