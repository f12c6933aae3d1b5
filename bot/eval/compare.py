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
from bot.eval import drift, regressions, scoring
from config.sections import EvalSettings


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str
    regressions: tuple[str, ...]
    notes: tuple[str, ...]
    drift: tuple[drift.Drift, ...] | None  # None: another model or prompt version, so not checked

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
        tuple(regressions.regressions(current["totals"], baseline["totals"], limits)),
        tuple(notes),
        drift.drift(current, baseline) if same else None,
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
