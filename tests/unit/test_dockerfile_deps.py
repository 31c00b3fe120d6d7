"""The Dockerfile dependency scan and ACR's dependency report."""

from __future__ import annotations

import json

import pytest

from core.dockerfile_deps import (
    DockerfileDependencies,
    ImageReference,
    parse_image_reference,
    render_dependency_report,
    scan_dependencies,
)
from core.errors import InvalidDockerfile, InvalidRequest

DIGEST = "sha256:" + "ab" * 32


def refs(deps: DockerfileDependencies) -> tuple[str | None, list[str]]:
    runtime = deps.runtime.reference if deps.runtime is not None else None
    return runtime, [b.reference for b in deps.buildtime]


# Azure/acr-builder scan/dependencies_test.go, TestResolveDockerfileDependencies
ACR_MULTI_STAGE = """# This dockerfile is just a test resource and is not buildable
ARG runtime_version="2.0.6"
FROM microsoft/aspnetcore:${runtime_version} AS base
WORKDIR /app
EXPOSE 80

FROM base AS secondary
RUN nothing

ARG build_image
ARG build_version=2.0
FROM microsoft/$build_image:$build_version AS builder
WORKDIR /src
COPY *.sln ./
COPY Web/Web.csproj Web/
RUN dotnet restore
COPY . .
WORKDIR /src/Web
RUN dotnet build -c Release -o /app

FROM builder AS publish
RUN dotnet publish -c Release -o /app

FROM imaginary/cert-generator:1.0
RUN generate-cert.sh

FROM secondary AS production
WORKDIR /app
COPY --from=publish /app .
COPY --from=3 /cert /app
ENTRYPOINT ["dotnet", "Web.dll"]"""


def test_runtime_and_buildtime_dependencies_match_acr_builder() -> None:
    deps = scan_dependencies(ACR_MULTI_STAGE, build_args={"build_image": "aspnetcore-build", "build_version": "2.0.6"})
    assert refs(deps) == (
        "microsoft/aspnetcore:2.0.6",
        ["microsoft/aspnetcore-build:2.0.6", "imaginary/cert-generator:1.0"],
    )


def test_a_utf8_bom_is_ignored_and_scratch_is_no_dependency() -> None:
    # Azure/acr-builder scan/dependencies_test.go, TestResolveDockerfileDependencies_WithBOM
    dockerfile = (
        "FROM golang:1.10-alpine AS gobuild-base\nRUN apk add --no-cache \\\n\tgit \\\n\tmake\n\n"
        "FROM gobuild-base AS base\nWORKDIR /go/src/github.com/scratch/scratch\nCOPY . .\n"
        "RUN make static && mv scratch /usr/bin/scratch\n\n"
        'FROM scratch\nCOPY --from=base /usr/bin/scratch /usr/bin/scratch\nENTRYPOINT [ "scratch" ]\nCMD [ ]'
    )
    deps = scan_dependencies(b"\xef\xbb\xbf" + dockerfile.encode())
    assert refs(deps) == (None, ["golang:1.10-alpine"])


def test_scanning_stops_at_the_target_stage() -> None:
    # Azure/acr-builder scan/dependencies_test.go, TestResolveDockerfileDependencies_WithTarget
    dockerfile = (
        "FROM scratch AS base\n\tRUN ls\n\tFROM node:lts AS build\n\tRUN ls\n\tFROM nginx:stable AS final\n\tRUN ls"
    )
    deps = scan_dependencies(dockerfile, target="build")
    assert refs(deps) == ("node:lts", [])
    assert deps.runtime == ImageReference("registry.hub.docker.com", "library/node", "lts", "", "node:lts")


def test_target_names_match_without_regard_to_case() -> None:
    deps = scan_dependencies("FROM golang AS Build\nFROM alpine\n", target="BUILD")
    assert refs(deps) == ("golang:latest", [])


def test_an_unknown_target_names_the_stages_that_exist() -> None:
    with pytest.raises(InvalidDockerfile, match=r"target stage 'prod' is not defined; the stages are: 'base', 'build'"):
        scan_dependencies("FROM a AS base\nFROM b AS build\nFROM c\n", target="prod")


# Azure/acr-builder scan/dependencies_test.go, TestNewImageReference (plus digests, ports, localhost)
HUB = "registry.hub.docker.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("registry.hub.docker.com/library/node:16",
         ImageReference(HUB, "library/node", "16", "", "registry.hub.docker.com/library/node:16")),
        ("library/node:16", ImageReference(HUB, "library/node", "16", "", "library/node:16")),
        ("node:16", ImageReference(HUB, "library/node", "16", "", "node:16")),
        ("myregistry.azurecr.io/myorg/myimage:mytag",
         ImageReference("myregistry.azurecr.io", "myorg/myimage", "mytag", "",
                        "myregistry.azurecr.io/myorg/myimage:mytag")),
        ("myorg/myimage:mytag", ImageReference(HUB, "myorg/myimage", "mytag", "", "myorg/myimage:mytag")),
        ("registry.hub.docker.com/myorg/myimage:mytag",
         ImageReference(HUB, "myorg/myimage", "mytag", "", "registry.hub.docker.com/myorg/myimage:mytag")),
        ("node", ImageReference(HUB, "library/node", "latest", "", "node:latest")),
        ("docker.io/node", ImageReference(HUB, "library/node", "latest", "", "docker.io/node:latest")),
        ("localhost:5000/team/app",
         ImageReference("localhost:5000", "team/app", "latest", "", "localhost:5000/team/app:latest")),
        ("localhost/app:1", ImageReference("localhost", "app", "1", "", "localhost/app:1")),
        (f"alpine@{DIGEST}", ImageReference(HUB, "library/alpine", "", DIGEST, f"alpine@{DIGEST}")),
        (f"mcr.microsoft.com/dotnet/sdk:8.0@{DIGEST}",
         ImageReference("mcr.microsoft.com", "dotnet/sdk", "8.0", DIGEST,
                        f"mcr.microsoft.com/dotnet/sdk:8.0@{DIGEST}")),
    ],
)  # fmt: skip
def test_image_references_are_normalised_like_acr(text: str, expected: ImageReference) -> None:
    assert parse_image_reference(text) == expected


@pytest.mark.parametrize("text", ["", "Node:16", "node:", "node@sha256:abc", "a//b", "-node", "node:bad tag"])
def test_invalid_image_references_are_rejected(text: str) -> None:
    with pytest.raises(InvalidRequest, match="is not valid"):
        parse_image_reference(text)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("FROM $BASE", "alpine:3.20"),
        ("FROM ${BASE}", "alpine:3.20"),
        ("FROM ${MISSING:-debian}", "debian:latest"),
        ("FROM ${EMPTY:-debian}", "debian:latest"),
        ("FROM ${EMPTY-debian}:12", ":12"),
        ("FROM ${BASE:+busybox}", "busybox:latest"),
        ("FROM ${MISSING:+busybox}alpine", "alpine:latest"),
        ("FROM ${REPO}/${NAME}:${TAG}", "ghcr.io/team/app:1.2"),
        ("FROM ${MISSING:-${BASE}}", "alpine:3.20"),
        ('FROM "$BASE"', "alpine:3.20"),
        ("FROM '$BASE'", "$BASE"),
        ("FROM \\$BASE", "$BASE"),
    ],
)
def test_arg_values_expand_into_from_like_the_shell_lexer(line: str, expected: str) -> None:
    dockerfile = 'ARG BASE=alpine:3.20\nARG EMPTY=""\nARG REPO=ghcr.io/team NAME=app\nARG TAG\n' + line + "\n"
    if expected in (":12", "$BASE"):
        with pytest.raises(InvalidDockerfile, match=r"Dockerfile:5: FROM '.*' is not a valid image reference"):
            scan_dependencies(dockerfile, build_args={"TAG": "1.2"})
        return
    assert refs(scan_dependencies(dockerfile, build_args={"TAG": "1.2"})) == (expected, [])


def test_build_args_override_arg_defaults() -> None:
    deps = scan_dependencies("ARG V=1\nFROM node:$V\n", build_args={"V": "20"})
    assert refs(deps) == ("node:20", [])


def test_arg_defaults_can_use_earlier_args() -> None:
    deps = scan_dependencies("ARG MAJOR=3\nARG TAG=${MAJOR}.20\nFROM alpine:$TAG\n")
    assert refs(deps) == ("alpine:3.20", [])


def test_arg_declared_inside_a_stage_does_not_reach_a_later_from() -> None:
    with pytest.raises(InvalidDockerfile, match=r"Dockerfile:3: FROM 'node:' is not a valid image reference"):
        scan_dependencies("FROM alpine\nARG V=20\nFROM node:$V\n")


def test_alias_chains_resolve_to_the_origin_image() -> None:
    dockerfile = "FROM golang:1.22 AS a\nFROM a AS b\nFROM B AS c\nFROM alpine AS tools\nFROM c\n"
    assert refs(scan_dependencies(dockerfile)) == ("golang:1.22", ["alpine:latest"])


def test_the_same_image_written_twice_is_one_dependency() -> None:
    dockerfile = "FROM golang AS a\nFROM golang:latest AS b\nFROM library/golang AS c\nFROM alpine\n"
    assert refs(scan_dependencies(dockerfile)) == ("alpine:latest", ["golang:latest"])


def test_the_runtime_image_is_not_also_a_buildtime_dependency() -> None:
    dockerfile = "FROM node:20 AS build\nRUN npm ci\nFROM node:20\n"
    assert refs(scan_dependencies(dockerfile)) == ("node:20", [])


def test_platform_flags_comments_case_and_continuations_are_understood() -> None:
    dockerfile = (
        "# syntax=docker/dockerfile:1\n"
        "  # a comment\n"
        "from --platform=$BUILDPLATFORM \\\n"
        "  # a comment inside the continuation\n"
        "\n"
        "    golang:1.22 as Build\n"
        "RUN echo FROM evil:1 \\\n"
        "  && echo done\n"
        "From alpine:3.20\n"
    )
    assert refs(scan_dependencies(dockerfile)) == ("alpine:3.20", ["golang:1.22"])


def test_the_escape_directive_changes_the_continuation_character() -> None:
    dockerfile = "# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\\n"
    assert refs(scan_dependencies(dockerfile)) == ("mcr.microsoft.com/windows/servercore:ltsc2022", [])


def test_heredoc_bodies_are_not_read_as_instructions() -> None:
    dockerfile = 'FROM alpine AS a\nRUN <<EOF\nFROM evil:1\nEOF\nCOPY <<-"X" /x\n\tFROM evil:2\n\tX\nFROM debian\n'
    assert refs(scan_dependencies(dockerfile)) == ("debian:latest", ["alpine:latest"])


def test_a_from_without_an_image_names_the_line() -> None:
    with pytest.raises(InvalidDockerfile, match=r"^Dockerfile:2: FROM has no image") as raised:
        scan_dependencies("ARG X=1\nFROM --platform=linux/amd64\n")
    assert raised.value.target == "Dockerfile:2"


def test_a_from_whose_variables_expand_to_nothing_names_the_line() -> None:
    with pytest.raises(InvalidDockerfile, match=r"^Dockerfile:3: FROM \$\{BASE\} names no image"):
        scan_dependencies("FROM alpine AS a\n\nFROM ${BASE}\n")


def test_an_unterminated_variable_names_the_line() -> None:
    with pytest.raises(InvalidDockerfile, match=r"^df:2: unterminated variable '\$\{BASE:-alpine'"):
        scan_dependencies("ARG X=1\nFROM ${BASE:-alpine\n", source="df")


def test_a_required_variable_reports_its_message() -> None:
    with pytest.raises(InvalidDockerfile, match=r"Dockerfile:1: variable BASE is required: set-BASE"):
        scan_dependencies("FROM ${BASE:?set-BASE}\n")


def test_a_from_with_extra_words_is_rejected() -> None:
    with pytest.raises(InvalidDockerfile, match=r"^Dockerfile:1: FROM takes one image"):
        scan_dependencies("FROM alpine AS a b\n")


def test_a_dockerfile_without_from_is_rejected() -> None:
    with pytest.raises(InvalidDockerfile, match="no FROM instruction found"):
        scan_dependencies("# nothing here\nRUN echo\n")


def test_the_report_has_acrs_json_shape() -> None:
    deps = scan_dependencies("FROM golang:1.10-alpine AS build\nFROM node:15-alpine\n")
    runtime = deps.runtime.with_digest(DIGEST) if deps.runtime else None
    filled = DockerfileDependencies(runtime, tuple(b.with_digest(DIGEST) for b in deps.buildtime))
    image = parse_image_reference("myregistry.azurecr.io/hello-world:cf19").with_digest(DIGEST)
    report = render_dependency_report([image], filled, git_head_revision="1a30653")
    assert json.loads(json.dumps(report)) == [
        {
            "image": {
                "registry": "myregistry.azurecr.io",
                "repository": "hello-world",
                "tag": "cf19",
                "digest": DIGEST,
                "reference": "myregistry.azurecr.io/hello-world:cf19",
            },
            "runtime-dependency": {
                "registry": "registry.hub.docker.com",
                "repository": "library/node",
                "tag": "15-alpine",
                "digest": DIGEST,
                "reference": "node:15-alpine",
            },
            "buildtime-dependency": [
                {
                    "registry": "registry.hub.docker.com",
                    "repository": "library/golang",
                    "tag": "1.10-alpine",
                    "digest": DIGEST,
                    "reference": "golang:1.10-alpine",
                }
            ],
            "git": {"git-head-revision": "1a30653"},
        }
    ]
    assert list(report[0]) == ["image", "runtime-dependency", "buildtime-dependency", "git"]


def test_the_report_has_one_entry_per_tag_and_null_where_acr_has_null() -> None:
    deps = scan_dependencies("FROM scratch\n")
    report = render_dependency_report([], deps)
    assert report == [{"image": None, "runtime-dependency": None, "buildtime-dependency": None}]
    tags = [parse_image_reference("r.io/a:1"), parse_image_reference(f"r.io/a@{DIGEST}")]
    report = render_dependency_report(tags, deps)
    assert [entry["image"] for entry in report] == [
        {"registry": "r.io", "repository": "a", "tag": "1", "digest": "", "reference": "r.io/a:1"},
        {"registry": "r.io", "repository": "a", "digest": DIGEST, "reference": f"r.io/a@{DIGEST}"},
    ]
