"""Throughput across PRs: how close `quorum serve` replicas come to keeping every slot on a model call.

    python -m tests.bench.bench_throughput [--prs 30] [--repos 10] [--replicas 3] [--latency 1.0] [--unpaced]

Starts a real redis-server, the wire-level fake GitHub on real git, a scripted fake LLM that approves after
a fixed latency, and `--replicas` real `quorum serve` processes sharing the Redis (production defaults:
6 slots, 2 per repository, 8 workers each), opens `--prs` PRs over `--repos` repositories, delivers one
signed webhook per PR (round-robin over the replicas, as a load balancer would) and waits until every PR
has a decision and every approved PR is merged. Prints one line: `efficiency` is the model-only ideal
makespan (model calls × latency / slots) over the measured one (first delivery to last decision). The
replicas share one token, and GitHub allows its content-creating requests only serially, one second apart
(Quorum paces them across replicas through Redis), so `write_floor_s` = (writes − 1) × interval is a second
floor (the first write waits for none), and `efficiency_vs_bound` = max(model ideal, write floor) over
`done_s` (first delivery to the last write's arrival at GitHub) says how close Quorum comes to what GitHub
allows. Each PR takes three writes (review, check, merge). `min_write_gap_s` is the
closest two writes came, as the fake GitHub saw them arrive.

At github.com's limits the write floor binds long before the model does (30 PRs take 120 writes: two
minutes, against 10 s of model work through 6 slots). `--unpaced` runs the replicas as against a GitHub
Enterprise Server whose administrators turned rate limiting off (no write interval, no caps), so the time
left is Quorum's own: `efficiency` there says how well the slots are kept on model calls.

The replicas are processes, not tasks in this one: each has its own event loop and interpreter lock, as
on separate hosts, so neither the harness's fakes (threads here) nor the other replicas steal its loop.
Slot time is read from the scheduler's own audit stream (claim and finish, in Redis server time) and model
time from the fake LLM, so nothing in the daemon is instrumented for the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from bot.adapters.github import rate as github_rate
from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.github_server import WRITE_METHODS, FakeGitHub
from tests.support import webhooks
from tests.support.redis_server import RedisServer

SLOTS = 6  # the default `concurrency.max_concurrent_agents`
WRITE_INTERVAL_S = github_rate.WRITE_INTERVAL_S  # GitHub's spacing of one credential's writes
UNPACED_CAP = 1_000_000  # writes a minute and an hour: no cap that a run could reach
_MARK = re.compile(r"BENCHJOB ([\w./-]+#\d+)")
# Test speed-ups of the e2e environment: the benchmark runs with the production values instead.
_PRODUCTION = ("QUORUM_REDIS__LEASE_TTL_S", "QUORUM_TIMEOUTS__MONITOR_INTERVAL_S",
               "QUORUM_REDIS__JOB_RETRY_BASE_S", "QUORUM_REDIS__JOB_RETRY_CAP_S")  # fmt: skip


@dataclass
class ScriptedModel:
    """Approves every request after `latency_s`, noting when each call ran and for which PR."""

    latency_s: float
    calls: list[tuple[float, float, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        found = _MARK.search(request.raw.decode("utf-8", "replace"))
        start = time.time()
        with self._lock:
            self.calls.append((start, start + self.latency_s, found.group(1) if found else "?"))
        return llm_servers.Reply(h.review_json("approve"), delay_s=self.latency_s)


@dataclass(frozen=True, slots=False)
class Held:
    """One claim of one job: when its slot was taken and given back (seconds, wall clock)."""

    job: str
    claimed: float
    finished: float


@dataclass(frozen=True)
class Figures:
    prs: int
    replicas: int
    latency_s: float
    write_interval_s: float  # the pace of the token's writes the replicas were given
    calls: int
    decisions: int
    merges: int
    makespan_s: float
    held_s: float  # slot-seconds: the sum of every claim's hold time
    before_s: float  # slot-seconds from a claim to its job's first model call
    between_s: float  # slot-seconds between model calls of one claim
    after_s: float  # slot-seconds from the last model call to the slot's release
    idle_claims: int  # claims that made no model call at all (their whole hold counts as `after`)
    writes: int  # GitHub writes (POST, PUT, PATCH, DELETE) the replicas made
    min_write_gap_s: float  # the least time between two writes' arrivals at the fake GitHub
    done_s: float  # first delivery to the last write's arrival at the fake GitHub

    @property
    def write_floor_s(self) -> float:
        """The least makespan GitHub's write pacing allows: one token's writes go 1 s apart, whatever the
        number of replicas."""
        return max(self.writes - 1, 0) * self.write_interval_s

    @property
    def ideal_s(self) -> float:
        return self.calls * self.latency_s / SLOTS

    @property
    def efficiency(self) -> float:
        return self.ideal_s / self.makespan_s if self.makespan_s > 0 else 0.0

    @property
    def efficiency_vs_bound(self) -> float:
        """The tighter floor (model slots or GitHub's write pacing) over the time to the last write."""
        bound = max(self.ideal_s, self.write_floor_s)
        return bound / self.done_s if self.done_s > 0 else 0.0

    @property
    def outside_s(self) -> float:
        return self.before_s + self.between_s + self.after_s

    def line(self) -> str:
        return (
            f"efficiency={self.efficiency:.2f} efficiency_vs_bound={self.efficiency_vs_bound:.2f} "
            f"makespan_s={self.makespan_s:.1f} ideal_s={self.ideal_s:.1f} "
            f"calls={self.calls} prs={self.prs} decisions={self.decisions} merges={self.merges} "
            f"replicas={self.replicas} write_interval_s={self.write_interval_s:g} "
            f"slot_s={self.held_s:.1f} outside_model_s={self.outside_s:.1f} "
            f"(before={self.before_s:.1f} between={self.between_s:.1f} after={self.after_s:.1f} "
            f"claims_without_calls={self.idle_claims}) github_writes={self.writes} "
            f"write_floor_s={self.write_floor_s:.1f} done_s={self.done_s:.1f} "
            f"min_write_gap_s={self.min_write_gap_s:.2f}"
        )


def _split(holds: list[Held], calls: list[tuple[float, float, str]]) -> tuple[float, float, float, int]:
    """Slot time outside model calls, split into before the first call, between calls and after the last."""
    before = between = after = 0.0
    idle = 0
    for held in holds:
        mine = sorted((s, e) for s, e, job in calls if job == held.job and held.claimed <= s <= held.finished)
        if not mine:
            idle += 1
            after += held.finished - held.claimed
            continue
        before += mine[0][0] - held.claimed
        reach = mine[0][1]
        for start, end in mine[1:]:
            between += max(0.0, start - reach)
            reach = max(reach, end)
        after += max(0.0, held.finished - reach)
    return before, between, after, idle


async def _holds(url: str, prefix: str) -> list[Held]:
    """Every claim and when it gave its slot back, from the scheduler's audit stream."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        entries = await client.xrange("{" + prefix + "}:q:audit")
    finally:
        await client.aclose()
    claimed: dict[str, tuple[str, float]] = {}
    holds: list[Held] = []
    for _, fields in entries:
        at = int(fields["at"]) / 1e6
        if fields["event"] == "claim":
            claimed[fields["token"]] = (fields["job"], at)
        # A slot is held from the claim to its yield (where the scheduler has one) or the finish.
        elif fields["event"] in ("yield", "finish") and fields["token"] in claimed:
            job, since = claimed.pop(fields["token"])
            holds.append(Held(job, since, at))
    return holds


def _seed(gh: FakeGitHub, prs: int, repos: int) -> list[tuple[str, int, str]]:
    """`repos` repositories and `prs` open PRs spread over them; (repo, number, head) of each."""
    names = [f"bench/r{i}" for i in range(repos)]
    for name in names:
        gh.create_repo(name, {"calc.py": h.BASE_CALC})
    opened = []
    for i in range(prs):
        repo = names[i % repos]
        branch = f"change-{i}"
        number = i // repos + 1  # PR numbers count per repository, and so does this
        # A file of its own per PR, so every approved PR still merges after the others did.
        text = f"# BENCHJOB {repo}#{number}\ndef total_{i}(values):\n    return sum(values)\n"
        head = gh.push_branch(repo, branch, {f"change_{i}.py": text}, f"change {i}")
        assert gh.open_pull(repo, branch, title=f"Change {i}") == number
        opened.append((repo, number, head))
    return opened


def _decided(gh: FakeGitHub, repo: str, number: int) -> bool:
    return any(lease.parse_marker(r.body) is not None for r in gh.reviews(repo, number))


async def _deliver(daemons: list[h.Daemon], opened: list[tuple[str, int, str]]) -> None:
    async def one(i: int, repo: str, number: int, head: str) -> None:
        payload = webhooks.load_sample(
            "pull_request.opened", number=number, pull_request__number=number,
            pull_request__head__sha=head, repository__full_name=repo,
        )  # fmt: skip
        response = await daemons[i % len(daemons)].deliver("pull_request", payload)
        assert response.status_code == 202, response.text

    await asyncio.gather(*(one(i, *pr) for i, pr in enumerate(opened)))


async def measure(
    work: Path, *, prs: int = 30, repos: int = 10, replicas: int = 3, latency_s: float = 1.0,
    timeout_s: float = 300.0, write_interval_s: float = WRITE_INTERVAL_S, writes_per_minute: int = 80,
    writes_per_hour: int = 500,
) -> Figures:  # fmt: skip
    """Run the whole benchmark under `work` and return its figures."""
    model = ScriptedModel(latency_s)
    with ExitStack() as stack:
        server = RedisServer(work / "redis")
        (work / "redis").mkdir(parents=True)
        server.start()
        stack.callback(server.stop)
        gh = stack.enter_context(FakeGitHub(work / "github"))
        llm = stack.enter_context(llm_servers.FakeLLMServer("openai", model))
        opened = _seed(gh, prs, repos)
        base = {
            **h.environment(gh, llm, server.url, work, 0),
            "QUORUM_GITHUB__WRITE_INTERVAL_S": str(write_interval_s),
            "QUORUM_GITHUB__WRITES_PER_MINUTE": str(writes_per_minute),
            "QUORUM_GITHUB__WRITES_PER_HOUR": str(writes_per_hour),
        }
        base = {k: v for k, v in base.items() if k not in _PRODUCTION}
        base["QUORUM_GITHUB__REPOSITORIES"] = json.dumps(sorted({repo for repo, _, _ in opened}))
        daemons = []
        for i in range(replicas):
            port = h.free_port()
            env = {**base, "QUORUM_SERVER__PORT": str(port),
                   "QUORUM_WORKSPACE__STATE_DIR": str(work / f"replica-{i}")}  # fmt: skip
            proc = h.spawn(env, work / f"replica-{i}.log")
            stack.callback(_stop, proc)
            daemons.append((h.Daemon(gh, llm, env, port), proc))
        for daemon, proc in daemons:
            await h.wait_until_up(daemon.url, proc)
        started = time.time()
        await _deliver([d for d, _ in daemons], opened)
        await h.wait_for(
            lambda: all(_decided(gh, repo, n) for repo, n, _ in opened), timeout_s, "every PR decided"
        )
        makespan = time.time() - started
        # The merges queue behind every other write of the token, one interval apart.
        merge_wait_s = 30 + 4 * prs * write_interval_s
        await h.wait_for(lambda: all(gh.merged(r, n) for r, n, _ in opened), merge_wait_s, "every merge")
        holds = await _holds(server.url, base["QUORUM_REDIS__KEY_PREFIX"])
        decisions = sum(_decided(gh, r, n) for r, n, _ in opened)
        merges = sum(gh.merged(r, n) for r, n, _ in opened)
        writes_at = [a.at for a in gh.arrivals if a.method in WRITE_METHODS and a.at >= started]
        gaps = [gap for per_credential in gh.write_gaps().values() for gap in per_credential]
    # The timeline, for a look at where slots waited (kept with `--keep`).
    timeline = {"started": started, "holds": [vars(x) for x in holds], "calls": model.calls}
    (work / "timeline.json").write_text(json.dumps(timeline))
    before, between, after, idle = _split(holds, model.calls)
    return Figures(
        prs, replicas, latency_s, write_interval_s, len(model.calls), decisions, merges, makespan,
        sum(x.finished - x.claimed for x in holds), before, between, after, idle, len(writes_at),
        min(gaps, default=0.0), max(writes_at, default=started) - started,
    )  # fmt: skip


def _stop(proc: object) -> None:
    import subprocess

    assert isinstance(proc, subprocess.Popen)
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prs", type=int, default=30)
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call")
    parser.add_argument(
        "--write-interval",
        type=float,
        default=WRITE_INTERVAL_S,
        help="seconds between one token's writes (github.com asks 1; an Enterprise Server may allow less)",
    )
    parser.add_argument("--writes-per-minute", type=int, default=80)
    parser.add_argument("--writes-per-hour", type=int, default=500)
    parser.add_argument(
        "--unpaced", action="store_true",
        help="no write interval and no caps, as a GitHub Enterprise Server with rate limiting off",
    )  # fmt: skip
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep the logs")
    args = parser.parse_args(argv)
    if args.unpaced:
        args.write_interval, args.writes_per_minute, args.writes_per_hour = 0.0, UNPACED_CAP, UNPACED_CAP
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as tmp:
        work = args.keep or Path(tmp)
        figures = asyncio.run(
            measure(
                work,
                prs=args.prs,
                repos=args.repos,
                replicas=args.replicas,
                latency_s=args.latency,
                write_interval_s=args.write_interval,
                writes_per_minute=args.writes_per_minute,
                writes_per_hour=args.writes_per_hour,
            )
        )
    print(figures.line())


if __name__ == "__main__":
    main()
