"""The pure parts of fetching git sources: URLs and credentials, refs, the environment, error wording."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from core.errors import InvalidRequest
from core.git_source import (
    GitAuthenticationFailed,
    GitCheckout,
    GitNotFound,
    GitSourceError,
    GitUnreachable,
    Redactor,
    RefKind,
    Remote,
    ResolvedRef,
    describe_failure,
    git_environment,
    parse_ls_remote,
    parse_remote,
    ref_candidates,
    resolve_ref,
    validate_ref,
)

TOKEN = "ghp_unitTestToken42"
URL = "https://github.com/org/app.git"
SHA_A = "a" * 40
SHA_B = "b" * 40
HOST_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/root",
    "GIT_SSL_CAINFO": "/etc/ssl/ca.pem",
    "https_proxy": "http://proxy:3128",
    "GIT_TRACE_CURL": "1",
    "GIT_CONFIG_GLOBAL": "/root/.gitconfig",
    "GIT_DIR": "/elsewhere/.git",
    "SSH_ASKPASS": "/usr/bin/ssh-askpass",
    "AWS_SECRET_ACCESS_KEY": "nope",
}


def config_of(env: dict[str, str]) -> dict[str, str]:
    count = int(env["GIT_CONFIG_COUNT"])
    return {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}


# --- URLs and credentials ----------------------------------------------------------------------------


def test_a_url_without_credentials_is_kept_as_it_is() -> None:
    assert parse_remote(URL) == Remote(URL)
    assert parse_remote(URL).auth_header is None


def test_a_token_alone_in_the_url_becomes_the_password_of_the_token_user() -> None:
    remote = parse_remote(f"https://{TOKEN}@github.com/org/app.git")

    assert (remote.url, remote.username, remote.password) == (URL, "x-access-token", TOKEN)


def test_a_user_and_password_in_the_url_are_both_moved_out_and_percent_decoded() -> None:
    remote = parse_remote("https://me%40corp:p%2Fss%3Aword@dev.azure.com:443/org/_git/app")

    assert remote.url == "https://dev.azure.com:443/org/_git/app"
    assert (remote.username, remote.password) == ("me@corp", "p/ss:word")


def test_an_explicit_token_wins_over_credentials_in_the_url() -> None:
    remote = parse_remote("https://someone:old@github.com/org/app.git", token=TOKEN)

    assert (remote.url, remote.username, remote.password) == (URL, "x-access-token", TOKEN)
    assert "old" in remote.secrets()


def test_the_scheme_and_host_are_lowercased_and_the_fragment_dropped() -> None:
    assert parse_remote("HTTPS://GitHub.com/Org/App.git#main:src").url == "https://github.com/Org/App.git"


def test_an_ipv6_host_keeps_its_brackets_and_port() -> None:
    assert parse_remote("http://tok@[::1]:8080/app.git").url == "http://[::1]:8080/app.git"


def test_the_header_is_basic_auth_of_the_token_user_and_the_token() -> None:
    remote = parse_remote(URL, token=TOKEN)

    expected = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert remote.auth_header == f"Authorization: Basic {expected}"
    assert remote.auth_scope == "https://github.com/"


def test_git_protocol_urls_never_carry_a_header() -> None:
    assert parse_remote("git://host/app.git", token=TOKEN).auth_header is None


def test_credentials_never_appear_in_the_remotes_repr() -> None:
    assert TOKEN not in repr(parse_remote(URL, token=TOKEN))


@pytest.mark.parametrize(
    "url",
    [
        "ssh://git@github.com/org/app.git",
        "git@github.com:org/app.git",
        "file:///srv/app.git",
        "/srv/app.git",
        "ext::sh -c touch% /tmp/pwned",
        "https:///no-host.git",
        "https://host:99999/app.git",
    ],
)
def test_urls_other_than_http_https_and_git_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_remote(url)
    assert caught.value.target == "context"


def test_a_refused_url_is_shown_without_its_credentials() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_remote(f"ssh://me:{TOKEN}@host/app.git")
    assert TOKEN not in str(caught.value)
    assert "ssh://host/app.git" in str(caught.value)


# --- redaction ---------------------------------------------------------------------------------------


def test_the_redactor_removes_the_token_and_its_encoded_forms_and_url_user_info() -> None:
    remote = parse_remote(URL, token="to/k+en")
    redact = Redactor(remote.secrets())
    header = remote.auth_header
    assert header

    text = f"a to/k+en b to%2Fk%2Ben c {base64.b64encode(b'to/k+en').decode()} d {header} e https://u:p@h/x.git"

    assert redact(text) == "a *** b *** c *** d Authorization: Basic *** e https://h/x.git"


# --- refs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref", ["main", "feature/x-1", "v1.2.3", "pull/12/head", "refs/pull/3/merge", "release_2024", "a" * 40]
)
def test_ordinary_refs_are_valid(ref: str) -> None:
    assert validate_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    ["-u", "--upload-pack=evil", "a b", "a..b", "x~1", "x^", "a:b", "what?", "a*", "[x", "a\\b", "x@{1}", "x.lock",
     "/x", "x/", "x//y", "x/.hidden", ".x", "tab\there", "nul\0"],
)  # fmt: skip
def test_refs_git_would_refuse_or_read_as_options_are_invalid(ref: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a valid branch, tag, commit or pull-request ref"):
        validate_ref(ref)


@pytest.mark.parametrize(
    ("ref", "candidates"),
    [
        ("main", ("refs/heads/main", "refs/tags/main")),
        ("pull/4/head", ("refs/pull/4/head",)),
        ("refs/pull/4/merge", ("refs/pull/4/merge",)),
        ("refs/merge-requests/9/head", ("refs/merge-requests/9/head",)),
    ],
)
def test_a_ref_is_looked_up_under_the_names_it_may_mean(ref: str, candidates: tuple[str, ...]) -> None:
    assert ref_candidates(ref) == candidates


def test_ls_remote_output_gives_refs_and_what_head_points_at() -> None:
    output = (
        f"ref: refs/heads/trunk\tHEAD\n{SHA_A}\tHEAD\n{SHA_A}\trefs/heads/trunk\n"
        f"{SHA_B}\trefs/tags/v1\n{SHA_A}\trefs/tags/v1^{{}}\n"
    )

    assert parse_ls_remote(output) == (
        {"HEAD": SHA_A, "refs/heads/trunk": SHA_A, "refs/tags/v1": SHA_B},
        "refs/heads/trunk",
    )


def test_a_branch_wins_over_a_tag_of_the_same_name() -> None:
    advertised = {"refs/heads/v1": SHA_A, "refs/tags/v1": SHA_B}

    assert resolve_ref("v1", advertised, None, URL) == ResolvedRef(RefKind.BRANCH, "refs/heads/v1", SHA_A)


def test_a_tag_and_a_pull_request_ref_are_recognised() -> None:
    advertised = {"refs/tags/v2": SHA_A, "refs/pull/5/head": SHA_B}

    assert resolve_ref("v2", advertised, None, URL).kind is RefKind.TAG
    assert resolve_ref("pull/5/head", advertised, None, URL) == ResolvedRef(
        RefKind.PULL_REQUEST, "refs/pull/5/head", SHA_B
    )


def test_no_ref_means_the_branch_head_points_at() -> None:
    resolved = resolve_ref(None, {"HEAD": SHA_A, "refs/heads/trunk": SHA_A}, "refs/heads/trunk", URL)

    assert (resolved.kind, resolved.short_name, resolved.commit) == (RefKind.BRANCH, "trunk", SHA_A)


def test_a_detached_server_head_is_fetched_as_its_commit() -> None:
    assert resolve_ref(None, {"HEAD": SHA_A}, None, URL) == ResolvedRef(RefKind.COMMIT, SHA_A, SHA_A)


def test_an_empty_repository_has_no_default_branch() -> None:
    with pytest.raises(GitNotFound, match="has no default branch"):
        resolve_ref(None, {}, None, URL)


def test_a_hex_ref_that_is_no_branch_or_tag_is_a_commit_matched_against_the_tips() -> None:
    advertised = {"refs/heads/main": "abcdef1" + "0" * 33, "refs/heads/dev": "1234567" + "0" * 33}

    assert resolve_ref("ABCDEF1", advertised, None, URL) == ResolvedRef(RefKind.COMMIT, "abcdef1", "abcdef1" + "0" * 33)
    assert resolve_ref("fedcba9", advertised, None, URL) == ResolvedRef(RefKind.COMMIT, "fedcba9", None)


def test_a_missing_branch_is_reported_with_the_repository() -> None:
    with pytest.raises(GitNotFound) as caught:
        resolve_ref("nope", {}, None, URL)
    assert str(caught.value) == f"branch or tag 'nope' does not exist in {URL}"
    with pytest.raises(GitNotFound, match="pull request ref 'pull/9/merge' does not exist"):
        resolve_ref("pull/9/merge", {}, None, URL)


# --- the environment ---------------------------------------------------------------------------------


def test_the_environment_carries_the_header_as_config_scoped_to_the_repositorys_host() -> None:
    remote = parse_remote(URL, token=TOKEN)

    env = git_environment(remote, Path("/tmp/home"), HOST_ENV)

    assert config_of(env)["http.https://github.com/.extraHeader"] == remote.auth_header
    assert not [key for key in env if TOKEN in key]
    assert [key for key, value in env.items() if remote.secrets()[1] in value] == ["GIT_CONFIG_VALUE_12"]


def test_the_environment_allows_only_network_protocols_and_no_helpers() -> None:
    config = config_of(git_environment(parse_remote(URL), Path("/tmp/home"), HOST_ENV))

    assert config["protocol.allow"] == "never"
    assert (config["protocol.file.allow"], config["protocol.ext.allow"]) == ("never", "never")
    assert {config[f"protocol.{name}.allow"] for name in ("http", "https", "git")} == {"always"}
    assert (config["credential.helper"], config["core.askPass"]) == ("", "")
    assert not [key for key in config if "extraheader" in key.lower()]


def test_the_environment_inherits_only_path_certificates_and_proxies() -> None:
    env = git_environment(parse_remote(URL), Path("/tmp/home"), HOST_ENV)

    assert {key: env[key] for key in ("PATH", "GIT_SSL_CAINFO", "https_proxy")} == {
        key: HOST_ENV[key] for key in ("PATH", "GIT_SSL_CAINFO", "https_proxy")
    }
    assert not {"GIT_TRACE_CURL", "GIT_DIR", "SSH_ASKPASS", "AWS_SECRET_ACCESS_KEY"} & env.keys()
    assert env["HOME"] == "/tmp/home"
    assert (env["GIT_CONFIG_NOSYSTEM"], env["GIT_CONFIG_GLOBAL"]) == ("1", "/dev/null")
    assert (env["GIT_TERMINAL_PROMPT"], env["GIT_ASKPASS"]) == ("0", "")


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stderr", "authenticated", "kind", "message"),
    [
        (
            "fatal: Authentication failed for 'https://github.com/org/app.git/'",
            True,
            GitAuthenticationFailed,
            f"the git access token was refused for {URL}; check it has read access (for GitHub: repo scope)",
        ),
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            False,
            GitAuthenticationFailed,
            f"{URL} asks for credentials; give the task a --git-access-token with read access (for GitHub: repo "
            "scope)",
        ),
        (
            "fatal: unable to access 'https://github.com/org/app.git/': Could not resolve host: github.com",
            True,
            GitUnreachable,
            f"cannot reach {URL}: fatal: unable to access 'https://github.com/org/app.git/': Could not resolve "
            "host: github.com",
        ),
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/org/app.git/' not found",
            True,
            GitNotFound,
            f"repository {URL} was not found (or the token cannot see it)",
        ),
        ("fatal: remote error: access denied or repository not exported: /org/app.git", False, GitNotFound,
         f"repository {URL} was not found or is not exported by its git daemon"),
        ("fatal: the remote end hung up unexpectedly", False, GitSourceError, f"git fetch failed for {URL}: "
         "fatal: the remote end hung up unexpectedly"),
    ],
)  # fmt: skip
def test_git_errors_become_messages_a_user_can_act_on(
    stderr: str, authenticated: bool, kind: type[GitSourceError], message: str
) -> None:
    error = describe_failure(stderr, url=URL, authenticated=authenticated, action="git fetch")

    assert type(error) is kind
    assert error.message == message


def test_a_checkout_gives_run_values_without_empty_keys() -> None:
    checkout = GitCheckout(path=Path("/w"), commit=SHA_A, branch=None, tag="v1", ref="refs/tags/v1", repository=URL)

    assert checkout.run_values() == {"commit": SHA_A, "repository": URL, "tag": "v1"}
