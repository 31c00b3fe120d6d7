"""`.Values` is a values file with `--set` pairs merged over it, as acb's `templating/values.go` and
`base_render_options.go: parseValues` do it."""

from __future__ import annotations

import datetime

import pytest

from core.errors import InvalidTaskFile
from core.taskfile import load_values_file, merge_values, parse_set_values
from core.taskfile.values import MergedValues

CURIE = """born: 1867
first: Marie
last: Curie
research: radioactivity
from: Poland

awards:
  - id: Nobel Prize in Physics

  - id: Davy Medal

  - id: Albert Medal
"""  # acb templating/testdata/curie/values.yaml


def test_a_values_file_is_read_as_yaml() -> None:
    values = load_values_file(CURIE, file_name="values.yaml")

    assert values == {
        "born": 1867,
        "first": "Marie",
        "last": "Curie",
        "research": "radioactivity",
        "from": "Poland",
        "awards": [{"id": "Nobel Prize in Physics"}, {"id": "Davy Medal"}, {"id": "Albert Medal"}],
    }


def test_nested_values_and_lists_are_kept() -> None:
    values = load_values_file(
        "# TestDeserialize\ntitle: A grocery list\nfruits: [banana, apple, pear]\nfruit:\n  fruit:\n"
        "    nested: star\n    fruit: nested\n",
        file_name="fruits.yaml",
    )  # acb TestDeserialize

    assert values["title"] == "A grocery list"
    assert len(values["fruits"]) == 3
    assert values["fruit"]["fruit"]["nested"] == "star"


def test_keys_keep_their_text_and_dates_stay_strings() -> None:
    values = load_values_file("1: one\ntrue: yes\nwhen: 2024-01-02\n", file_name="values.yaml")

    assert values == {"1": "one", "true": True, "when": "2024-01-02"}
    assert not isinstance(values["when"], datetime.date)


def test_an_empty_values_file_is_an_empty_mapping() -> None:
    assert load_values_file("", file_name="values.yaml") == {}
    assert load_values_file("# only a comment\n", file_name="values.yaml") == {}


def test_a_key_given_twice_in_a_values_file_is_an_error() -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        load_values_file("a: 1\na: 2\n", file_name="values.yaml")

    assert caught.value.message.startswith("values.yaml:2:1: values: 'a' is given twice (first on line 1)")


def test_set_values_override_the_values_file() -> None:
    merged = merge_values({"registry": "a.io", "tag": "v1"}, [("tag", "v2"), ("extra", "x")])

    assert merged == MergedValues({"registry": "a.io", "tag": "v2", "extra": "x"})


def test_set_keys_are_flat_so_a_dotted_key_is_a_key_with_a_dot() -> None:
    merged = merge_values({"a": {"b": "file"}}, [("a.b", "set")])

    assert merged.values == {"a": {"b": "file"}, "a.b": "set"}


def test_the_last_set_pair_for_a_key_wins() -> None:
    assert merge_values(None, [("k", "1"), ("k", "2")]).values == {"k": "2"}


def test_a_set_value_that_replaces_a_map_is_reported() -> None:
    merged = merge_values({"image": {"repo": "a", "tag": "b"}}, [("image", "c")])

    assert merged.values == {"image": "c"}  # what acb's merge does at the top level
    assert merged.warnings == (
        "value 'image': --set replaces the map from the values file with a string; templates that read "
        "image.<name> get nothing",
    )


def test_merging_does_not_change_the_callers_values() -> None:
    file_values = {"nested": {"a": 1}}

    merged = merge_values(file_values, [])
    merged.values["nested"]["a"] = 2

    assert file_values == {"nested": {"a": 1}}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["a=b"], [("a", "b")]),
        (["a=b=c"], [("a", "b=c")]),
        (["a="], [("a", "")]),
        (["a.b.c=d"], [("a.b.c", "d")]),
    ],
)
def test_set_arguments_split_at_the_first_equals_sign(items: list[str], expected: list[tuple[str, str]]) -> None:
    assert parse_set_values(items) == expected


@pytest.mark.parametrize(("item", "problem"), [("novalue", "there is no '='"), ("=v", "the key is empty")])
def test_set_arguments_need_a_key_and_an_equals_sign(item: str, problem: str) -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        parse_set_values([item])

    assert problem in caught.value.message
    assert caught.value.target == "--set"


def test_a_null_override_deletes_the_key() -> None:
    assert merge_values({"a": 1, "b": 2}, [("a", None)]).values == {"b": 2}


def test_nested_maps_are_merged_key_by_key() -> None:
    merged = merge_values({"image": {"repo": "a", "tag": "v1", "drop": 1}}, [("image", {"tag": "v2", "drop": None})])

    assert merged.values == {"image": {"repo": "a", "tag": "v2"}}


def test_a_nested_map_is_never_replaced_by_a_scalar() -> None:
    merged = merge_values({"image": {"build": {"args": "x"}}}, [("image", {"build": "flat"})])

    assert merged.values == {"image": {"build": {"args": "x"}}}
    assert merged.warnings == ("value 'image.build': a map is never replaced by a scalar; kept the map",)


def test_a_null_override_of_a_key_the_file_lacks_leaves_no_key() -> None:
    assert merge_values({"b": None}, [("a", None)]).values == {"b": None}


def test_a_later_value_for_a_key_beats_an_earlier_null() -> None:
    assert merge_values(None, [("a", None), ("a", "x")]).values == {"a": "x"}
