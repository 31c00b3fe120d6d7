"""Flat combining: callers that arrive while a batch is being processed are processed together next.

The events queue function runs several invocations at once. Processed side by side, each one lists
tasks, allocates run numbers (racing the others on the counter row) and writes its own transactions.
Combined, one caller at a time (the leader) processes everything waiting as one batch: shared work
is done once, transactions grow, and storage sees one steady stream of calls instead of bursts that
slow the webhook intake down. An idle system adds no delay: a lone caller processes its own items.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")

_MAX_BATCH = 200  # items per round, so one round's transactions and retries stay small


class BatchCombiner(Generic[T]):
    def __init__(self, process: Callable[[list[T]], object], *, max_batch: int = _MAX_BATCH) -> None:
        self._process = process
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[tuple[Sequence[T], Future[None]]] = []
        self._leading = False

    def submit(self, items: Sequence[T]) -> None:
        """Returns once `items` were processed (perhaps with others'); raises what their round raised."""
        done: Future[None] = Future()
        with self._lock:
            self._pending.append((items, done))
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        done.result()

    def _take(self) -> list[tuple[Sequence[T], Future[None]]]:
        round_: list[tuple[Sequence[T], Future[None]]] = []
        count = 0
        while self._pending and (not round_ or count + len(self._pending[0][0]) <= self._max_batch):
            entry = self._pending.pop(0)
            round_.append(entry)
            count += len(entry[0])
        return round_

    def _lead(self) -> None:
        while True:
            with self._lock:
                round_ = self._take()
                if not round_:
                    self._leading = False
                    return
            error = self._run(round_)
            if error is not None and len(round_) > 1:
                # One caller's bad items must not fail the others (their messages would be retried
                # with it until all of them reached the poison queue): go again caller by caller.
                for entry in round_:
                    self._finish([entry], self._run([entry]))
            else:
                self._finish(round_, error)

    def _run(self, round_: list[tuple[Sequence[T], Future[None]]]) -> BaseException | None:
        try:
            self._process([item for items, _ in round_ for item in items])
        except BaseException as error:  # handed to the callers: each must hear of it, or it waits forever
            return error
        return None

    @staticmethod
    def _finish(round_: list[tuple[Sequence[T], Future[None]]], error: BaseException | None) -> None:
        for _, done in round_:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
