import threading

import pytest

from core.combining import BatchCombiner


class GatedProcessor:
    """Records each round; the first round blocks until released, so later callers pile up."""

    def __init__(self) -> None:
        self.rounds: list[list[int]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> None:
        self.rounds.append(items)
        if len(self.rounds) == 1:
            self.started.set()
            assert self.release.wait(5)


def test_callers_arriving_during_a_round_are_processed_together_in_the_next() -> None:
    processor = GatedProcessor()
    combiner = BatchCombiner(processor)
    first = threading.Thread(target=combiner.submit, args=([0],))
    first.start()
    assert processor.started.wait(5)
    others = [threading.Thread(target=combiner.submit, args=([i, i + 100],)) for i in range(1, 6)]
    for thread in others:
        thread.start()
    while len(combiner._pending) < 5:
        threading.Event().wait(0.001)
    processor.release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert processor.rounds[0] == [0]
    assert len(processor.rounds) == 2
    assert sorted(processor.rounds[1]) == sorted(n for i in range(1, 6) for n in (i, i + 100))


def test_a_failed_round_fails_every_caller_in_it_and_the_next_caller_leads_again() -> None:
    calls: list[list[str]] = []

    def process(items: list[str]) -> None:
        calls.append(items)
        if "bad" in items:
            raise RuntimeError("storage down")

    combiner = BatchCombiner(process)
    with pytest.raises(RuntimeError, match="storage down"):
        combiner.submit(["bad"])
    combiner.submit(["good"])
    assert calls == [["bad"], ["good"]]


def test_rounds_are_capped_but_a_large_submission_still_goes_through_whole() -> None:
    processor = GatedProcessor()
    combiner = BatchCombiner(processor, max_batch=3)
    first = threading.Thread(target=combiner.submit, args=([0],))
    first.start()
    assert processor.started.wait(5)
    big = threading.Thread(target=combiner.submit, args=([1, 2, 3, 4],))
    small = [threading.Thread(target=combiner.submit, args=([n],)) for n in (5, 6)]
    big.start()
    while len(combiner._pending) < 1:
        threading.Event().wait(0.001)
    for thread in small:
        thread.start()
    while len(combiner._pending) < 3:
        threading.Event().wait(0.001)
    processor.release.set()
    for thread in [first, big, *small]:
        thread.join(5)
    assert processor.rounds == [[0], [1, 2, 3, 4], [5, 6]]


def test_a_failing_round_is_retried_caller_by_caller_so_only_the_bad_caller_fails() -> None:
    processor = GatedProcessor()
    rounds: list[list[str]] = []

    def process(items: list[str]) -> None:
        processor(items)  # the first round blocks until released
        rounds.append(items)
        if "bad" in items:
            raise RuntimeError("cannot decide 'bad'")

    combiner = BatchCombiner(process)
    outcomes: dict[str, str] = {}

    def submit(item: str) -> None:
        try:
            combiner.submit([item])
            outcomes[item] = "ok"
        except RuntimeError:
            outcomes[item] = "failed"

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    assert processor.started.wait(5)
    others = [threading.Thread(target=submit, args=(item,)) for item in ("good", "bad", "also-good")]
    for thread in others:
        thread.start()
    while len(combiner._pending) < 3:
        threading.Event().wait(0.001)
    processor.release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert outcomes == {"first": "ok", "good": "ok", "bad": "failed", "also-good": "ok"}
    assert rounds[1] == ["good", "bad", "also-good"]  # together first, then each alone
    assert sorted(map(tuple, rounds[2:])) == [("also-good",), ("bad",), ("good",)]
