import pytest

from core.errors import InvalidRequest
from core.plan import BuildStep, PushStep
from core.quick_build import parse_quick_build_request, plan_quick_build, render_image_names, request_from_document

SOURCE = "0123456789abcdef0123456789abcdef.tar.gz"


def body(**extra):
    return {"type": "DockerBuildRequest", "sourceLocation": SOURCE, **extra}


def test_defaults_follow_az_acr_build() -> None:
    request = parse_quick_build_request(body(), default_timeout=3600)
    assert (request.dockerfile, request.push, request.platform, request.timeout, request.image_names) == (
        "Dockerfile",
        True,
        "linux/amd64",
        3600,
        (),
    )


@pytest.mark.parametrize(
    ("extra", "target"),
    [
        ({"sourceLocation": "../etc/passwd"}, "sourceLocation"),
        ({"dockerFilePath": "/etc/Dockerfile"}, "dockerFilePath"),
        ({"dockerFilePath": "../Dockerfile"}, "dockerFilePath"),
        ({"imageNames": "hello"}, "imageNames"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 28801}, "timeout"),
        ({"timeout": "60"}, "timeout"),
        ({"platform": "plan9/amd64"}, "platform"),
        ({"isPushEnabled": "yes"}, "isPushEnabled"),
        ({"arguments": [{"name": "1BAD", "value": "x"}]}, "arguments[0]"),
        ({"sourceSha256": "abc"}, "sourceSha256"),
        ({"type": "FileTaskRunRequest"}, "type"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(extra, target) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_quick_build_request(body(**extra), default_timeout=3600)
    assert caught.value.target == target


def test_platform_accepts_acr_objects_and_short_forms() -> None:
    assert parse_quick_build_request(body(platform="linux"), default_timeout=1).platform == "linux/amd64"
    parsed = parse_quick_build_request(
        body(platform={"os": "Linux", "architecture": "arm", "variant": "v7"}), default_timeout=1
    )
    assert parsed.platform == "linux/arm/v7"


def test_run_values_render_in_tags_and_duplicates_collapse() -> None:
    request = parse_quick_build_request(
        body(imageNames=["app:{{.Run.ID}}", "app:{{ .Run.ID }}", "app:latest"]), default_timeout=60
    )
    names = render_image_names(request, {"ID": "ca7", "Registry": "r:5000"}, registry="r:5000")
    assert [n.reference for n in names] == ["r:5000/app:ca7", "r:5000/app:latest"]


def test_a_quick_build_plans_a_build_then_a_push_of_every_tag() -> None:
    request = parse_quick_build_request(body(imageNames=["a:1", "b:2"], target="final"), default_timeout=60)
    plan = plan_quick_build(request, render_image_names(request, {}, registry="r:5000"))
    build, push = plan.steps
    assert isinstance(build, BuildStep) and isinstance(push, PushStep)
    assert build.options.tags == ("r:5000/a:1", "r:5000/b:2")
    assert build.options.target == "final"
    assert push.images == build.options.tags
    assert push.depends_on == ("build",)


def test_no_push_plans_only_the_build() -> None:
    request = parse_quick_build_request(body(imageNames=["a:1"], isPushEnabled=False), default_timeout=60)
    plan = plan_quick_build(request, render_image_names(request, {}, registry="r:5000"))
    assert [s.id for s in plan.steps] == ["build"]


def test_secret_build_arguments_are_kept_apart_and_sealed_when_stored() -> None:
    request = parse_quick_build_request(
        body(arguments=[{"name": "A", "value": "1"}, {"name": "TOKEN", "value": "s3cret", "isSecret": True}]),
        default_timeout=60,
    )
    assert (request.build_args, request.secret_build_args) == ({"A": "1"}, {"TOKEN": "s3cret"})
    assert "s3cret" not in repr(request)
    with pytest.raises(InvalidRequest, match="SLIPWAY_DATA_KEY"):
        request.to_document(None)
    stored = request.to_document(lambda name, value: f"sealed({name})")
    assert stored["arguments"][1] == {"name": "TOKEN", "value": "sealed(TOKEN)", "isSecret": True}
    reopened = request_from_document(stored, lambda name, token: "s3cret")
    assert reopened.secret_build_args == {"TOKEN": "s3cret"}
    plan = plan_quick_build(reopened, render_image_names(reopened, {}, registry="r:5000"))
    assert plan.steps[0].options.build_args == {"A": "1", "TOKEN": "s3cret"}
