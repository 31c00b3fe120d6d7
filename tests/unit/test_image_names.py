import pytest

from core.errors import InvalidRequest
from core.image_names import parse_image_name, qualify_image_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hello", "reg.example.com/hello:latest"),
        ("hello:v1", "reg.example.com/hello:v1"),
        ("team/hello:v1", "reg.example.com/team/hello:v1"),
        ("library/hello:v1", "reg.example.com/library/hello:v1"),
        ("127.0.0.1:5000/hello:ca1", "127.0.0.1:5000/hello:ca1"),
        ("localhost/a/b:c", "localhost/a/b:c"),
        ("other.azurecr.io/x", "other.azurecr.io/x:latest"),
    ],
)
def test_tags_without_a_registry_get_the_configured_one(name: str, expected: str) -> None:
    assert qualify_image_name(name, "reg.example.com", where="imageNames[0]").reference == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("Hello:v1", "repository 'Hello'"),
        ("hello:-bad", "tag '-bad'"),
        ("hello@sha256:" + "a" * 64, "digest reference"),
        ("a//b", "repository"),
    ],
)
def test_invalid_tags_are_refused_naming_the_field_and_the_rule(name: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        qualify_image_name(name, "reg.example.com", where="imageNames[2]")
    assert caught.value.target == "imageNames[2]"


def test_parsing_splits_registry_repository_and_tag() -> None:
    name = parse_image_name("127.0.0.1:5000/team/app:ca1", where="x")
    assert (name.registry, name.repository, name.tag) == ("127.0.0.1:5000", "team/app", "ca1")
