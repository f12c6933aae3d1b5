"""Drift: the cases whose most frequent verdict or finding set changed since a baseline run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Drift:
    """A case whose most frequent verdict or finding set changed since the baseline."""

    name: str
    before_verdict: str | None
    after_verdict: str | None
    before_findings: tuple[tuple[str, int], ...]
    after_findings: tuple[tuple[str, int], ...]


def _signature(case: Mapping[str, Any]) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    findings = tuple(sorted((str(f["path"]), int(f["line"])) for f in case.get("findings", [])))
    return case.get("verdict"), findings


def drift(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> tuple[Drift, ...]:
    """The cases present in both reports whose most frequent verdict or finding set differs."""
    before = {c["name"]: _signature(c) for c in baseline["cases"]}
    changed = []
    for case in current["cases"]:
        if case["name"] not in before:
            continue
        old, new = before[case["name"]], _signature(case)
        if old != new:
            changed.append(Drift(case["name"], old[0], new[0], old[1], new[1]))
    return tuple(changed)
