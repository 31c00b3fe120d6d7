"""Which tasks a GitHub push or pull request starts, and why the others do not.

`match_source_event` is pure: it takes a normalised `SourceEvent` and the tasks, and returns one
`TaskDecision` per task that builds from the event's repository, each with a reason a user can act
on ("push to 'dev', task watches 'main'") and everything the run needs (commit, refs, idempotency
key). Tasks are matched by their context URL, compared by `repository_key` (scheme, `www.`, `.git`,
credentials, port and case do not matter; `git@host:org/repo` equals `https://host/org/repo.git`).

Path filters follow GitHub Actions' `paths` / `paths-ignore` globs: `*` and `?` stay within one
folder, `**` crosses folders (`**/` also matches no folder), `[abc]` is a class, a trailing `/` means
everything below. A push starts a run when at least one changed file matches `include_paths` (all
files do when it is empty) and no `exclude_paths` pattern; an `include_paths` entry starting with `!`
is an exclusion, as in GitHub Actions. When GitHub's list of changed files is incomplete (2048+
commits, force pushes, new branches without new commits) or absent (pull requests carry no file
list) the filters cannot rule the event out, so the run starts and the decision says why.

The context subfolder (`repo.git#main:app`) is not a path filter: ACR builds on any change, so a
migrated task keeps its behaviour, and a filter that `task show` does not display would make "why
didn't my build run?" harder to answer. When a run starts although no changed file is under the
subfolder, the decision suggests `includePaths: ["app/**"]`, which says the same thing visibly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from core.github_events import EventKind, PullRequest, Push, SourceEvent
from core.tasks import ConcurrencyPolicy, GitSource, Task

PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
ACTIVE_RUN_STATUSES = frozenset({"Queued", "Started", "Running"})
_SCP_URL = re.compile(r"(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!//).+)")
_SHOWN_FILES = 3


class TriggerKind(StrEnum):
    COMMIT = "commit"  # ACR's SourceTriggerEvent values
    PULL_REQUEST = "pullrequest"


class DecisionReason(StrEnum):
    MATCHED = "Matched"
    MATCHED_PATHS_UNKNOWN = "MatchedPathsUnknown"  # starts: the path filters could not be evaluated
    TASK_DISABLED = "TaskDisabled"
    NO_GIT_SOURCE = "NoGitSource"
    REPOSITORY_DIFFERS = "RepositoryDiffers"
    COMMIT_TRIGGER_DISABLED = "CommitTriggerDisabled"
    PULL_REQUEST_TRIGGER_DISABLED = "PullRequestTriggerDisabled"
    TAG_PUSH = "TagPush"
    NOT_A_BRANCH = "NotABranch"
    BRANCH_DIFFERS = "BranchDiffers"
    BRANCH_DELETED = "BranchDeleted"
    PULL_REQUEST_ACTION = "PullRequestActionIgnored"
    PATHS_NOT_MATCHED = "PathsNotMatched"


@dataclass(frozen=True)
class TaskDecision:
    """Whether one task starts a run for one event, why, and what that run builds."""

    task: str
    starts: bool
    reason: DecisionReason
    message: str
    delivery_id: str
    trigger_kind: TriggerKind
    repository_url: str  # the task's git URL, which the run clones
    commit: str  # the SHA to check out: the pushed commit, or the PR's head
    branch: str  # the pushed branch, or the PR's head branch (never the base: a PR must not pass as 'main')
    fetch_ref: str  # "refs/heads/<branch>", or "refs/pull/<n>/head" (which also carries fork commits)
    source_location: str  # "<url>#<commit>:<subfolder>", the run's context
    base_branch: str | None = None  # the branch a PR targets
    pull_request_number: int | None = None
    head_repository_url: str = ""  # the fork's clone URL for cross-repository PRs
    from_fork: bool = False
    concurrency: ConcurrencyPolicy = ConcurrencyPolicy.QUEUE

    @property
    def idempotency_key(self) -> str:
        """One run per delivery and task, however often the delivery or queue message is retried."""
        return idempotency_key(self.delivery_id, self.task)

    def run_trigger(self) -> dict[str, Any]:
        """The run's trigger metadata, in ACR's SourceTriggerDescriptor names where it has one."""
        return {
            "kind": self.trigger_kind.value,
            "eventType": self.trigger_kind.value,
            "providerType": "GitHub",
            "deliveryId": self.delivery_id,
            "idempotencyKey": self.idempotency_key,
            "repositoryUrl": self.repository_url,
            "commitId": self.commit,
            "branchName": self.branch,
            "fetchRef": self.fetch_ref,
            "baseBranch": self.base_branch,
            "pullRequestId": self.pull_request_number,
            "headRepositoryUrl": self.head_repository_url,
            "fromFork": self.from_fork,
        }


class RunLike(Protocol):
    """What `superseded_runs` reads from a run (`core.runs.Run` fits)."""

    @property
    def run_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def task(self) -> str | None: ...

    @property
    def trigger(self) -> Mapping[str, Any]: ...


def idempotency_key(delivery_id: str, task: str) -> str:
    # Task names cannot contain ':', so the key splits unambiguously at its last ':'.
    return f"github:{delivery_id}:{task}"


def repository_key(url: str) -> str:
    """`host/owner/repo`, lowercase, for comparing repository URLs written in different ways.

    `repository_key("git@GitHub.com:Octo/App.git")` → `"github.com/octo/app"`.
    """
    text = url.strip().split("#", 1)[0]
    if "://" in text:
        parts = urlsplit(text)
        host, path = parts.hostname or "", parts.path
    elif (scp := _SCP_URL.fullmatch(text)) is not None:
        host, path = scp.group("host"), scp.group("path")
    else:
        host, _, path = text.partition("/")
    host = host.lower().removeprefix("www.")
    path = path.strip("/").lower().removesuffix(".git").rstrip("/")
    return f"{host}/{path}"


def glob_to_regex(pattern: str) -> str:
    """A GitHub Actions style path glob as a regular expression (to be matched in full)."""
    text = pattern.strip().removeprefix("./").lstrip("/")
    if text.endswith("/"):
        text += "**"
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            piece, i = _stars(text, i)
        elif char == "[":
            piece, i = _char_class(text, i)
        else:
            piece, i = ("[^/]" if char == "?" else re.escape(char)), i + 1
        out.append(piece)
    return "".join(out)


def _stars(text: str, start: int) -> tuple[str, int]:
    end = start
    while end < len(text) and text[end] == "*":
        end += 1
    if end - start == 1:
        return "[^/]*", end
    if end < len(text) and text[end] == "/":
        return "(?:.*/)?", end + 1  # "**/" also matches no folder at all
    return ".*", end


def _char_class(text: str, start: int) -> tuple[str, int]:
    end = start + 1
    if end < len(text) and text[end] in "!^":
        end += 1
    if end < len(text) and text[end] == "]":
        end += 1  # a leading ']' is a member, as in fnmatch
    end = text.find("]", end)
    if end < 0:
        return re.escape("["), start + 1
    members = text[start + 1 : end]
    negated = members[:1] in ("!", "^")
    members = members[1:] if negated else members
    items: list[str] = []
    k = 0
    while k < len(members):
        if k + 2 < len(members) and members[k + 1] == "-":
            low, high = members[k], members[k + 2]
            if low <= high:  # a reversed range matches nothing, as in fnmatch
                items.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            items.append(re.escape(members[k]))  # escaped, so no member can open a nested set
            k += 1
    body = "".join(items)
    if negated:
        return f"[^/{body}]", end + 1  # a negated class still stays within one folder
    if not body:
        return "(?!)", end + 1
    return f"[{body}]", end + 1


@dataclass(frozen=True)
class PathFilter:
    include: re.Pattern[str] | None  # None: every path is included
    exclude: re.Pattern[str] | None
    include_patterns: tuple[str, ...]
    exclude_patterns: tuple[str, ...]

    def admits(self, path: str) -> bool:
        if self.include is not None and self.include.fullmatch(path) is None:
            return False
        return self.exclude is None or self.exclude.fullmatch(path) is None


def _alternation(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{glob_to_regex(p)})" for p in patterns))


@functools.lru_cache(maxsize=4096)
def path_filter(include: tuple[str, ...], exclude: tuple[str, ...]) -> PathFilter | None:
    """The compiled filter for a task's globs, cached; None when the task has no path filter."""
    includes = tuple(p for p in include if p.strip() and not p.startswith("!"))
    excludes = tuple(p for p in exclude if p.strip()) + tuple(p[1:] for p in include if p.startswith("!"))
    if not includes and not excludes:
        return None
    return PathFilter(_alternation(includes), _alternation(excludes), includes, excludes)


def match_source_event(event: SourceEvent, tasks: Iterable[Task], *, all_tasks: bool = False) -> list[TaskDecision]:
    """One decision per task that builds from the event's repository (or per task, with `all_tasks`).

    Pings and ignored events concern no task and give an empty list.
    """
    if event.repository is None or event.kind not in (EventKind.PUSH, EventKind.PULL_REQUEST):
        return []
    repository = event.repository
    event_keys = {repository_key(u) for u in (repository.clone_url, repository.html_url, repository.ssh_url) if u}
    decisions: list[TaskDecision] = []
    for task in tasks:
        git = task.git
        if git is None or repository_key(git.url) not in event_keys:
            if all_tasks:
                decisions.append(_unrelated(event, task, git))
            continue
        decisions.append(_decide(event, task, git))
    return decisions


def _decision(
    event: SourceEvent, task: Task, git: GitSource | None, reason: DecisionReason, message: str, *, starts: bool = False
) -> TaskDecision:
    url = git.url if git else ""
    subfolder = git.subfolder if git else ""
    pr, push = event.pull_request, event.push
    if pr is not None:
        return TaskDecision(
            task=task.name,
            starts=starts,
            reason=reason,
            message=message,
            delivery_id=event.delivery_id,
            trigger_kind=TriggerKind.PULL_REQUEST,
            repository_url=url,
            commit=pr.head_sha,
            branch=pr.head_ref,
            fetch_ref=f"refs/pull/{pr.number}/head",
            source_location=GitSource(url, pr.head_sha, subfolder).location if url else "",
            base_branch=pr.base_ref,
            pull_request_number=pr.number,
            head_repository_url=pr.head_clone_url,
            from_fork=pr.from_fork,
            concurrency=task.concurrency,
        )
    commit = push.after if push is not None and not push.deleted else ""
    return TaskDecision(
        task=task.name,
        starts=starts,
        reason=reason,
        message=message,
        delivery_id=event.delivery_id,
        trigger_kind=TriggerKind.COMMIT,
        repository_url=url,
        commit=commit,
        branch=(push.branch if push else None) or "",
        fetch_ref=push.ref if push else "",
        source_location=GitSource(url, commit or None, subfolder).location if url else "",
        concurrency=task.concurrency,
    )


def _unrelated(event: SourceEvent, task: Task, git: GitSource | None) -> TaskDecision:
    repo = event.repository.full_name if event.repository else "?"
    if git is None:
        reason, message = DecisionReason.NO_GIT_SOURCE, f"the task's context '{task.context}' is not a git repository"
    else:
        reason = DecisionReason.REPOSITORY_DIFFERS
        message = f"the event is for {repo}; the task builds from {git.url}"
    return _decision(event, task, git, reason, message)


def _decide(event: SourceEvent, task: Task, git: GitSource) -> TaskDecision:
    watched = task.source_trigger.branch.removeprefix("refs/heads/")
    blocker: tuple[DecisionReason, str] | None = None
    if not task.enabled:
        blocker = DecisionReason.TASK_DISABLED, f"the task is {task.status.value}"
    elif event.push is not None:
        blocker = _push_blocker(event.push, task, watched)
        if blocker is None:
            return _push_match(event, task, git, event.push)
    elif event.pull_request is not None:
        blocker = _pull_request_blocker(event.pull_request, task, watched)
        if blocker is None:
            return _pull_request_match(event, task, git, event.pull_request)
    reason, message = blocker or (DecisionReason.NOT_A_BRANCH, "the event names no branch")
    return _decision(event, task, git, reason, message)


def _push_blocker(push: Push, task: Task, watched: str) -> tuple[DecisionReason, str] | None:
    if not task.source_trigger.commit_enabled:
        return DecisionReason.COMMIT_TRIGGER_DISABLED, "the task's commit trigger is off"
    if push.tag is not None:
        return DecisionReason.TAG_PUSH, f"push of tag '{push.tag}'; commit triggers build branches only"
    if push.branch is None:
        return DecisionReason.NOT_A_BRANCH, f"push to {push.ref}, which is not a branch"
    if push.branch != watched:
        return DecisionReason.BRANCH_DIFFERS, f"push to '{push.branch}', task watches '{watched}'"
    if push.deleted:
        return DecisionReason.BRANCH_DELETED, f"branch '{push.branch}' was deleted; nothing to build"
    return None


def _pull_request_blocker(pr: PullRequest, task: Task, watched: str) -> tuple[DecisionReason, str] | None:
    if not task.source_trigger.pull_request_enabled:
        return DecisionReason.PULL_REQUEST_TRIGGER_DISABLED, "the task's pull-request trigger is off"
    if pr.base_ref != watched:
        return (
            DecisionReason.BRANCH_DIFFERS,
            f"pull request #{pr.number} targets '{pr.base_ref}', task watches '{watched}'",
        )
    if pr.action not in PULL_REQUEST_ACTIONS:
        merged = " (merged: the push to the base branch is a commit trigger)" if pr.merged else ""
        return (
            DecisionReason.PULL_REQUEST_ACTION,
            f"pull request #{pr.number} was {pr.action}{merged}; runs start on opened, synchronize and reopened",
        )
    return None


def _pull_request_match(event: SourceEvent, task: Task, git: GitSource, pr: PullRequest) -> TaskDecision:
    fork = f" from fork {pr.head_full_name or '(deleted)'}" if pr.from_fork else ""
    what = f"pull request #{pr.number} {pr.action}{fork} into '{pr.base_ref}' at {pr.head_sha[:7]}"
    if path_filter(task.source_trigger.include_paths, task.source_trigger.exclude_paths) is None:
        return _decision(event, task, git, DecisionReason.MATCHED, f"{what} matches", starts=True)
    message = (
        f"{what} matches; path filters are not applied to pull requests because GitHub's webhook does not "
        "list their changed files"
    )
    return _decision(event, task, git, DecisionReason.MATCHED_PATHS_UNKNOWN, message, starts=True)


def _shown(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_SHOWN_FILES])
    return shown + (f" and {len(paths) - _SHOWN_FILES} more" if len(paths) > _SHOWN_FILES else "")


def _push_match(event: SourceEvent, task: Task, git: GitSource, push: Push) -> TaskDecision:
    what = f"push to '{push.branch}' at {push.after[:7]}"
    files = push.changed_files
    rules = path_filter(task.source_trigger.include_paths, task.source_trigger.exclude_paths)
    if rules is None:
        hint = _subfolder_hint(git, files.paths) if files.complete else ""
        return _decision(event, task, git, DecisionReason.MATCHED, f"{what} matches{hint}", starts=True)
    admitted = [path for path in files.paths if rules.admits(path)]
    if admitted:
        message = f"{what} changed {_shown(admitted)}, which the path filters admit"
        return _decision(event, task, git, DecisionReason.MATCHED, message, starts=True)
    if not files.complete:
        message = f"{what}: {files.note}, so the path filters cannot rule it out and the run starts"
        return _decision(event, task, git, DecisionReason.MATCHED_PATHS_UNKNOWN, message, starts=True)
    return _decision(event, task, git, DecisionReason.PATHS_NOT_MATCHED, _no_path_match(what, files.paths, rules))


def _no_path_match(what: str, paths: Sequence[str], rules: PathFilter) -> str:
    if not paths:
        return f"{what} changed no files, and the task has path filters"
    included = [p for p in paths if rules.include is None or rules.include.fullmatch(p)]
    excludes = ", ".join(rules.exclude_patterns)
    if not included:
        return f"{what} changed {_shown(paths)}; none matches includePaths ({', '.join(rules.include_patterns)})"
    if rules.include is None:
        return f"{what} changed only excluded files ({_shown(paths)} match excludePaths {excludes})"
    return f"{what} changed {_shown(included)}, which match includePaths but also excludePaths ({excludes})"


def _subfolder_hint(git: GitSource, paths: Sequence[str]) -> str:
    if not git.subfolder or not paths:
        return ""
    prefix = git.subfolder.rstrip("/") + "/"
    if any(path.startswith(prefix) for path in paths):
        return ""
    return (
        f" (no changed file is under the context folder '{git.subfolder}'; set includePaths "
        f"to ['{prefix}**'] to build only when it changes)"
    )


def concurrency_key(trigger: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """Runs with equal keys compete under `cancel-superseded`: same repository and branch, or same PR."""
    kind = trigger.get("kind")
    repository = repository_key(str(trigger.get("repositoryUrl") or ""))
    if kind == TriggerKind.COMMIT.value and trigger.get("branchName"):
        return (kind, repository, str(trigger["branchName"]))
    if kind == TriggerKind.PULL_REQUEST.value and trigger.get("pullRequestId") is not None:
        return (kind, repository, str(trigger["pullRequestId"]))
    return None


def superseded_runs(decision: TaskDecision, active_runs: Iterable[RunLike]) -> list[str]:
    """IDs of the task's unfinished runs that `decision`'s new run replaces under `cancel-superseded`.

    Call it before creating the new run: every run passed in counts as older. Runs of other
    branches or pull requests, finished runs, and the run of this same delivery are kept.
    """
    if not decision.starts or decision.concurrency is not ConcurrencyPolicy.CANCEL_SUPERSEDED:
        return []
    key = concurrency_key(decision.run_trigger())
    if key is None:
        return []
    return [
        run.run_id
        for run in active_runs
        if run.task == decision.task
        and str(run.status) in ACTIVE_RUN_STATUSES
        and run.trigger.get("idempotencyKey") != decision.idempotency_key
        and concurrency_key(run.trigger) == key
    ]


def outcome_summary(event: SourceEvent, decisions: Sequence[TaskDecision]) -> str:
    """One line for the event inbox: how many runs start, or why none could."""
    if event.kind is EventKind.IGNORED:
        return event.ignored_reason
    if event.ping is not None:
        events = set(event.ping.events)
        if events and not events & {"push", "pull_request", "*"}:
            return (
                f"ping: the webhook reaches Slipway but sends only {', '.join(sorted(events))}; "
                "subscribe it to push and pull_request events"
            )
        return "ping: the webhook reaches Slipway"
    starting = [d.task for d in decisions if d.starts]
    if starting:
        return f"starts {len(starting)} run(s): {', '.join(starting)}"
    if not decisions:
        url = event.repository.clone_url if event.repository else "this repository"
        return f"no task builds from {url}; a task is matched by its context URL"
    return f"no run starts; {len(decisions)} task(s) considered"
