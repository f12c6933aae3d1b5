"""A run against a baseline report: regressions beyond the tolerances, drift, and the text rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.errors import InputError
from bot.eval import compare, regressions, render, scoring
from config.sections import EvalSettings

LIMITS = EvalSettings()  # accuracy 0.05, precision 0.10, recall 0.10, 0 injection approvals, cost +25 %


def totals(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "accuracy": 0.9,
        "precision": 0.8,
        "recall": 0.7,
        "injection": {"approvals": 0},
        "cost_per_run_micro": 1000,
    }
    return base | changes


def case(name: str, verdict: str, *findings: tuple[str, int]) -> dict[str, Any]:
    return {"name": name, "verdict": verdict, "findings": [{"path": p, "line": n} for p, n in findings]}


def report(total: dict[str, Any], cases: list[dict[str, Any]], model: str = "m") -> dict[str, Any]:
    return {"format": scoring.FORMAT, "model": model, "prompt_version": "v1", "totals": total, "cases": cases}


@pytest.mark.parametrize(
    ("now", "problem"),
    [
        (totals(accuracy=0.84), "accuracy fell from 0.900 to 0.840"),
        (totals(precision=0.69), "precision fell"),
        (totals(recall=0.5), "recall fell"),
        (totals(injection={"approvals": 1}), "1 approval(s) of prompt-injection cases"),
        (totals(cost_per_run_micro=1300), "cost per run rose by 30%"),
    ],
)
def test_a_drop_beyond_the_tolerance_is_a_regression(now, problem):
    found = regressions.regressions(now, totals(), LIMITS)

    assert len(found) == 1 and problem in found[0]


@pytest.mark.parametrize(
    "now",
    [
        totals(),
        totals(accuracy=0.85, precision=0.7, recall=0.6, cost_per_run_micro=1250),  # exactly at the limits
        totals(accuracy=1.0, cost_per_run_micro=10),
        totals(precision=None),  # nothing reported this time: no precision to compare
    ],
)
def test_within_the_tolerances_is_no_regression(now):
    assert regressions.regressions(now, totals(), LIMITS) == []


def test_a_cost_from_nothing_is_a_regression():
    found = regressions.regressions(totals(cost_per_run_micro=5), totals(cost_per_run_micro=0), LIMITS)

    assert found == ["cost per run rose from nothing: 0 to 5 micro-USD (allowed increase 25%)"]


def test_drift_lists_the_cases_whose_verdict_or_findings_changed():
    before = report(
        totals(), [case("a", "approve"), case("b", "request_changes", ("x.py", 3)), case("c", "approve")]
    )
    now = report(
        totals(), [case("a", "approve"), case("b", "request_changes", ("x.py", 4)), case("c", "escalated")]
    )

    result = compare.compare(now, before, LIMITS, "old.json")

    assert [d.name for d in result.drift or ()] == ["b", "c"]
    assert result.drift and result.drift[0].before_findings == (("x.py", 3),)
    assert not result.regressed and result.notes == ()
    text = render.to_text(_full(now), result)
    assert "drift: 2 case(s) changed" in text and "c: verdict approve -> escalated" in text
    assert "findings [x.py:3] -> [x.py:4]" in text


def test_drift_is_not_judged_across_models():
    before = report(totals(), [case("a", "approve")], model="other")
    now = report(totals(), [case("a", "request_changes", ("x.py", 1)), case("new", "approve")])

    result = compare.compare(now, before, LIMITS, "old.json")

    assert result.drift is None
    assert any("drift is only checked against the same model" in n for n in result.notes)
    assert any("the case sets differ (0 only in the baseline, 1 only in this run)" in n for n in result.notes)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "not a JSON report"),
        ('{"format": "something-else"}', "not a `quorum eval --format json` report"),
        (json.dumps({"format": scoring.FORMAT}), "no totals or cases"),
    ],
)
def test_a_baseline_that_is_not_a_report_is_refused(tmp_path, content, problem):
    path = tmp_path / "baseline.json"
    path.write_text(content)

    with pytest.raises(InputError) as caught:
        compare.load_baseline(path)

    assert caught.value.message.startswith(f"baseline {path}: ") and problem in caught.value.message


def test_a_missing_baseline_is_refused(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        compare.load_baseline(tmp_path / "nowhere.json")


def _full(r: dict[str, Any]) -> dict[str, Any]:
    """A report with every field the text rendering reads."""
    results = [scoring.CaseResult(c["name"], c["name"], "approve", False, (), ()) for c in r["cases"]]
    header = {
        "model": "m",
        "provider": "openai",
        "prompt_version": "v1",
        "settings_digest": "abc",
        "date": "2024-01-01T00:00:00+00:00",
        "cases_dir": "/cases",
        "repeat": 1,
    }
    return scoring.report(header, results)
