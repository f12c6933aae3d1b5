"""The GitHub link: probes with a bounded backoff until GitHub answers, wakes the reconciler each time it
comes back, pauses its waiters when a job finds GitHub down, and ignores failures that are not outages."""

from __future__ import annotations

import asyncio

from bot import forge, health
from bot.daemon.github_link import GitHubLink
from bot.errors import GitHubError, RateLimited

ME = forge.Identity("quorum-bot", is_app=False)


class Flaky:
    """A GitHub that answers after `down` failed probes."""

    def __init__(self, down: int) -> None:
        self.down, self.calls = down, 0

    async def __call__(self) -> forge.Identity:
        self.calls += 1
        if self.calls <= self.down:
            raise GitHubError("GitHub authenticated user: could not complete the request (ConnectionError)")
        return ME


async def test_the_link_backs_off_until_github_answers_then_wakes_its_waiters() -> None:
    waits: list[float] = []
    ups: list[int] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    probe, states = Flaky(down=4), health.Health()
    link = GitHubLink(probe, states, health.Backoff(1.0, 4.0), on_up=lambda: ups.append(1), sleep=sleep)
    stopping = asyncio.Event()
    running = asyncio.create_task(link.run(stopping))

    assert await asyncio.wait_for(link.wait_up(stopping), 1)

    assert link.identity == ME and probe.calls == 5 and ups == [1]
    assert all(c / 2 <= w <= c for w, c in zip(waits, [1, 2, 4, 4], strict=True)), waits
    assert states.state("github").up is True
    stopping.set()
    await asyncio.wait_for(running, 1)


async def test_an_outage_seen_by_a_job_pauses_waiters_until_a_probe_answers_again() -> None:
    probe, states = Flaky(down=0), health.Health()
    ups: list[int] = []

    async def sleep(delay: float) -> None:
        await asyncio.sleep(0)

    link = GitHubLink(probe, states, health.Backoff(0.01, 0.01), on_up=lambda: ups.append(1), sleep=sleep)
    stopping = asyncio.Event()
    running = asyncio.create_task(link.run(stopping))
    assert await asyncio.wait_for(link.wait_up(stopping), 1)

    link.failed(RateLimited("secondary rate limit", status_code=403, retry_after=60))  # not an outage
    link.failed(GitHubError("GitHub pull: 422 Unprocessable Entity", status_code=422))  # nor a refusal
    assert states.state("github").up is True
    probe.down = probe.calls + 2  # the next two probes fail
    link.failed(GitHubError("GitHub pull: 503 Service Unavailable", status_code=503))
    assert states.state("github").up is False

    assert await asyncio.wait_for(link.wait_up(stopping), 1)
    assert ups == [1, 1] and states.state("github").up is True
    stopping.set()
    await asyncio.wait_for(running, 1)
