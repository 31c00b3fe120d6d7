import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.github_events import parse_github_event
from core.runs import RunType, new_run
from core.tasks import ConcurrencyPolicy, SourceTrigger, Task, TaskKind, TaskStatus
from core.trigger_matching import (
    DecisionReason,
    TriggerKind,
    glob_to_regex,
    match_source_event,
    outcome_summary,
    path_filter,
    repository_key,
    superseded_runs,
)
from tests.support.github_payloads import (
    commit,
    encode,
    ping_payload,
    pull_request_payload,
    push_payload,
    sha,
)

REPO = "https://github.com/octo-org/hello-world.git"
DELIVERY = "d-1"


def make_task(
    name: str = "web",
    *,
    context: str = f"{REPO}#main",
    commit_enabled: bool = True,
    pull_request_enabled: bool = False,
    branch: str = "main",
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    status: TaskStatus = TaskStatus.ENABLED,
    concurrency: ConcurrencyPolicy = ConcurrencyPolicy.QUEUE,
) -> Task:
    return Task(
        name=name,
        kind=TaskKind.DOCKER,
        context=context,
        status=status,
        source_trigger=SourceTrigger(
            commit_enabled=commit_enabled,
            pull_request_enabled=pull_request_enabled,
            branch=branch,
            include_paths=include,
            exclude_paths=exclude,
        ),
        concurrency=concurrency,
    )


def push_event(files: tuple[str, ...] = ("README.md",), delivery: str = DELIVERY, **options: Any):
    options.setdefault("commits", [commit("c1", modified=list(files))])
    return parse_github_event("push", delivery, encode(push_payload(**options)))


def pr_event(delivery: str = DELIVERY, **options: Any):
    return parse_github_event("pull_request", delivery, encode(pull_request_payload(**options)))


def decide(event, task: Task):
    [decision] = match_source_event(event, [task])
    return decision


# Repositories


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/octo-org/hello-world.git",
        "https://github.com/octo-org/hello-world",
        "http://github.com/octo-org/hello-world/",
        "https://GitHub.com/Octo-Org/Hello-World.git",
        "https://www.github.com/octo-org/hello-world.git",
        "https://x-access-token:abc@github.com/octo-org/hello-world.git",
        "https://github.com:443/octo-org/hello-world.git",
        "git://github.com/octo-org/hello-world.git",
        "ssh://git@github.com/octo-org/hello-world.git",
        "ssh://git@github.com:22/octo-org/hello-world",
        "git@github.com:octo-org/hello-world.git",
        "git@github.com:/octo-org/hello-world.git",
        "github.com/octo-org/hello-world",
    ],
)
def test_repository_urls_written_in_different_ways_are_the_same_repository(url: str) -> None:
    assert repository_key(url) == "github.com/octo-org/hello-world"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/octo-org/hello-world-2.git",
        "https://github.com/alice/hello-world.git",
        "https://gitlab.com/octo-org/hello-world.git",
    ],
)
def test_other_repositories_have_other_keys(url: str) -> None:
    assert repository_key(url) != "github.com/octo-org/hello-world"


def test_a_task_written_with_an_ssh_style_context_url_matches_by_repository() -> None:
    task = make_task(context="git://github.com/Octo-Org/Hello-World#main")
    assert decide(push_event(), task).starts


def test_tasks_of_other_repositories_or_without_git_are_not_considered() -> None:
    tasks = [
        make_task("other", context="https://github.com/octo-org/other.git#main"),
        make_task("local", context="/dev/null"),
        make_task("mine"),
    ]
    assert [d.task for d in match_source_event(push_event(), tasks)] == ["mine"]


def test_with_all_tasks_unrelated_tasks_are_listed_with_the_reason() -> None:
    tasks = [
        make_task("other", context="https://github.com/octo-org/other.git#main"),
        make_task("local", context="/dev/null"),
    ]
    other, local = match_source_event(push_event(), tasks, all_tasks=True)
    assert (other.starts, other.reason) == (False, DecisionReason.REPOSITORY_DIFFERS)
    assert (
        other.message
        == "the event is for octo-org/hello-world; the task builds from https://github.com/octo-org/other.git"
    )
    assert (local.starts, local.reason) == (False, DecisionReason.NO_GIT_SOURCE)


# Pushes


def test_a_push_to_the_watched_branch_starts_a_run_with_what_the_run_needs() -> None:
    task = make_task(context=f"{REPO}#main:services/api")
    event = push_event(commits=[commit("c1", modified=["services/api/app.py"])])
    decision = decide(event, task)
    assert decision.starts
    assert decision.reason is DecisionReason.MATCHED
    assert decision.trigger_kind is TriggerKind.COMMIT
    assert decision.commit == sha("c1")
    assert decision.branch == "main"
    assert decision.fetch_ref == "refs/heads/main"
    assert decision.repository_url == REPO
    assert decision.source_location == f"{REPO}#{sha('c1')}:services/api"
    assert decision.pull_request_number is None
    assert decision.idempotency_key == "github:d-1:web"
    assert decision.message == f"push to 'main' at {sha('c1')[:7]} matches"


def test_a_push_run_records_acr_style_trigger_metadata() -> None:
    trigger = decide(push_event(), make_task()).run_trigger()
    assert trigger["kind"] == trigger["eventType"] == "commit"
    assert trigger["commitId"] == sha("c1")
    assert trigger["branchName"] == "main"
    assert trigger["repositoryUrl"] == REPO
    assert trigger["idempotencyKey"] == "github:d-1:web"
    assert trigger["pullRequestId"] is None


def test_a_push_to_another_branch_says_which_branch_the_task_watches() -> None:
    decision = decide(push_event(ref="refs/heads/dev"), make_task())
    assert (decision.starts, decision.reason) == (False, DecisionReason.BRANCH_DIFFERS)
    assert decision.message == "push to 'dev', task watches 'main'"


def test_a_task_branch_written_as_a_full_ref_still_matches() -> None:
    assert decide(push_event(), make_task(branch="refs/heads/main")).starts


def test_a_disabled_task_never_starts_a_run() -> None:
    decision = decide(push_event(), make_task(status=TaskStatus.DISABLED))
    assert (decision.starts, decision.reason, decision.message) == (
        False,
        DecisionReason.TASK_DISABLED,
        "the task is Disabled",
    )


def test_a_push_does_not_start_a_task_whose_commit_trigger_is_off() -> None:
    decision = decide(push_event(), make_task(commit_enabled=False, pull_request_enabled=True))
    assert (decision.starts, decision.reason) == (False, DecisionReason.COMMIT_TRIGGER_DISABLED)


def test_deleting_the_watched_branch_starts_nothing() -> None:
    decision = decide(push_event(deleted=True), make_task())
    assert (decision.starts, decision.reason) == (False, DecisionReason.BRANCH_DELETED)
    assert decision.message == "branch 'main' was deleted; nothing to build"
    assert decision.commit == ""


def test_a_tag_push_starts_nothing_as_in_acr() -> None:
    decision = decide(push_event(ref="refs/tags/v1.0"), make_task())
    assert (decision.starts, decision.reason) == (False, DecisionReason.TAG_PUSH)
    assert "tag 'v1.0'" in decision.message


def test_a_push_to_a_ref_that_is_neither_branch_nor_tag_starts_nothing() -> None:
    decision = decide(push_event(ref="refs/notes/commits"), make_task())
    assert (decision.starts, decision.reason) == (False, DecisionReason.NOT_A_BRANCH)


def test_each_task_of_the_repository_gets_one_decision_in_order() -> None:
    tasks = [make_task("a"), make_task("b", branch="dev"), make_task("c", status=TaskStatus.DISABLED)]
    decisions = match_source_event(push_event(), tasks)
    assert [(d.task, d.starts) for d in decisions] == [("a", True), ("b", False), ("c", False)]
    assert len({d.idempotency_key for d in decisions}) == 3


def test_pings_and_ignored_events_concern_no_task() -> None:
    ping = parse_github_event("ping", DELIVERY, encode(ping_payload()))
    issues = parse_github_event("issues", DELIVERY, b"{}")
    assert match_source_event(ping, [make_task()]) == []
    assert match_source_event(issues, [make_task()]) == []


# Pull requests


def test_a_pull_request_into_the_watched_branch_starts_a_run_of_its_head_commit() -> None:
    task = make_task(commit_enabled=False, pull_request_enabled=True, context=f"{REPO}#main:app")
    decision = decide(pr_event(number=12, head_sha=sha("head"), head_ref="feature/x"), task)
    assert decision.starts
    assert decision.reason is DecisionReason.MATCHED
    assert decision.trigger_kind is TriggerKind.PULL_REQUEST
    assert decision.commit == sha("head")
    assert decision.fetch_ref == "refs/pull/12/head"
    assert decision.branch == "feature/x"
    assert decision.base_branch == "main"
    assert decision.pull_request_number == 12
    assert decision.source_location == f"{REPO}#{sha('head')}:app"
    assert decision.from_fork is False
    trigger = decision.run_trigger()
    assert (trigger["kind"], trigger["pullRequestId"], trigger["branchName"]) == ("pullrequest", 12, "feature/x")


def test_a_pull_request_from_a_fork_is_marked_and_carries_the_forks_url() -> None:
    task = make_task(pull_request_enabled=True)
    decision = decide(pr_event(fork="alice/hello-world"), task)
    assert decision.starts
    assert decision.from_fork
    assert decision.head_repository_url == "https://github.com/alice/hello-world.git"
    assert decision.repository_url == REPO  # the run fetches refs/pull/N/head from the base repository
    assert "from fork alice/hello-world" in decision.message


def test_a_pull_request_is_matched_on_its_base_branch_not_its_head_branch() -> None:
    task = make_task(pull_request_enabled=True, branch="main")
    decision = decide(pr_event(number=9, head_ref="main", base_ref="release"), task)
    assert (decision.starts, decision.reason) == (False, DecisionReason.BRANCH_DIFFERS)
    assert decision.message == "pull request #9 targets 'release', task watches 'main'"


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_pull_request_actions_that_change_code_start_runs(action: str) -> None:
    assert decide(pr_event(action=action), make_task(pull_request_enabled=True)).starts


@pytest.mark.parametrize("action", ["closed", "edited", "labeled", "assigned", "ready_for_review"])
def test_other_pull_request_actions_start_nothing_and_say_which_do(action: str) -> None:
    decision = decide(pr_event(action=action), make_task(pull_request_enabled=True))
    assert (decision.starts, decision.reason) == (False, DecisionReason.PULL_REQUEST_ACTION)
    assert decision.message.endswith("runs start on opened, synchronize and reopened")


def test_a_merged_pull_request_points_at_the_commit_trigger() -> None:
    decision = decide(pr_event(action="closed", merged=True), make_task(pull_request_enabled=True))
    assert "merged" in decision.message


def test_a_pull_request_does_not_start_a_task_whose_pull_request_trigger_is_off() -> None:
    decision = decide(pr_event(), make_task())
    assert (decision.starts, decision.reason) == (False, DecisionReason.PULL_REQUEST_TRIGGER_DISABLED)


def test_a_pull_request_on_a_task_with_path_filters_starts_and_says_the_filters_were_not_applied() -> None:
    decision = decide(pr_event(), make_task(pull_request_enabled=True, include=("src/**",)))
    assert (decision.starts, decision.reason) == (True, DecisionReason.MATCHED_PATHS_UNKNOWN)
    assert "path filters are not applied to pull requests" in decision.message


# Path filters


@pytest.mark.parametrize(
    ("pattern", "matches", "does_not_match"),
    [
        ("*", ["README.md", "server.rb"], ["docs/README.md"]),
        ("*.js", ["app.js", "index.js"], ["js/app.js"]),
        ("**.js", ["index.js", "js/index.js", "src/js/app.js"], ["index.jsx"]),
        ("**", ["a", "a/b/c.txt"], []),
        ("docs/*", ["docs/README.md", "docs/file.txt"], ["docs/a/b.md", "README.md"]),
        ("docs/**", ["docs/README.md", "docs/a/b/c.md"], ["doc/x", "x/docs/y"]),
        ("docs/", ["docs/README.md", "docs/a/b.md"], ["docs"]),
        ("docs/**/*.md", ["docs/README.md", "docs/mona/octocat.md", "docs/a/markdown/file.md"], ["docs/a.txt"]),
        ("**/docs/**", ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"], ["mydocs/x"]),
        ("**/README.md", ["README.md", "js/README.md"], ["README.md.bak"]),
        ("**/*src/**", ["a/src/app.js", "my-src/code/js/app.js"], ["src.txt"]),
        ("**/*-post.md", ["my-post.md", "path/their-post.md"], ["post.md"]),
        ("*.jsx?", [], ["page.js"]),  # '?' is one character, as in shells (not "optional" as in GitHub Actions)
        ("page.js?", ["page.jsx"], ["page.js", "page.js/x"]),
        ("v[0-9].txt", ["v1.txt"], ["vx.txt"]),
        ("[!a]b", ["cb"], ["ab", "/b"]),
        ("/Dockerfile", ["Dockerfile"], ["app/Dockerfile"]),
        ("./Dockerfile", ["Dockerfile"], ["app/Dockerfile"]),
        ("a+b(c).txt", ["a+b(c).txt"], ["aab(c).txt"]),
    ],
)
def test_path_globs_follow_github_actions_rules(pattern: str, matches: list[str], does_not_match: list[str]) -> None:
    regex = re.compile(glob_to_regex(pattern))
    for path in matches:
        assert regex.fullmatch(path), f"{pattern} should match {path}"
    for path in does_not_match:
        assert not regex.fullmatch(path), f"{pattern} should not match {path}"


@given(st.text(alphabet="ab/*?[]!^-.\\{}()+|$", max_size=20))
def test_any_glob_a_user_writes_compiles_to_a_valid_regex_without_warnings(pattern: str) -> None:
    re.compile(glob_to_regex(pattern))


@given(st.text(alphabet=st.characters(blacklist_characters="*?[!/\\", blacklist_categories=("Cs",)), min_size=1))
def test_a_glob_without_wildcards_matches_exactly_that_path(name: str) -> None:
    path = f"dir/{name.strip()}" if name.strip() else "dir/x"
    assert re.fullmatch(glob_to_regex(path), path)
    assert not re.fullmatch(glob_to_regex(path), path + "x")


def test_compiled_path_filters_are_cached_per_set_of_globs() -> None:
    assert path_filter(("src/**",), ("docs/**",)) is path_filter(("src/**",), ("docs/**",))
    assert path_filter((), ()) is None


def test_a_push_changing_an_included_file_starts_a_run_and_names_the_file() -> None:
    decision = decide(push_event(files=("src/app.py", "README.md")), make_task(include=("src/**",)))
    assert (decision.starts, decision.reason) == (True, DecisionReason.MATCHED)
    assert "changed src/app.py, which the path filters admit" in decision.message


def test_a_push_changing_no_included_file_starts_nothing_and_lists_what_changed() -> None:
    decision = decide(push_event(files=("docs/a.md", "README.md")), make_task(include=("src/**", "Dockerfile")))
    assert (decision.starts, decision.reason) == (False, DecisionReason.PATHS_NOT_MATCHED)
    assert decision.message.endswith("changed README.md, docs/a.md; none matches includePaths (src/**, Dockerfile)")


def test_a_push_changing_only_excluded_files_starts_nothing() -> None:
    decision = decide(push_event(files=("docs/a.md", "docs/b.md")), make_task(exclude=("docs/**", "**.md")))
    assert (decision.starts, decision.reason) == (False, DecisionReason.PATHS_NOT_MATCHED)
    assert "changed only excluded files" in decision.message


def test_a_push_with_one_file_outside_the_exclusions_starts_a_run() -> None:
    assert decide(push_event(files=("docs/a.md", "main.go")), make_task(exclude=("docs/**",))).starts


def test_an_included_file_that_is_also_excluded_does_not_count() -> None:
    task = make_task(include=("src/**",), exclude=("src/**/*_test.go",))
    decision = decide(push_event(files=("src/x/a_test.go",)), task)
    assert (decision.starts, decision.reason) == (False, DecisionReason.PATHS_NOT_MATCHED)
    assert "match includePaths but also excludePaths (src/**/*_test.go)" in decision.message
    assert decide(push_event(files=("src/x/a_test.go", "src/x/a.go")), task).starts


def test_a_negated_include_pattern_excludes_as_in_github_actions() -> None:
    task = make_task(include=("src/**", "!src/generated/**"))
    assert not decide(push_event(files=("src/generated/api.py",)), task).starts
    assert decide(push_event(files=("src/app.py",)), task).starts


def test_when_the_changed_files_are_unknown_the_path_filters_let_the_push_through_and_say_why() -> None:
    event = push_event(ref="refs/heads/main", created=True, commits=[])
    decision = decide(event, make_task(include=("src/**",)))
    assert (decision.starts, decision.reason) == (True, DecisionReason.MATCHED_PATHS_UNKNOWN)
    assert "changed files are unknown" in decision.message
    assert "the path filters cannot rule it out" in decision.message


def test_a_forced_push_whose_known_files_miss_the_filters_still_starts() -> None:
    event = push_event(files=("docs/a.md",), forced=True)
    decision = decide(event, make_task(include=("src/**",)))
    assert (decision.starts, decision.reason) == (True, DecisionReason.MATCHED_PATHS_UNKNOWN)
    assert "forced" in decision.message


def test_a_forced_push_whose_known_files_match_is_an_ordinary_match() -> None:
    decision = decide(push_event(files=("src/a.py",), forced=True), make_task(include=("src/**",)))
    assert decision.reason is DecisionReason.MATCHED


def test_an_empty_commit_does_not_pass_path_filters() -> None:
    decision = decide(push_event(files=()), make_task(include=("src/**",)))
    assert (decision.starts, decision.reason) == (False, DecisionReason.PATHS_NOT_MATCHED)
    assert "changed no files" in decision.message


def test_a_push_without_path_filters_starts_even_with_unknown_files() -> None:
    decision = decide(push_event(created=True, commits=[]), make_task())
    assert (decision.starts, decision.reason) == (True, DecisionReason.MATCHED)


def test_the_context_subfolder_is_not_a_path_filter_but_the_decision_suggests_one() -> None:
    task = make_task(context=f"{REPO}#main:services/api")
    decision = decide(push_event(files=("web/index.html",)), task)
    assert decision.starts
    assert "set includePaths to ['services/api/**']" in decision.message


# Concurrency


@dataclass(frozen=True)
class FakeRun:
    run_id: str
    status: str
    task: str | None
    trigger: dict[str, Any] = field(default_factory=dict)


def runs_for(decision_trigger: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**decision_trigger, "idempotencyKey": "github:older:web", **changes}


def test_cancel_superseded_cancels_older_unfinished_runs_of_the_same_branch_only() -> None:
    task = make_task(concurrency=ConcurrencyPolicy.CANCEL_SUPERSEDED)
    old = decide(push_event(delivery="old"), task).run_trigger()
    decision = decide(push_event(delivery="new", commits=[commit("c2", modified=["a"])]), task)
    runs = [
        FakeRun("ca1", "Queued", "web", old),
        FakeRun("ca2", "Running", "web", {**old, "repositoryUrl": "git@github.com:octo-org/hello-world.git"}),
        FakeRun("ca3", "Started", "web", old),
        FakeRun("ca4", "Succeeded", "web", old),
        FakeRun("ca5", "Running", "web", {**old, "branchName": "dev"}),
        FakeRun("ca6", "Running", "other", old),
        FakeRun("ca7", "Running", "web", {"kind": "manual"}),
        FakeRun("ca8", "Running", "web", {**old, "repositoryUrl": "https://github.com/octo-org/fork.git"}),
    ]
    assert superseded_runs(decision, runs) == ["ca1", "ca2", "ca3"]


def test_cancel_superseded_keys_pull_request_runs_by_pull_request_number() -> None:
    task = make_task(commit_enabled=False, pull_request_enabled=True, concurrency=ConcurrencyPolicy.CANCEL_SUPERSEDED)
    decision = decide(pr_event(delivery="new", action="synchronize", number=5), task)
    same_pr = decide(pr_event(delivery="old", number=5), task).run_trigger()
    other_pr = decide(pr_event(delivery="old2", number=6), task).run_trigger()
    push_to_main = decide(push_event(delivery="old3"), make_task()).run_trigger()
    runs = [
        FakeRun("ca1", "Running", "web", same_pr),
        FakeRun("ca2", "Running", "web", other_pr),
        FakeRun("ca3", "Running", "web", push_to_main),
    ]
    assert superseded_runs(decision, runs) == ["ca1"]


def test_cancel_superseded_reads_real_run_records() -> None:
    task = make_task(concurrency=ConcurrencyPolicy.CANCEL_SUPERSEDED)
    old = decide(push_event(delivery="old"), task)
    run = new_run(
        run_id="ca1",
        number=1,
        run_type=RunType.AUTO_BUILD,
        request={},
        now=datetime(2026, 11, 26, tzinfo=UTC),
        platform="linux/amd64",
        timeout=3600,
        task="web",
        trigger=old.run_trigger(),
    )
    assert superseded_runs(decide(push_event(delivery="new"), task), [run]) == ["ca1"]


def test_the_run_of_the_same_delivery_is_never_superseded_by_a_retry() -> None:
    task = make_task(concurrency=ConcurrencyPolicy.CANCEL_SUPERSEDED)
    decision = decide(push_event(), task)
    assert superseded_runs(decision, [FakeRun("ca1", "Queued", "web", decision.run_trigger())]) == []


def test_the_queue_policy_supersedes_nothing() -> None:
    decision = decide(push_event(delivery="new"), make_task())
    old = decide(push_event(delivery="old"), make_task()).run_trigger()
    assert superseded_runs(decision, [FakeRun("ca1", "Running", "web", old)]) == []


def test_a_decision_that_starts_nothing_supersedes_nothing() -> None:
    task = make_task(concurrency=ConcurrencyPolicy.CANCEL_SUPERSEDED)
    old = decide(push_event(delivery="old"), task).run_trigger()
    decision = decide(push_event(delivery="new", deleted=True), task)
    assert superseded_runs(decision, [FakeRun("ca1", "Running", "web", old)]) == []


# Summaries


def test_the_outcome_summary_names_the_tasks_that_start() -> None:
    event = push_event()
    decisions = match_source_event(event, [make_task("a"), make_task("b", branch="dev")])
    assert outcome_summary(event, decisions) == "starts 1 run(s): a"


def test_the_outcome_summary_explains_when_no_task_builds_from_the_repository() -> None:
    event = push_event()
    assert outcome_summary(event, []) == (f"no task builds from {REPO}; a task is matched by its context URL")


def test_a_ping_from_a_hook_without_push_events_says_what_to_subscribe() -> None:
    event = parse_github_event("ping", DELIVERY, encode(ping_payload(events=["issues"])))
    assert "subscribe it to push and pull_request events" in outcome_summary(event, [])
