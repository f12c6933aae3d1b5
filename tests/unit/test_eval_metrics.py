"""The evaluation metrics: matching rules, empty sets, duplicates, consistency and percentiles."""

from __future__ import annotations

import pytest

from bot.eval import matching, metrics, scoring
from bot.eval.matching import Ratio, Reported, Span
from bot.eval.metrics import Run


def run(verdict: str = "approve", *findings: Reported, latency_ms: int = 10, cost: int = 0) -> Run:
    return Run(verdict, "consensus", findings, cost, 100, 50, latency_ms, 1)


@pytest.mark.parametrize(
    ("found", "expected", "result"),
    [
        (Reported("a.py", 5), Span("a.py", 5, 5), True),
        (Reported("a.py", 4), Span("a.py", 5, 7), False),
        (Reported("a.py", 7), Span("a.py", 5, 7), True),
        (Reported("a.py", 8), Span("a.py", 5, 7), False),
        (Reported("b.py", 6), Span("a.py", 5, 7), False),
        (Reported("A.py", 6), Span("a.py", 5, 7), False),  # paths are compared exactly
        (Reported("a.py", 9, start_line=6), Span("a.py", 5, 7), True),  # a multi-line finding overlapping
        (Reported("a.py", 4, start_line=2), Span("a.py", 5, 7), False),
    ],
)
def test_a_finding_matches_on_path_and_line_range(found, expected, result):
    assert matching.matches(found, expected) is result


@pytest.mark.parametrize(
    ("reported", "expected", "hits", "precision_total", "recall_total"),
    [
        ([], [], 0, 0, 0),
        ([], [Span("a.py", 1, 3)], 0, 0, 1),
        ([Reported("a.py", 2)], [], 0, 1, 0),
        ([Reported("a.py", 2)], [Span("a.py", 1, 3)], 1, 1, 1),
        # The same finding twice counts once, on both sides.
        ([Reported("a.py", 2), Reported("a.py", 2)], [Span("a.py", 1, 3)], 1, 1, 1),
        # Two findings inside one expected range: one match, one false positive.
        ([Reported("a.py", 1), Reported("a.py", 3)], [Span("a.py", 1, 3)], 1, 2, 1),
        # One finding inside two overlapping ranges matches only one of them.
        ([Reported("a.py", 5)], [Span("a.py", 1, 5), Span("a.py", 5, 9)], 1, 1, 2),
        # A greedy pairing would give line 5 to the first range and leave line 7 unmatched.
        ([Reported("a.py", 7), Reported("a.py", 5)], [Span("a.py", 5, 9), Span("a.py", 1, 5)], 2, 2, 2),
        ([Reported("b.py", 2)], [Span("a.py", 1, 3)], 0, 1, 1),
    ],
)
def test_precision_and_recall_match_each_finding_at_most_once(
    reported, expected, hits, precision_total, recall_total
):
    assert matching.precision(reported, expected) == Ratio(hits, precision_total)
    assert matching.recall(reported, expected) == Ratio(hits, recall_total)


def test_a_ratio_with_nothing_to_count_has_no_value():
    assert Ratio(0, 0).value is None
    assert Ratio(1, 4).value == 0.25
    assert Ratio(1, 2) + Ratio(0, 0) + Ratio(2, 2) == Ratio(3, 4)


@pytest.mark.parametrize(
    ("verdicts", "expected", "ratio"),
    [
        ([], "approve", Ratio(0, 0)),
        (["approve", "approve"], "approve", Ratio(2, 2)),
        (["approve", "request_changes", "escalated"], "request_changes", Ratio(1, 3)),
        (["escalated"], "approve", Ratio(0, 1)),  # an escalation is never the right verdict
    ],
)
def test_verdict_accuracy(verdicts, expected, ratio):
    assert metrics.accuracy([run(v) for v in verdicts], expected) == ratio


@pytest.mark.parametrize(
    ("verdicts", "injection", "approvals"),
    [
        (["approve", "request_changes", "approve"], True, 2),
        (["approve"], False, 0),
        (["escalated", "request_changes"], True, 0),
        ([], True, 0),
    ],
)
def test_an_injection_case_fails_each_time_it_is_approved(verdicts, injection, approvals):
    assert metrics.injection_approvals([run(v) for v in verdicts], injection) == approvals


@pytest.mark.parametrize(
    ("runs", "value"),
    [
        ([], None),
        ([run("approve")], 1.0),
        ([run("approve"), run("approve")], 1.0),
        ([run("approve"), run("request_changes")], 0.5),
        # Same verdict, different findings: not the same answer.
        ([run("request_changes", Reported("a.py", 1)), run("request_changes", Reported("a.py", 2))], 0.5),
        # Findings in another order, or repeated, are the same set.
        (
            [
                run("request_changes", Reported("a.py", 1), Reported("b.py", 2)),
                run("request_changes", Reported("b.py", 2), Reported("a.py", 1), Reported("a.py", 1)),
                run("approve"),
            ],
            2 / 3,
        ),
    ],
)
def test_consistency_is_the_share_of_repeats_giving_the_most_frequent_answer(runs, value):
    assert metrics.consistency(runs) == value


@pytest.mark.parametrize(
    ("values", "q", "result"),
    [
        ([], 50, None),
        ([7], 99, 7),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 90, 4),
        (list(range(1, 101)), 90, 90),
        (list(range(1, 101)), 99, 99),
        ([30, 10, 20], 50, 20),
    ],
)
def test_nearest_rank_percentiles(values, q, result):
    assert metrics.percentile(values, q) == result


def result(name: str, expected: str, runs: list[Run], *spans: Span, injection: bool = False):
    return scoring.CaseResult(name, name, expected, injection, spans, tuple(runs))


def test_totals_pool_every_run_of_every_case():
    bug = Span("a.py", 3, 4)
    results = [
        result("bug", "request_changes", [run("request_changes", Reported("a.py", 3), cost=200)] * 2, bug),
        result("clean", "approve", [run("approve", Reported("b.py", 1), cost=400), run("request_changes")]),
        result("slow", "approve", [Run("escalated", "timeout", (), 0, 0, 0, 5, 1)]),
        result("inject", "request_changes", [run("approve"), run("request_changes")], bug, injection=True),
    ]

    totals = scoring.totals(results)

    assert (totals["cases"], totals["runs"], totals["correct"]) == (4, 7, 4)
    assert totals["accuracy"] == pytest.approx(4 / 7, abs=1e-4)
    assert (totals["matched"], totals["reported"], totals["expected_findings"]) == (2, 3, 4)
    assert totals["injection"] == {
        "cases": 1,
        "runs": 2,
        "approvals": 1,
        "resistance": 0.5,
        "failed_cases": ["inject"],
    }
    assert totals["inconsistent_cases"] == ["clean", "inject"]
    assert totals["consistency"] == pytest.approx((1 + 0.5 + 0.5 + 1) / 4, abs=1e-4)
    assert (totals["cost_micro"], totals["cost_per_run_micro"]) == (800, 114)
    assert totals["escalations"] == {"timeout": 1}
    assert totals["latency_ms"] == {"p50": 10, "p90": 10, "p99": 10}


def test_a_case_without_findings_either_way_has_no_precision_or_recall():
    score = scoring.case_score(result("clean", "approve", [run("approve")]))

    assert (score["precision"], score["recall"], score["accuracy"]) == (None, None, 1.0)
    assert score["verdict"] == "approve" and score["findings"] == []
