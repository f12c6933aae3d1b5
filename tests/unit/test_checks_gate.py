"""Checks as GitHub enforces them: required ones by name, every check when none is required or the list is
unknown; Quorum's own check never counts; what `mergeable_state` allows."""

from __future__ import annotations

import pytest

from bot import forge
from guardrails import checks_gate
from guardrails.checks_gate import Mergeability

GREEN, PENDING, FAILED = forge.ChecksState.GREEN, forge.ChecksState.PENDING, forge.ChecksState.FAILED


def result(name: str, state: forge.ChecksState, *, own: bool = False) -> forge.CheckResult:
    return forge.CheckResult(name, state, own=own)


def test_with_nothing_required_a_failing_check_fails() -> None:
    report = checks_gate.evaluate([result("ci", GREEN), result("lint", FAILED)], ())

    assert report == forge.ChecksReport(FAILED, failed=("lint",))


def test_with_nothing_required_a_running_check_waits_and_no_checks_is_green() -> None:
    assert checks_gate.evaluate([result("ci", PENDING)], ()) == forge.ChecksReport(PENDING, missing=("ci",))
    assert checks_gate.evaluate([], ()) == forge.ChecksReport(GREEN)


def test_required_checks_must_be_reported_and_pass_others_do_not_matter() -> None:
    results = [result("build", GREEN), result("optional", FAILED)]

    assert checks_gate.evaluate(results, ("build",)) == forge.ChecksReport(GREEN)
    assert checks_gate.evaluate(results, ("build", "deploy")) == forge.ChecksReport(
        PENDING, missing=("deploy",)
    )


def test_an_unknown_required_list_needs_every_check_and_the_known_required_ones() -> None:
    results = [result("build", GREEN), result("optional", FAILED)]

    report = checks_gate.evaluate(results, ("build",), required_complete=False)
    empty = checks_gate.evaluate([result("build", GREEN)], (), required_complete=False)

    assert report == forge.ChecksReport(FAILED, failed=("optional",))
    assert empty == forge.ChecksReport(GREEN)


def test_quorums_own_check_never_counts_or_waits_on_itself() -> None:
    results = [result("quorum", PENDING, own=True), result("ci", GREEN)]

    assert checks_gate.evaluate(results, ()) == forge.ChecksReport(GREEN)


def test_a_check_named_like_quorums_from_someone_else_counts() -> None:
    results = [result("quorum", FAILED), result("quorum", GREEN, own=True)]

    assert checks_gate.evaluate(results, ()).state is FAILED


def test_a_name_reported_twice_needs_both_to_pass() -> None:
    assert checks_gate.evaluate([result("ci", GREEN), result("ci", FAILED)], ("ci",)).state is FAILED


def test_required_names_join_configured_and_branch_without_quorums_own() -> None:
    branch = forge.RequiredChecks(("ci/test", "quorum", "lint"))

    assert checks_gate.required_names(["lint", "docs"], branch, "quorum") == ("lint", "docs", "ci/test")


@pytest.mark.parametrize(
    ("state", "checks", "expected"),
    [
        ("clean", GREEN, Mergeability.OK),
        ("unstable", GREEN, Mergeability.OK),
        ("has_hooks", GREEN, Mergeability.OK),
        ("CLEAN", GREEN, Mergeability.OK),
        ("unknown", GREEN, Mergeability.WAIT),
        ("", GREEN, Mergeability.WAIT),
        ("blocked", PENDING, Mergeability.WAIT),
        ("blocked", GREEN, Mergeability.REFUSE),
        ("behind", GREEN, Mergeability.REFUSE),
        ("dirty", GREEN, Mergeability.REFUSE),
        ("draft", GREEN, Mergeability.REFUSE),
        ("from_the_future", GREEN, Mergeability.REFUSE),
    ],
)
def test_mergeable_state_table(state: str, checks: forge.ChecksState, expected: Mergeability) -> None:
    allowed, why = checks_gate.mergeability(state, forge.ChecksReport(checks))

    assert allowed is expected
    assert bool(why) is (expected is not Mergeability.OK)
