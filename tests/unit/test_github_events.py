import json
from urllib.parse import urlencode

import pytest

from core.errors import InvalidRequest, Unauthorized
from core.github_events import (
    MAX_CHANGED_PATH_CHARS,
    MAX_COMMITS,
    EventKind,
    event_from_document,
    event_to_document,
    parse_github_event,
    verify_github_signature,
)
from tests.support.github_payloads import (
    ZERO_SHA,
    commit,
    encode,
    ping_payload,
    pull_request_payload,
    push_payload,
    sha,
    sign,
    signed_delivery,
)

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
DOCS_SECRET = "It's a Secret to Everybody"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def parse_push(**options):
    return parse_github_event("push", DELIVERY, encode(push_payload(**options)))


# Signatures


def test_githubs_documented_signature_vector_verifies() -> None:
    verify_github_signature(b"Hello, World!", DOCS_SIGNATURE, [DOCS_SECRET])


def test_a_signature_in_upper_case_hex_verifies() -> None:
    verify_github_signature(b"Hello, World!", DOCS_SIGNATURE.upper().replace("SHA256=", "sha256="), [DOCS_SECRET])


def test_a_delivery_signed_with_either_of_two_rotating_secrets_verifies() -> None:
    body = b'{"zen":"Keep it logically awesome."}'
    for secret in ("old-secret", "new-secret"):
        verify_github_signature(body, sign(body, secret), ["old-secret", "new-secret"])


def test_a_missing_signature_header_is_unauthorized_and_says_the_header_is_missing() -> None:
    with pytest.raises(Unauthorized, match="has no X-Hub-Signature-256 header") as raised:
        verify_github_signature(b"{}", None, ["s"])
    assert raised.value.status == 401


@pytest.mark.parametrize(
    "header",
    ["757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "sha256=abc", "sha256=" + "g" * 64, "sha256"],
)
def test_a_malformed_signature_header_is_unauthorized_and_says_it_is_malformed(header: str) -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        verify_github_signature(b"Hello, World!", header, [DOCS_SECRET])


def test_a_legacy_sha1_signature_is_refused_with_a_hint() -> None:
    with pytest.raises(Unauthorized, match="legacy X-Hub-Signature"):
        verify_github_signature(b"x", "sha1=" + "a" * 40, ["s"])


def test_a_wrong_signature_is_unauthorized_without_echoing_the_secret_or_the_expected_digest() -> None:
    with pytest.raises(Unauthorized, match="does not match") as raised:
        verify_github_signature(b"Hello, World!", "sha256=" + "0" * 64, [DOCS_SECRET])
    text = str(raised.value) + json.dumps(raised.value.to_body())
    assert DOCS_SECRET not in text
    assert DOCS_SIGNATURE.removeprefix("sha256=") not in text


def test_a_body_changed_after_signing_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify_github_signature(b"Hello, World?", DOCS_SIGNATURE, [DOCS_SECRET])


def test_a_server_without_secrets_refuses_every_delivery() -> None:
    with pytest.raises(Unauthorized, match="no GitHub webhook secret configured"):
        verify_github_signature(b"Hello, World!", DOCS_SIGNATURE, ["", ""])


def test_signed_delivery_headers_verify_and_parse() -> None:
    body, headers = signed_delivery("push", push_payload(), secret="s3cret")
    verify_github_signature(body, headers["X-Hub-Signature-256"], ["s3cret"])
    event = parse_github_event(headers["X-GitHub-Event"], headers["X-GitHub-Delivery"], body)
    assert event.kind is EventKind.PUSH


# Push


def test_a_push_to_a_branch_is_normalised_with_its_repository_commit_and_changed_files() -> None:
    commits = [
        commit("c1", added=["src/app.py"], modified=["README.md"]),
        commit("c2", modified=["src/app.py"], removed=["old.txt"], message="Second"),
    ]
    event = parse_push(commits=commits, before=sha("b"))
    assert event.kind is EventKind.PUSH
    assert event.delivery_id == DELIVERY
    assert event.repository is not None
    assert event.repository.full_name == "octo-org/hello-world"
    assert event.repository.clone_url == "https://github.com/octo-org/hello-world.git"
    assert event.repository.html_url == "https://github.com/octo-org/hello-world"
    assert event.repository.ssh_url == "git@github.com:octo-org/hello-world.git"
    assert event.repository.private is False
    push = event.push
    assert push is not None
    assert (push.ref, push.branch, push.tag) == ("refs/heads/main", "main", None)
    assert (push.before, push.after) == (sha("b"), sha("c2"))
    assert push.changed_files.paths == ("README.md", "old.txt", "src/app.py")
    assert push.changed_files.complete is True
    assert (push.deleted, push.forced, push.created) == (False, False, False)
    assert push.head_commit_message == "Second"
    assert push.head_commit_author == "monalisa"
    assert push.commit_count == 2
    assert event.sender == "monalisa"
    assert event.summary == f"push to branch 'main' of octo-org/hello-world at {sha('c2')[:7]} (3 files changed)"


def test_a_branch_name_with_slashes_is_kept_whole() -> None:
    assert parse_push(ref="refs/heads/release/2.0").push.branch == "release/2.0"


def test_a_tag_push_sets_the_tag_and_no_branch() -> None:
    push = parse_push(ref="refs/tags/v1.2.0").push
    assert (push.tag, push.branch) == ("v1.2.0", None)


def test_a_branch_deletion_is_flagged_from_the_deleted_field() -> None:
    push = parse_push(deleted=True).push
    assert push.deleted is True
    assert push.after == ZERO_SHA


def test_a_branch_deletion_is_flagged_from_an_all_zero_after_even_without_the_deleted_field() -> None:
    payload = push_payload(deleted=True)
    del payload["deleted"]
    push = parse_github_event("push", DELIVERY, encode(payload)).push
    assert push.deleted is True
    assert push.head_commit_message == ""


def test_a_force_push_marks_the_changed_files_incomplete() -> None:
    files = parse_push(forced=True, commits=[commit("c9", modified=["a.txt"])]).push.changed_files
    assert files.paths == ("a.txt",)
    assert files.complete is False
    assert "forced" in files.note


def test_a_new_branch_without_new_commits_has_unknown_changed_files() -> None:
    push = parse_push(ref="refs/heads/topic", created=True, commits=[]).push
    assert push.created is True
    assert push.changed_files.paths == ()
    assert push.changed_files.complete is False
    assert "new branch" in push.changed_files.note


def test_a_push_listing_githubs_maximum_of_2048_commits_has_incomplete_changed_files() -> None:
    commits = [commit(i, modified=[f"f{i % 10}.txt"]) for i in range(MAX_COMMITS)]
    files = parse_push(commits=commits).push.changed_files
    assert len(files.paths) == 10
    assert files.complete is False
    assert "2048" in files.note


def test_a_push_with_more_changed_paths_than_a_queue_message_holds_keeps_a_prefix_and_says_so() -> None:
    paths = [f"src/module_{i:05d}/a_rather_long_file_name_for_testing.py" for i in range(1000)]
    files = parse_push(commits=[commit("big", added=paths)]).push.changed_files
    assert files.complete is False
    assert 0 < len(files.paths) < 1000
    assert sum(map(len, files.paths)) <= MAX_CHANGED_PATH_CHARS
    assert "1000 files" in files.note


@pytest.mark.parametrize("stem", ["a_rather_long_file_name_for_testing", "一个相当长的测试文件名"])
def test_a_push_with_thousands_of_changed_files_still_fits_one_queue_message(stem: str) -> None:
    paths = [f"src/module_{i:05d}/{stem}.py" for i in range(3000)]
    event = parse_push(commits=[commit("big", added=paths, message="x" * 5000)])
    # Queue messages hold 64 KiB after base64 (4/3 larger), so the JSON must stay under 48 KiB.
    assert len(json.dumps(event_to_document(event))) < 48 * 1024


def test_a_very_long_commit_message_is_shortened() -> None:
    push = parse_push(commits=[commit("c", message="x" * 10_000)]).push
    assert len(push.head_commit_message) == 500


# Pull requests


def test_a_pull_request_is_normalised_with_head_and_base() -> None:
    payload = pull_request_payload(action="synchronize", number=42, head_sha=sha("h"), head_ref="feat", base_ref="dev")
    event = parse_github_event("pull_request", DELIVERY, encode(payload))
    pr = event.pull_request
    assert event.kind is EventKind.PULL_REQUEST
    assert pr is not None
    assert (pr.action, pr.number, pr.head_sha, pr.head_ref, pr.base_ref) == ("synchronize", 42, sha("h"), "feat", "dev")
    assert pr.base_sha == sha("base-dev")
    assert pr.head_clone_url == pr.base_clone_url == "https://github.com/octo-org/hello-world.git"
    assert pr.from_fork is False
    assert pr.merged is False
    assert event.summary == "pull request #42 synchronize in octo-org/hello-world: 'feat' into 'dev'"


def test_a_pull_request_from_a_fork_carries_the_forks_clone_url() -> None:
    payload = pull_request_payload(fork="alice/hello-world")
    pr = parse_github_event("pull_request", DELIVERY, encode(payload)).pull_request
    assert pr.head_clone_url == "https://github.com/alice/hello-world.git"
    assert pr.head_full_name == "alice/hello-world"
    assert pr.from_fork is True


def test_a_pull_request_whose_fork_was_deleted_still_parses() -> None:
    payload = pull_request_payload(action="closed", fork="alice/hello-world", fork_deleted=True)
    pr = parse_github_event("pull_request", DELIVERY, encode(payload)).pull_request
    assert pr.head_clone_url == ""
    assert pr.from_fork is True


def test_a_merged_pull_request_says_so() -> None:
    payload = pull_request_payload(action="closed", merged=True)
    assert parse_github_event("pull_request", DELIVERY, encode(payload)).pull_request.merged is True


# Ping and other events


def test_a_ping_is_normalised_with_the_hooks_events() -> None:
    event = parse_github_event("ping", DELIVERY, encode(ping_payload(events=["push"])))
    assert event.kind is EventKind.PING
    assert event.ping is not None
    assert (event.ping.zen, event.ping.hook_id, event.ping.events) == ("Design for failure.", 109948940, ("push",))
    assert event.repository.full_name == "octo-org/hello-world"


def test_an_organisation_ping_has_no_repository() -> None:
    event = parse_github_event("ping", DELIVERY, encode(ping_payload(full_name=None)))
    assert event.repository is None


def test_other_events_are_ignored_with_a_reason_and_their_body_is_not_parsed() -> None:
    event = parse_github_event("issues", DELIVERY, b"not even json")
    assert event.kind is EventKind.IGNORED
    assert "'issues' does not trigger tasks" in event.ignored_reason
    assert event.summary.startswith("ignored: ")


def test_a_form_encoded_delivery_is_read_from_its_payload_field() -> None:
    body = urlencode({"payload": json.dumps(push_payload())}).encode()
    assert parse_github_event("push", DELIVERY, body).push.branch == "main"


# Bad input


def test_a_body_that_is_not_json_is_an_invalid_request_about_the_content_type() -> None:
    with pytest.raises(InvalidRequest, match=r"application/json") as raised:
        parse_github_event("push", DELIVERY, b"{oops")
    assert raised.value.target == "body"


def test_a_json_body_that_is_not_an_object_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        parse_github_event("push", DELIVERY, b"[1, 2]")


@pytest.mark.parametrize(
    ("event_name", "payload", "remove", "field"),
    [
        ("push", push_payload(), ("after",), "after"),
        ("push", push_payload(), ("ref",), "ref"),
        ("push", push_payload(), ("repository", "clone_url"), "repository.clone_url"),
        ("push", push_payload(), ("repository",), "repository"),
        ("pull_request", pull_request_payload(), ("pull_request", "head", "sha"), "pull_request.head.sha"),
        ("pull_request", pull_request_payload(), ("pull_request", "base", "ref"), "pull_request.base.ref"),
        ("pull_request", pull_request_payload(), ("number",), "number"),
        ("pull_request", pull_request_payload(), ("action",), "action"),
    ],
)
def test_a_missing_payload_field_is_an_invalid_request_naming_the_field(
    event_name: str, payload: dict, remove: tuple[str, ...], field: str
) -> None:
    payload = json.loads(json.dumps(payload))
    holder = payload
    for name in remove[:-1]:
        holder = holder[name]
    del holder[remove[-1]]
    with pytest.raises(InvalidRequest, match=f"'{field}' is missing") as raised:
        parse_github_event(event_name, DELIVERY, encode(payload))
    assert raised.value.target == field


def test_a_pull_request_number_of_the_wrong_type_is_an_invalid_request() -> None:
    payload = pull_request_payload()
    payload["number"] = True
    with pytest.raises(InvalidRequest, match="'number' is missing or not a number"):
        parse_github_event("pull_request", DELIVERY, encode(payload))


def test_commits_that_are_not_a_list_are_an_invalid_request() -> None:
    payload = push_payload()
    payload["commits"] = {"id": "x"}
    with pytest.raises(InvalidRequest, match="'commits' is not an array"):
        parse_github_event("push", DELIVERY, encode(payload))


@pytest.mark.parametrize("delivery_id", ["", "has space", "a/b", "x" * 200])
def test_a_missing_or_odd_delivery_id_is_an_invalid_request(delivery_id: str) -> None:
    with pytest.raises(InvalidRequest, match="X-GitHub-Delivery") as raised:
        parse_github_event("push", delivery_id, encode(push_payload()))
    assert raised.value.target == "X-GitHub-Delivery"


def test_a_missing_event_name_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="X-GitHub-Event header is missing"):
        parse_github_event("", DELIVERY, encode(push_payload()))


# Queue documents


@pytest.mark.parametrize(
    ("event_name", "payload"),
    [
        ("push", push_payload(commits=[commit("a", added=["x/y.txt"])], forced=True)),
        ("pull_request", pull_request_payload(fork="alice/hello-world")),
        ("ping", ping_payload()),
        ("issues", {}),
    ],
)
def test_an_event_survives_the_trip_through_a_json_queue_message(event_name: str, payload: dict) -> None:
    event = parse_github_event(event_name, DELIVERY, encode(payload))
    message = json.dumps(event_to_document(event))
    assert event_from_document(json.loads(message)) == event


def test_a_queue_message_that_is_not_an_event_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="not a Slipway source event"):
        event_from_document({"kind": "push"})
