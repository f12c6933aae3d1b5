"""Regressions: what got worse between two runs' totals beyond the `[eval]` tolerances, one sentence each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.sections import EvalSettings

# Scores are rounded to 4 digits in the report; a drop equal to the tolerance is within it.
_EPSILON = 1e-6


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
