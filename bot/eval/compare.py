"""A run against an earlier JSON report: regressions beyond the `[eval]` tolerances, and drift.

Regressions compare totals; drift compares cases, and only when the baseline used the same model and
prompt version (otherwise a changed answer says nothing about drift).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.eval import scoring
from config.sections import EvalSettings

# Scores are rounded to 4 digits in the report; a drop equal to the tolerance is within it.
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class Drift:
    """A case whose most frequent verdict or finding set changed since the baseline."""

    name: str
    before_verdict: str | None
    after_verdict: str | None
    before_findings: tuple[tuple[str, int], ...]
    after_findings: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str
    regressions: tuple[str, ...]
    notes: tuple[str, ...]
    drift: tuple[Drift, ...] | None  # None: another model or prompt version, so not checked

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def load_baseline(path: Path) -> dict[str, Any]:
    """An earlier `quorum eval --format json` report; InputError says why a file is not one."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InputError(f"baseline {path}: cannot be read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"baseline {path}: not a JSON report ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != scoring.FORMAT:
        raise InputError(f"baseline {path}: not a `quorum eval --format json` report ({scoring.FORMAT})")
    if not isinstance(data.get("totals"), dict) or not isinstance(data.get("cases"), list):
        raise InputError(f"baseline {path}: the report has no totals or cases")
    return data


def _drops(now: Mapping[str, Any], before: Mapping[str, Any], limits: EvalSettings) -> list[str]:
    found = []
    for metric, allowed in (
        ("accuracy", limits.max_accuracy_drop),
        ("precision", limits.max_precision_drop),
        ("recall", limits.max_recall_drop),
    ):
        old, new = before.get(metric), now.get(metric)
        if isinstance(old, int | float) and isinstance(new, int | float) and old - new > allowed + _EPSILON:
            found.append(f"{metric} fell from {old:.3f} to {new:.3f} (allowed drop {allowed:.3f})")
    return found


def _cost(now: Mapping[str, Any], before: Mapping[str, Any], limits: EvalSettings) -> list[str]:
    old, new = int(before.get("cost_per_run_micro", 0)), int(now.get("cost_per_run_micro", 0))
    if new <= old * (1 + limits.max_cost_increase) + _EPSILON:
        return []
    rise = "from nothing" if old == 0 else f"by {(new - old) / old:.0%}"
    return [
        f"cost per run rose {rise}: {old} to {new} micro-USD "
        f"(allowed increase {limits.max_cost_increase:.0%})"
    ]


def regressions(now: Mapping[str, Any], before: Mapping[str, Any], limits: EvalSettings) -> list[str]:
    """What got worse beyond the tolerances, one sentence each (empty: within tolerance)."""
    found = _drops(now, before, limits) + _cost(now, before, limits)
    approvals = int(now.get("injection", {}).get("approvals", 0))
    if approvals > limits.max_injection_approvals:
        found.append(
            f"{approvals} approval(s) of prompt-injection cases (allowed {limits.max_injection_approvals})"
        )
    return found


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


def compare(
    current: Mapping[str, Any], baseline: Mapping[str, Any], limits: EvalSettings, source: str
) -> Comparison:
    """Regressions, notes on what differs between the two runs, and drift when it can be judged."""
    notes = []
    names = {c["name"] for c in current["cases"]}
    old_names = {c["name"] for c in baseline["cases"]}
    if names != old_names:
        notes.append(
            f"the case sets differ ({len(old_names - names)} only in the baseline, "
            f"{len(names - old_names)} only in this run); totals are compared anyway"
        )
    same = all(current.get(k) == baseline.get(k) for k in ("model", "prompt_version"))
    if not same:
        notes.append(
            f"the baseline used model {baseline.get('model')!r} with prompt "
            f"{baseline.get('prompt_version')!r}: drift is only checked against the same model "
            "and prompt version"
        )
    return Comparison(
        source,
        tuple(regressions(current["totals"], baseline["totals"], limits)),
        tuple(notes),
        drift(current, baseline) if same else None,
    )


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as it appears under `baseline` in the JSON report."""
    return {
        "file": comparison.baseline,
        "regressed": comparison.regressed,
        "regressions": list(comparison.regressions),
        "notes": list(comparison.notes),
        "drift": None
        if comparison.drift is None
        else [
            {
                "name": d.name,
                "before": {"verdict": d.before_verdict, "findings": [list(f) for f in d.before_findings]},
                "after": {"verdict": d.after_verdict, "findings": [list(f) for f in d.after_findings]},
            }
            for d in comparison.drift
        ],
    }
