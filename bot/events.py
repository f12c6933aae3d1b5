"""Webhook deliveries as domain events: signature check, payload → frozen event, `/quorum` commands.

Pure (stdlib only) so it is tested without a server. Raw payload dicts stop here: `parse_event` returns
one of the small event types below or None for what Quorum does not handle, and raises `InputError`
(naming the bad field, never echoing its value) for a malformed payload of an event it does handle.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeAlias

from bot.errors import InputError

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is `sha256=<hex HMAC-SHA256 of body>` under `secret` (constant-time)."""
    if not secret or header is None:
        return False
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1).lower())


class Verb(StrEnum):
    """What a maintainer may ask of Quorum in a PR comment, in the order a reply lists them."""

    STATUS = "status"
    PAUSE = "pause"
    RESUME = "resume"
    MERGE = "merge"
    ESCALATE = "escalate"
    REVIEW = "review"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Command:
    """One `/quorum <verb> [args]` line; `raw` is that line (trimmed, capped) for a polite reply."""

    verb: Verb
    args: tuple[str, ...] = ()
    raw: str = ""


_COMMAND_LINE = re.compile(r"/quorum(?:\s+(?P<rest>.*))?", re.IGNORECASE)
_FENCE = re.compile(r"(```|~~~)")
_RAW_CAP = 200


def parse_command(body: str) -> Command | None:
    """The first `/quorum …` line of a comment, or None. Lines inside fenced code blocks, quoted lines
    (`>`) and indented code are not commands, nor is `/quorum` in the middle of a sentence."""
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line.lstrip()):
            in_fence = not in_fence
            continue
        if in_fence or line.startswith(("    ", "\t")):
            continue
        match = _COMMAND_LINE.fullmatch(line.strip())
        if match is not None:
            return _command(match.group("rest") or "", line.strip()[:_RAW_CAP])
    return None


def _command(rest: str, raw: str) -> Command:
    words = rest.split()
    if not words:
        return Command(Verb.UNKNOWN, raw=raw)
    try:
        verb = Verb(words[0].lower())
    except ValueError:
        verb = Verb.UNKNOWN
    if verb is Verb.UNKNOWN:
        return Command(Verb.UNKNOWN, tuple(words), raw)
    return Command(verb, tuple(words[1:]), raw)


@dataclass(frozen=True, slots=True)
class PullRequestChanged:
    """A PR needs (re)consideration: opened, reopened, pushed to, ready, its base changed, or drafted."""

    repo: str
    number: int
    head_sha: str
    action: str
    actor: str
    draft: bool
    author: str
    author_is_bot: bool
    base_ref: str = ""


@dataclass(frozen=True, slots=True)
class PullRequestClosed:
    """A PR was closed, merged or not (possibly by someone other than Quorum)."""

    repo: str
    number: int
    merged: bool
    actor: str


@dataclass(frozen=True, slots=True)
class CommandIssued:
    """A `/quorum` command in a PR comment written at `created_at` (GitHub's clock, epoch s; 0.0: unknown)."""

    repo: str
    number: int
    actor: str
    command: Command
    comment_id: int
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Reviewed:
    """A review was submitted or dismissed, by a person or a bot; `actor` is the reviewer, `state` lower."""

    repo: str
    number: int
    actor: str
    state: str
    commit_sha: str


@dataclass(frozen=True, slots=True)
class ChecksChanged:
    """Checks or statuses finished on `head_sha`; `pr_numbers` is empty for statuses and fork pushes;
    `source` is the app slug (check events) or the status context, so Quorum can skip its own echo."""

    repo: str
    head_sha: str
    pr_numbers: tuple[int, ...]
    source: str = ""


@dataclass(frozen=True, slots=True)
class InstallationChanged:
    """The set of repositories the App may see changed."""

    action: str
    repos_added: tuple[str, ...]
    repos_removed: tuple[str, ...]
    installation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """GitHub checks that the hook is reachable (sent when it is created)."""

    zen: str
    hook_id: int


Event: TypeAlias = (
    PullRequestChanged
    | PullRequestClosed
    | CommandIssued
    | Reviewed
    | ChecksChanged
    | InstallationChanged
    | Ping
)


class Intake(Protocol):
    """Where the webhook hands verified events: it only records them (dedupe, enqueue), in milliseconds."""

    async def accept(self, event: Event, delivery_id: str) -> str:
        """Record `event`; return a short word for the log and the response (queued, duplicate, ignored…).
        Raises `CoordinationUnavailable` when the shared store cannot take it."""
        ...


@dataclass(frozen=True, slots=True)
class Summary:
    """What one delivery is about, for the log line; read leniently, never raises."""

    action: str = ""
    repo: str = ""
    pr: int | None = None


def summarize(payload: Mapping[str, Any]) -> Summary:
    """Action, repository and PR number of a decoded payload, where present (for logging only)."""
    action = payload.get("action")
    repository = payload.get("repository")
    repo = repository.get("full_name") if isinstance(repository, Mapping) else None
    pr = None
    for key in ("pull_request", "issue"):
        holder = payload.get(key)
        if isinstance(holder, Mapping) and _is_int(holder.get("number")):
            pr = holder["number"]
            break
    return Summary(action if isinstance(action, str) else "", repo if isinstance(repo, str) else "", pr)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _View:
    """Typed, path-aware reads of a payload object; a missing or mistyped field raises `InputError`."""

    __slots__ = ("data", "path")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise InputError(f"malformed webhook payload: {path} is not an object")
        self.data: Mapping[str, Any] = data
        self.path = path

    def _get(self, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.data.get(key)
        if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            state = "missing" if value is None else f"not {what}"
            raise InputError(f"malformed webhook payload: {self.path}.{key} is {state}")
        return value

    def obj(self, key: str) -> _View:
        return _View(self._get(key, Mapping, "an object"), f"{self.path}.{key}")

    def text(self, key: str) -> str:
        return str(self._get(key, str, "a string"))

    def integer(self, key: str) -> int:
        return int(self._get(key, int, "an integer"))

    def flag(self, key: str, default: bool) -> bool:
        return default if self.data.get(key) is None else bool(self._get(key, bool, "a boolean"))

    def objects(self, key: str, *, optional: bool = False) -> list[_View]:
        if optional and self.data.get(key) is None:
            return []
        items = self._get(key, list, "a list")
        return [_View(item, f"{self.path}.{key}[{i}]") for i, item in enumerate(items)]

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None


_PR_ACTIONS = frozenset({"opened", "reopened", "synchronize", "ready_for_review", "converted_to_draft"})


def _pull_request(action: str, root: _View) -> Event | None:
    if action == "edited" and not (root.has("changes") and root.obj("changes").has("base")):
        return None  # a title or body edit changes nothing Quorum decides on
    if action not in _PR_ACTIONS | {"edited", "closed"}:
        return None
    pr, repo, actor = root.obj("pull_request"), _repo(root), _login(root.obj("sender"))
    if action == "closed":
        return PullRequestClosed(repo, pr.integer("number"), pr.flag("merged", False), actor)
    user = pr.obj("user")
    return PullRequestChanged(
        repo=repo,
        number=pr.integer("number"),
        head_sha=pr.obj("head").text("sha"),
        action=action,
        actor=actor,
        draft=pr.flag("draft", False),
        author=_login(user),
        author_is_bot=_is_bot(user),
        base_ref=pr.obj("base").text("ref"),
    )


def _issue_comment(action: str, root: _View) -> Event | None:
    if action != "created":
        return None
    issue, comment = root.obj("issue"), root.obj("comment")
    if not issue.has("pull_request") or _is_bot(comment.obj("user")) or _is_bot(root.obj("sender")):
        return None
    command = parse_command(comment.data.get("body") or "")
    if command is None:
        return None
    repo, number, at = _repo(root), issue.integer("number"), _epoch(comment.data.get("created_at"))
    return CommandIssued(repo, number, _login(comment.obj("user")), command, comment.integer("id"), at)


def _pull_request_review(action: str, root: _View) -> Event | None:
    if action not in {"submitted", "dismissed"}:
        return None
    review = root.obj("review")
    # A bot's review (Quorum's own included) is an event too: it brings the PR back to a job, which retires
    # a late write of a replica that lost the PR. It never approves: approvals are read from the reviews
    # API with the reviewer's permission, never from this event.
    state = review.text("state").lower()
    pr = root.obj("pull_request")
    return Reviewed(
        _repo(root), pr.integer("number"), _login(review.obj("user")), state, review.text("commit_id")
    )


def _check(kind: str) -> Callable[[str, _View], Event | None]:
    def parse(action: str, root: _View) -> Event | None:
        if action != "completed":
            return None
        check = root.obj(kind)
        numbers = tuple(p.integer("number") for p in check.objects("pull_requests", optional=True))
        source = check.obj("app").data.get("slug", "") if check.has("app") else ""
        return ChecksChanged(_repo(root), check.text("head_sha"), numbers, str(source))

    return parse


def _status(action: str, root: _View) -> Event | None:
    # `status` deliveries carry no action and no PR numbers: the caller maps the SHA to its PRs.
    return ChecksChanged(_repo(root), root.text("sha"), (), root.text("context"))


def _installation(action: str, root: _View) -> Event | None:
    if action not in {"created", "deleted", "suspend", "unsuspend"}:
        return None
    installation_id = root.obj("installation").integer("id")
    names = _names(root.objects("repositories", optional=True))
    gained = action in {"created", "unsuspend"}
    return InstallationChanged(action, names if gained else (), () if gained else names, installation_id)


def _installation_repositories(action: str, root: _View) -> Event | None:
    if action not in {"added", "removed"}:
        return None
    installation_id = root.obj("installation").integer("id")
    added = _names(root.objects("repositories_added", optional=True))
    removed = _names(root.objects("repositories_removed", optional=True))
    return InstallationChanged(action, added, removed, installation_id)


def _ping(action: str, root: _View) -> Event | None:
    return Ping(str(root.data.get("zen") or ""), root.integer("hook_id"))


def _repo(root: _View) -> str:
    return root.obj("repository").text("full_name")


def _login(user: _View) -> str:
    return user.text("login")


def _is_bot(user: _View) -> bool:
    return user.data.get("type") == "Bot" or user.text("login").endswith("[bot]")


def _epoch(value: object) -> float:
    """GitHub's ISO 8601 time as epoch seconds; 0.0 when absent, unreadable or without a zone."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return parsed.timestamp() if isinstance(value, str) and parsed.tzinfo is not None else 0.0


def _names(repos: list[_View]) -> tuple[str, ...]:
    return tuple(r.text("full_name") for r in repos)


_PARSERS: dict[str, Callable[[str, _View], Event | None]] = {
    "pull_request": _pull_request,
    "issue_comment": _issue_comment,
    "pull_request_review": _pull_request_review,
    "check_suite": _check("check_suite"),
    "check_run": _check("check_run"),
    "status": _status,
    "installation": _installation,
    "installation_repositories": _installation_repositories,
    "ping": _ping,
}


def handles(event_name: str) -> bool:
    """True when Quorum parses deliveries of this `X-GitHub-Event` at all."""
    return event_name in _PARSERS


def parse_event(event_name: str, payload: Mapping[str, Any]) -> Event | None:
    """The domain event of one delivery, or None when Quorum does not act on this event or action.

    Raises `InputError` when a handled event's payload lacks a field or has one of the wrong type."""
    parser = _PARSERS.get(event_name)
    if parser is None:
        return None
    root = _View(payload, event_name)
    action = root.data.get("action")
    if action is not None and not isinstance(action, str):
        raise InputError(f"malformed webhook payload: {event_name}.action is not a string")
    return parser(action or "", root)
