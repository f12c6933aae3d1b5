"""A review gives its slot back when its model work ends: another PR's review runs while the first one
still publishes, and the model never sees more reviews at once than the slots allow."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub
from tests.support import webhooks

pytestmark = pytest.mark.redis

OTHER = "acme/gadgets"
_MARK = re.compile(r"SLOTJOB (\S+#\d+)")


class Recorder:
    """Approves every request and notes which PR it was for."""

    def __init__(self) -> None:
        self.jobs: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        found = _MARK.search(request.raw.decode("utf-8", "replace"))
        with self._lock:
            self.jobs.append(found.group(1) if found else "?")
        return llm_servers.Reply(h.review_json("approve"), delay_s=0.2)

    def count(self, job: str) -> int:
        with self._lock:
            return self.jobs.count(job)


def _open(gh: FakeGitHub, repo: str) -> tuple[int, str]:
    gh.create_repo(repo, {"calc.py": h.BASE_CALC})
    head = gh.push_branch(repo, "feature", {"extra.py": f"# SLOTJOB {repo}#1\nX = 1\n"}, "add extra")
    return gh.open_pull(repo, "feature"), head


def _payload(repo: str, number: int, head: str) -> dict[str, object]:
    return webhooks.load_sample(
        "pull_request.opened", number=number, pull_request__number=number,
        pull_request__head__sha=head, repository__full_name=repo,
    )  # fmt: skip


async def test_a_publishing_review_leaves_its_slot_to_the_next_one(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    model = Recorder()
    llm = fake_llm("openai", model)
    first, first_head = _open(fake_github, h.REPO)
    second, second_head = _open(fake_github, OTHER)
    held = fake_github.hold_next("POST", rf"/repos/{h.REPO}/pulls/{first}/reviews$")
    env = {
        "QUORUM_CONCURRENCY__MAX_CONCURRENT_AGENTS": "1",
        "QUORUM_GITHUB__REPOSITORIES": json.dumps([h.REPO, OTHER]),
        "QUORUM_SERVER__WORKERS": "2",
    }
    async with h.serving(fake_github, llm, redis_url, tmp_path, **env) as daemon:
        await daemon.deliver("pull_request", _payload(h.REPO, first, first_head))
        await h.wait_for(held.arrived.is_set, what="the first review's post")
        await daemon.deliver("pull_request", _payload(OTHER, second, second_head))

        # The first job is still publishing (its post held), and the second review got the only slot.
        await h.wait_for(lambda: model.count(f"{OTHER}#1") == 2, 20, "the second review's rounds")
        assert not fake_github.merged(h.REPO, first)
        held.release()
        await h.wait_for(
            lambda: fake_github.merged(h.REPO, first) and fake_github.merged(OTHER, second), 30, "both merges"
        )

    assert model.count(f"{h.REPO}#1") == 2
    assert llm.max_in_flight == 1  # one slot: never two reviews at the model at once


class GatedRecorder(Recorder):
    """A `Recorder` whose answers for one PR wait until `gate` is set (that review holds the only slot)."""

    def __init__(self, held_job: str) -> None:
        super().__init__()
        self.held_job, self.gate, self.asked = held_job, threading.Event(), threading.Event()

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        if f"SLOTJOB {self.held_job}" in request.raw.decode("utf-8", "replace"):
            self.asked.set()
            self.gate.wait(30)
        return super().__call__(request)

    def first_calls(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(self.jobs))


def _open_nth(gh: FakeGitHub, repo: str, n: int) -> tuple[int, str]:
    text = f"# SLOTJOB {repo}#{n}\nX{n} = {n}\n"
    head = gh.push_branch(repo, f"feature-{n}", {f"extra_{n}.py": text}, f"add extra {n}")
    number = gh.open_pull(repo, f"feature-{n}")
    assert number == n
    return number, head


async def test_a_free_slot_goes_to_the_longest_backlog_and_every_pr_still_merges(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    busy, lone, backlog = "acme/busy", "acme/lone", "acme/backlog"
    for repo in (busy, lone, backlog):
        fake_github.create_repo(repo, {"calc.py": h.BASE_CALC})
    model = GatedRecorder(f"{busy}#1")
    llm = fake_llm("openai", model)
    env = {
        "QUORUM_CONCURRENCY__MAX_CONCURRENT_AGENTS": "1",
        "QUORUM_GITHUB__REPOSITORIES": json.dumps([busy, lone, backlog]),
        "QUORUM_SERVER__WORKERS": "2",
    }
    async with h.serving(fake_github, llm, redis_url, tmp_path, **env) as daemon:
        opened = [(busy, *_open_nth(fake_github, busy, 1))]
        await daemon.deliver("pull_request", _payload(*opened[0]))
        await h.wait_for(model.asked.is_set, what="the first review at the model")
        # Queued while the only slot is taken: the lone PR first, then a repository's two.
        for repo, n in ((lone, 1), (backlog, 1), (backlog, 2)):
            opened.append((repo, *_open_nth(fake_github, repo, n)))
            assert (await daemon.deliver("pull_request", _payload(*opened[-1]))).status_code == 202
        model.gate.set()
        await h.wait_for(lambda: all(fake_github.merged(repo, n) for repo, n, _ in opened), 60, "every merge")

    # The backlog's oldest went before the older lone PR (oldest-first would have taken the lone one), and
    # the lone PR before the backlog's second: ties go to the oldest. Every PR merged.
    assert model.first_calls() == [f"{busy}#1", f"{backlog}#1", f"{lone}#1", f"{backlog}#2"]
    assert llm.max_in_flight == 1
