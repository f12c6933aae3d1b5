"""The chaos observer's checks, from the scripts' audit stream (server time) and the workers' logs."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class AuditReplay:
    """Who held which PR when, replayed from claim / finish / expired events in server order."""

    max_global: int = 0
    max_repo: int = 0
    double_claims: int = 0
    orphan_ends: int = 0
    done: Counter[str] = field(default_factory=Counter)
    claims: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))


def replay(events: list[dict[str, str]]) -> AuditReplay:
    """Walk the audit stream; a claim of a PR someone still holds is a double run."""
    out = AuditReplay()
    holders: dict[str, str] = {}
    per_repo: Counter[str] = Counter()
    for event in events:
        job, kind = event["job"], event["event"]
        repo = job.rsplit("#", 1)[0]
        if kind == "claim":
            if job in holders:
                out.double_claims += 1
            else:
                per_repo[repo] += 1
            holders[job] = event["token"]
            out.claims[job].append((int(event["at"]) / 1e6, int(event["fence"])))
        elif holders.get(job) == event["token"]:
            del holders[job]
            per_repo[repo] -= 1
            if event.get("result") == "done":
                out.done[job] += 1
        else:
            out.orphan_ends += 1
        out.max_global = max(out.max_global, len(holders))
        out.max_repo = max(out.max_repo, max(per_repo.values(), default=0))
    return out


def read_logs(directory: Path) -> list[dict[str, Any]]:
    """Every complete JSON line the workers wrote (a SIGKILL may cut the last one)."""
    events = []
    for path in sorted(directory.glob("worker-*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append({**json.loads(line), "log": path.name})
            except json.JSONDecodeError:
                continue
    return events


def stale_writes(logs: list[dict[str, Any]], audit: AuditReplay) -> tuple[int, int]:
    """(accepted, rejected) writes begun after a newer claim of the same PR had been granted."""
    accepted = rejected = 0
    for event in logs:
        if event["ev"] != "write":
            continue
        newer = [
            at for at, fence in audit.claims[event["job"]] if fence > event["fence"] and at < event["t0"]
        ]
        if newer:
            accepted += bool(event["ok"])
            rejected += not event["ok"]
    return accepted, rejected


def live_overlaps(logs: list[dict[str, Any]]) -> int:
    """Pairs of runs of one PR that overlapped in time although both holders finished with their lease."""
    started = {(e["log"], e["token"]): e["t"] for e in logs if e["ev"] == "claim"}
    runs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in logs:
        if e["ev"] == "end" and e["result"] not in ("lost", "not_held", "unavailable"):
            begin = started.get((e["log"], e["token"]))
            if begin is not None:
                runs[e["job"]].append((begin, e["t"]))
    overlaps = 0
    for spans in runs.values():
        spans.sort()
        overlaps += sum(1 for (_, end), (begin, _) in itertools.pairwise(spans) if begin < end)
    return overlaps
