import pytest

from core.build_args import BuildArgsError, parse_build_args


def test_a_typical_acr_build_step_resolves_against_the_working_directory() -> None:
    parsed = parse_build_args(
        "-t reg:5000/app:ca1 -t reg:5000/app:latest -f docker/app.Dockerfile --build-arg V=1 --target final .",
        working_directory="/workspace/src",
    )
    assert parsed.context == "/workspace/src"
    assert parsed.dockerfile == "docker/app.Dockerfile"
    assert parsed.tags == ("reg:5000/app:ca1", "reg:5000/app:latest")
    assert parsed.build_args == {"V": "1"}
    assert parsed.target == "final"


def test_options_may_be_written_with_equals_and_flags_are_recognised() -> None:
    parsed = parse_build_args("--tag=a/b:c --file=sub/Dockerfile --no-cache --pull --platform=linux/arm64 sub")
    assert (parsed.context, parsed.dockerfile, parsed.tags) == ("/workspace/sub", "Dockerfile", ("a/b:c",))
    assert parsed.no_cache and parsed.pull and parsed.platform == "linux/arm64"


def test_a_bare_build_arg_takes_its_value_from_the_step_env() -> None:
    assert parse_build_args("--build-arg TOKEN .", env={"TOKEN": "x"}).build_args == {"TOKEN": "x"}
    with pytest.raises(BuildArgsError, match="step's env does not set TOKEN"):
        parse_build_args("--build-arg TOKEN .")


def test_options_without_effect_are_accepted_and_reported() -> None:
    parsed = parse_build_args("--rm --network host --cache-from x:1 .")
    assert parsed.ignored == ("--rm", "--network host", "--cache-from x:1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-t x", "found none"),
        ("a b", "found 'a', 'b'"),
        ("../..", "outside /workspace"),
        ("-f ../../etc/Dockerfile .", "outside /workspace"),
        ("-f Dockerfile sub", "outside the build context"),
        ("--squash .", "'--squash' is not supported"),
        ("-t", "needs a value"),
        ("https://github.com/a/b.git", "remote build contexts"),
        ("'unterminated .", "cannot split"),
        ("-", "stdin"),
    ],
)
def test_bad_build_arguments_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(BuildArgsError, match=message):
        parse_build_args(text)
