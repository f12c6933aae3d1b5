"""Speculative rounds: the rounds consensus still needs start together, are read in order, and a round
that does not approve sends the rounds after it back with its findings."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import pipeline, ports
from bot.bootstrap import review as review_root
from bot.domain import Decision
from config.settings import load_settings
from guardrails import workspace
from tests.fakes.llm_servers import FakeLLMServer, RecordedRequest, Reply
from tests.support.git_repos import GitRepo

MODEL = "gpt-4o-mini"
FINDING = "total() drops the last item"
_ROUND = re.compile(r"Review round (\d+)\.")


def verdict(kind: str) -> str:
    findings = [{"path": "calc.py", "line": 2, "side": "RIGHT", "severity": "minor", "body": FINDING}]
    return json.dumps(
        {
            "verdict": kind,
            "summary": kind,
            "confidence": 0.8,
            "findings": findings if kind != "approve" else [],
        }
    )


def round_of(request: RecordedRequest) -> int:
    return int(_ROUND.findall(request.body["messages"][1]["content"])[0])


def user_text(request: RecordedRequest) -> str:
    return str(request.body["messages"][1]["content"])


def repo(tmp_path: Path) -> Path:
    git = GitRepo(tmp_path / "repo")
    git.commit("initial", {"calc.py": "def total(items):\n    return sum(items)\n"})
    git.commit("change", {"calc.py": "def total(items):\n    return sum(items[:-1])\n"})
    return git.path


async def review(tmp_path: Path, answer: Callable[[RecordedRequest], Reply], **consensus: Any) -> tuple:
    with FakeLLMServer("openai", answer, models=(MODEL,)) as server:
        settings = load_settings(
            None,
            secrets_dirs=[],
            llm={"provider": "openai", "base_url": server.base_url, "model": MODEL, "api_key": "sk-x"},
            agent={"enabled": False},
            consensus={"speculative_rounds": True} | consensus,
            workspace={"state_dir": tmp_path / "state"},
        )
        source = repo(tmp_path)
        request = pipeline.ReviewRequest(
            workspace.RepoSource(str(source), "repo"), "HEAD", "HEAD~1", job_id="j"
        )
        async with review_root.local_review(settings, ports.NO_PROGRESS) as (deps, _observed):
            outcome = await pipeline.review(request, deps)
        return outcome, [r for r in server.requests if r.method == "POST"], server.max_in_flight


async def test_the_rounds_consensus_needs_start_together(tmp_path: Path) -> None:
    outcome, posts, most = await review(tmp_path, lambda r: Reply(text=verdict("approve"), delay_s=0.5))

    assert outcome.decision is Decision.APPROVED
    assert [r.index for r in outcome.rounds] == [1, 2]
    assert most == 2 and abs(posts[1].received_at - posts[0].received_at) < 0.4


async def test_a_round_that_does_not_approve_sends_the_later_rounds_back_with_its_findings(
    tmp_path: Path,
) -> None:
    def answer(request: RecordedRequest) -> Reply:
        first = round_of(request) == 1
        return Reply(text=verdict("comment" if first else "approve"), delay_s=0.3 if first else 0.1)

    outcome, posts, _ = await review(tmp_path, answer, max_rounds=5)

    # Round 2 ran without round 1's finding and is discarded; rounds 2 and 3 then run with it.
    assert outcome.decision is Decision.APPROVED
    assert [(r.index, r.verdict.value) for r in outcome.rounds] == [
        (1, "comment"),
        (2, "approve"),
        (3, "approve"),
    ]
    assert [round_of(r) for r in posts] in ([1, 2, 2, 3], [2, 1, 2, 3], [1, 2, 3, 2], [2, 1, 3, 2])
    speculative, *again = [r for r in posts if round_of(r) != 1]
    assert FINDING not in user_text(speculative)
    assert all(FINDING in user_text(r) for r in again)


async def test_a_request_for_changes_ends_the_review_whatever_later_rounds_said(tmp_path: Path) -> None:
    def answer(request: RecordedRequest) -> Reply:
        first = round_of(request) == 1
        return Reply(text=verdict("request_changes" if first else "approve"), delay_s=0.3 if first else 0.05)

    outcome, _posts, _ = await review(tmp_path, answer)

    assert outcome.decision is Decision.CHANGES_REQUESTED
    assert [r.verdict.value for r in outcome.rounds] == ["request_changes"]


async def test_a_round_made_pointless_is_cancelled_not_waited_for(tmp_path: Path) -> None:
    def answer(request: RecordedRequest) -> Reply:
        first = round_of(request) == 1
        return Reply(text=verdict("request_changes" if first else "approve"), delay_s=0.1 if first else 3.0)

    started = time.monotonic()
    outcome, posts, _ = await review(tmp_path, answer)

    assert outcome.decision is Decision.CHANGES_REQUESTED and len(posts) == 2
    assert time.monotonic() - started < 2.5  # round 2's three-second call was cancelled
