"""Builders for GitHub webhook deliveries, with GitHub's own field names (push, pull_request, ping).

Payloads follow github/docs `webhook-events-and-payloads`, trimmed to fields a receiver can rely on
but keeping the shape (nested `repository`, `owner`, `head_commit`, `pull_request.head.repo`, …) so
parsers are tested against what GitHub sends. `signed_delivery` returns the body and headers a
local Functions host would receive.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from typing import Any

ZERO_SHA = "0" * 40
TEST_SECRET = "slipway-test-webhook-secret"


def sha(seed: str | int) -> str:
    """A deterministic 40-hex commit SHA."""
    return hashlib.sha1(str(seed).encode(), usedforsecurity=False).hexdigest()


def repository(full_name: str = "octo-org/hello-world", *, private: bool = False, host: str = "github.com") -> dict:
    owner, name = full_name.split("/", 1)
    return {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": full_name,
        "private": private,
        "visibility": "private" if private else "public",
        "owner": {"name": owner, "login": owner, "id": 6811672, "type": "Organization"},
        "html_url": f"https://{host}/{full_name}",
        "description": "My first repository",
        "fork": False,
        "url": f"https://{host}/{full_name}",
        "git_url": f"git://{host}/{full_name}.git",
        "ssh_url": f"git@{host}:{full_name}.git",
        "clone_url": f"https://{host}/{full_name}.git",
        "default_branch": "main",
        "master_branch": "main",
        "created_at": 1700000000,
        "pushed_at": 1764160000,
    }


def commit(
    seed: str | int,
    *,
    added: Sequence[str] = (),
    modified: Sequence[str] = (),
    removed: Sequence[str] = (),
    message: str = "Update the build",
    distinct: bool = True,
    full_name: str = "octo-org/hello-world",
) -> dict:
    commit_id = sha(seed)
    person = {"name": "Mona Lisa", "email": "mona@example.com", "username": "monalisa"}
    return {
        "id": commit_id,
        "tree_id": sha(f"tree-{seed}"),
        "distinct": distinct,
        "message": message,
        "timestamp": "2026-11-26T12:00:00+01:00",
        "url": f"https://github.com/{full_name}/commit/{commit_id}",
        "author": person,
        "committer": person,
        "added": list(added),
        "removed": list(removed),
        "modified": list(modified),
    }


def push_payload(
    *,
    ref: str = "refs/heads/main",
    commits: Sequence[dict] | None = None,
    before: str | None = None,
    after: str | None = None,
    created: bool = False,
    deleted: bool = False,
    forced: bool = False,
    full_name: str = "octo-org/hello-world",
    repo: dict | None = None,
) -> dict:
    """A push; by default one commit modifying `README.md`. `deleted=True` makes a branch deletion."""
    if commits is None:
        commits = [] if deleted else [commit("c1", modified=["README.md"], full_name=full_name)]
    after = after or (ZERO_SHA if deleted else (commits[-1]["id"] if commits else sha("existing")))
    before = before or (ZERO_SHA if created else sha("before"))
    repo = repo or repository(full_name)
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": repo,
        "pusher": {"name": "monalisa", "email": "mona@example.com"},
        "sender": {"login": "monalisa", "id": 583231, "type": "User"},
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": f"{repo['html_url']}/compare/{before[:12]}...{after[:12]}",
        "commits": list(commits),
        "head_commit": None if deleted or not commits else commits[-1],
    }


def pull_request_payload(
    *,
    action: str = "opened",
    number: int = 7,
    head_sha: str | None = None,
    head_ref: str = "feature/login",
    base_ref: str = "main",
    full_name: str = "octo-org/hello-world",
    fork: str | None = None,
    fork_deleted: bool = False,
    merged: bool = False,
) -> dict:
    """A pull_request event; `fork="alice/hello-world"` makes a cross-repository PR."""
    base_repo = repository(full_name)
    head_repo: dict | None = None if fork_deleted else repository(fork or full_name)
    head_sha = head_sha or sha(f"pr-{number}-head")
    state = "closed" if action == "closed" else "open"
    base_owner = full_name.partition("/")[0]
    head_owner = (fork or full_name).partition("/")[0]
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{full_name}/pulls/{number}",
            "id": 1000 + number,
            "html_url": f"https://github.com/{full_name}/pull/{number}",
            "number": number,
            "state": state,
            "locked": False,
            "title": "Add a login page",
            "user": {"login": "alice", "id": 1},
            "body": "Please pull these awesome changes in!",
            "draft": False,
            "merged": merged,
            "merge_commit_sha": sha(f"merge-{number}") if merged else None,
            "head": {
                "label": f"{head_owner}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": {"login": head_owner},
                "repo": head_repo,
            },
            "base": {
                "label": f"{base_owner}:{base_ref}",
                "ref": base_ref,
                "sha": sha(f"base-{base_ref}"),
                "user": {"login": base_owner},
                "repo": base_repo,
            },
        },
        "repository": base_repo,
        "sender": {"login": "alice", "id": 1, "type": "User"},
    }


def ping_payload(
    *, events: Sequence[str] = ("push", "pull_request"), full_name: str | None = "octo-org/hello-world"
) -> dict:
    payload: dict[str, Any] = {
        "zen": "Design for failure.",
        "hook_id": 109948940,
        "hook": {
            "type": "Repository",
            "id": 109948940,
            "name": "web",
            "active": True,
            "events": list(events),
            "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://slipway.example/github"},
        },
        "sender": {"login": "monalisa", "id": 583231},
    }
    if full_name:
        payload["repository"] = repository(full_name)
    return payload


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def sign(body: bytes, secret: str = TEST_SECRET) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_delivery(
    event: str, payload: dict, *, secret: str = TEST_SECRET, delivery_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery, as GitHub would POST them."""
    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "109948940",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": "1296269",
        "X-Hub-Signature-256": sign(body, secret),
    }
    return body, headers
