import pytest

from core.errors import InvalidRequest, RunNotFound
from core.run_ids import format_run_id, number_from_key, parse_run_id, sortable_key, to_base36, validate_prefix


@pytest.mark.parametrize(
    ("number", "run_id"),
    [(1, "ca1"), (9, "ca9"), (10, "caa"), (35, "caz"), (36, "ca10"), (71, "ca1z"), (1296, "ca100")],
)
def test_run_ids_are_the_prefix_and_a_base36_counter(number: int, run_id: str) -> None:
    assert format_run_id("ca", number) == run_id
    assert parse_run_id("ca", run_id) == number


@pytest.mark.parametrize("bad", ["", "ca", "cb1", "ca0", "ca01", "CA1", "ca-1", "ca1 ", "xx"])
def test_strings_that_cannot_be_run_ids_are_not_found(bad: str) -> None:
    with pytest.raises(RunNotFound, match="does not exist"):
        parse_run_id("ca", bad)


def test_row_keys_sort_newest_first_across_digit_lengths() -> None:
    numbers = [1, 9, 10, 35, 36, 1295, 1296, 99999]
    keys = [sortable_key(n) for n in numbers]
    assert sorted(keys) == [sortable_key(n) for n in sorted(numbers, reverse=True)]
    assert [number_from_key(k) for k in keys] == numbers


def test_base36_of_zero_is_zero_and_negative_numbers_are_refused() -> None:
    assert to_base36(0) == "0"
    with pytest.raises(ValueError, match="positive"):
        to_base36(-1)


@pytest.mark.parametrize("prefix", ["", "CA", "c1", "abcde", "c-"])
def test_invalid_prefixes_are_refused_with_the_setting_named(prefix: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_prefix(prefix)
    assert caught.value.target == "SLIPWAY_RUN_ID_PREFIX"
