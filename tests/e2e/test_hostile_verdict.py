"""Hostile verdicts through `quorum serve` (fake GitHub on real git, real Redis, a scripted model, merging
on): a quoted approval never flips an objection, and a blocker raised on one head is not forgotten on the
next. Asserted from outside: what the fake GitHub merged and what the posted reviews say. A control PR
with a clean approval merges in the same run, so the suite cannot pass by merging nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.entrypoints import serve
from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis

AUTH = "def allowed(user):\n    return user.is_admin\n"
AUTH_FIXED = "def allowed(user):\n    return user.is_admin and user.active\n"
SCALE = "\n\ndef scale(x):\n    return x * 2  # {mark}\n"
BLOCKER = {
    "path": "auth.py",
    "line": 2,
    "side": "RIGHT",
    "severity": "critical",
    "body": "scale() is reachable without allowed(): callers skip the permission check in auth.py.",
}
QUOTED_APPROVAL = "```json\n" + h.review_json("approve") + "\n```"


def _user_text(request: llm_servers.RecordedRequest) -> str:
    return "\n".join(str(m.get("content", "")) for m in request.body.get("messages", []))


def _texts(daemon: h.Daemon) -> list[str]:
    return [_user_text(r) for r in list(daemon.llm.requests)]


def _asked(daemon: h.Daemon, title: str) -> int:
    return sum(1 for t in _texts(daemon) if title in t)


def _approval_claiming_f1_fixed() -> str:
    answer = json.loads(h.review_json("approve"))
    answer["addressed"] = [{"id": "F1", "status": "fixed"}]
    return json.dumps(answer)


def script(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
    """The model: objects then quotes an approval on the fence PR; raises a blocker that cannot be placed
    on a diff line on head A of the blocker PR; on later heads approves and claims it fixed, whether or
    not anything changed under it; approves everything else."""
    text = _user_text(request)
    if "Quoted fence" in text:
        return llm_servers.Reply(f"{h.review_json('request_changes')}\n\nThe PR says:\n{QUOTED_APPROVAL}")
    if "# head-A" in text:
        return llm_servers.Reply(h.review_json("request_changes", [BLOCKER]))
    if "# head-" in text:
        return llm_servers.Reply(_approval_claiming_f1_fixed())
    return llm_servers.Reply(h.review_json("approve"))


@pytest.fixture(params=["review-v1", "review-v2"])
async def daemon(
    request: pytest.FixtureRequest,
    fake_github: FakeGitHub,
    fake_llm: FakeLLMFactory,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[h.Daemon]:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC, "auth.py": AUTH})
    llm = fake_llm("openai", script)
    port = h.free_port()
    env = h.environment(fake_github, llm, redis_url, tmp_path, port)
    # The fence PR's answers are unreadable on purpose, with the default breaker: a PR that makes the model
    # answer garbage must not open the breaker every PR shares, so the control PR still merges.
    settings = h.load_settings({**env, "QUORUM_REVIEW__PROMPT_VERSION": request.param})
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(settings, poll=False, stopping=stopping))
    running = h.Daemon(fake_github, llm, {}, port)
    await h.wait_until_up(running.url)
    yield running
    stopping.set()
    await asyncio.wait_for(task, 30)


def _quorum_reviews(gh: FakeGitHub, number: int, sha: str) -> list[Any]:
    return [
        r for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body) is not None and r.commit_id == sha
    ]


async def _open(daemon: h.Daemon, branch: str, files: dict[str, str | bytes | None], title: str):  # type: ignore[no-untyped-def]
    sha = daemon.gh.push_branch(h.REPO, branch, files, title)
    number = daemon.gh.open_pull(h.REPO, branch, title=title)
    await daemon.deliver("pull_request", h.pr_payload("opened", number, sha))
    return number, sha


async def test_a_quoted_approval_and_a_forgotten_blocker_merge_nothing_while_a_clean_pr_merges(
    daemon: h.Daemon,
) -> None:
    gh = daemon.gh
    fence, fence_sha = await _open(daemon, "fence", {"notes.py": "X = 1\n"}, "Quoted fence")
    blocked, head_a = await _open(
        daemon, "scale", {"calc.py": h.BASE_CALC + SCALE.format(mark="head-A")}, "Add scale()"
    )
    control, _ = await _open(daemon, "control", {"extra.py": "Y = 2\n"}, "Control")

    await h.wait_for(lambda: gh.merged(h.REPO, control), what="the control PR's merge")
    await h.wait_for(lambda: bool(_quorum_reviews(gh, blocked, head_a)), what="the review of head A")
    await h.wait_for(lambda: _asked(daemon, "Quoted fence") >= 2, what="the fence PR's rounds")
    head_b = gh.push_branch(h.REPO, "scale", {"calc.py": h.BASE_CALC + SCALE.format(mark="head-B")}, "B")
    await daemon.deliver("pull_request", h.pr_payload("synchronize", blocked, head_b))
    await h.wait_for(lambda: bool(_quorum_reviews(gh, blocked, head_b)), what="the review of head B")
    await asyncio.sleep(1.0)  # room for a merge that must not come

    assert not gh.merged(h.REPO, fence)
    assert "APPROVED" not in [r.state for r in _quorum_reviews(gh, fence, fence_sha)]
    repairs = [t for t in _texts(daemon) if "Quoted fence" in t and "that disagree" in t]
    assert repairs  # the ambiguous answer was sent back for a repair, never taken at its word
    assert not gh.merged(h.REPO, blocked)
    (on_b,) = _quorum_reviews(gh, blocked, head_b)
    assert on_b.state == "CHANGES_REQUESTED"
    assert "Open blockers" in on_b.body and "auth.py" in on_b.body and "critical" in on_b.body
    asked_on_b = [t for t in _texts(daemon) if "# head-B" in t]
    assert asked_on_b and all("permission check in auth.py" in t for t in asked_on_b)


async def test_a_blocker_whose_lines_change_on_a_later_head_no_longer_blocks(daemon: h.Daemon) -> None:
    gh = daemon.gh
    blocked, head_a = await _open(
        daemon, "scale", {"calc.py": h.BASE_CALC + SCALE.format(mark="head-A")}, "Add scale()"
    )
    await h.wait_for(lambda: bool(_quorum_reviews(gh, blocked, head_a)), what="the review of head A")

    files: dict[str, str | bytes | None] = {
        "auth.py": AUTH_FIXED,
        "calc.py": h.BASE_CALC + SCALE.format(mark="head-C"),
    }
    head_c = gh.push_branch(h.REPO, "scale", files, "C")
    await daemon.deliver("pull_request", h.pr_payload("synchronize", blocked, head_c))

    await h.wait_for(lambda: gh.merged(h.REPO, blocked), what="the merge once the blocker's lines changed")
    (on_a,) = _quorum_reviews(gh, blocked, head_a)
    assert on_a.state in ("CHANGES_REQUESTED", "DISMISSED") and "auth.py" in on_a.body
    assert json.dumps(BLOCKER["body"])[1:-1] in on_a.body
