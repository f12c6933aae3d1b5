"""Memory across rounds and pushes: earlier findings the model must address, and which of them stay open."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest

from bot.adapters.memory.scripted_model import ScriptedModel
from bot.domain import Finding, OpenFinding, Severity, Side, Verdict
from bot.ports import Completion
from bot.review import carried, prompts
from tests.support.agent_loop_kit import (
    APPROVE,
    UTIL_AFTER,
    DictToolBox,
    change,
    deadline,
    guarded,
    runner,
)

HEAD_A, HEAD_B = "a" * 40, "b" * 40
ON_DIFF = Finding("app/util.py", 3, Side.RIGHT, Severity.MAJOR, "drops the last item")
ELSEWHERE = Finding("app/main.py", 3, Side.RIGHT, Severity.CRITICAL, "the caller now breaks")
CALLER = "from app.util import mean\n\nprint(mean([1, 2, 3]))\n"


def reply(status: dict[str, str | dict[str, object]], verdict: dict | None = None) -> str:
    data = dict(verdict or APPROVE)
    data["addressed"] = [
        {"id": k, "status": v} if isinstance(v, str) else {"id": k, **v} for k, v in status.items()
    ]
    return json.dumps(data)


def tree(root: Path, util: str = UTIL_AFTER, main: str | None = CALLER) -> Path:
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "app" / "util.py").write_text(util)
    if main is not None:
        (root / "app" / "main.py").write_text(main)
    return root


def view(root: Path | None, sha: str = HEAD_B) -> carried.HeadView:
    return carried.HeadView(sha, change().files, root)


def fingerprint(finding: Finding) -> str:
    """The fingerprint of `finding` on head A, whose files are UTIL_AFTER and CALLER."""
    with tempfile.TemporaryDirectory() as root:
        return carried.excerpt(finding, view(tree(Path(root)), sha=HEAD_A))


def from_a(finding: Finding, excerpt: str | None = None, *, placed: bool = True) -> OpenFinding:
    return OpenFinding(finding, HEAD_A, fingerprint(finding) if excerpt is None else excerpt, placed)


def test_nothing_raised_on_the_head_under_review_is_resolved_there(tmp_path):
    root = tree(tmp_path, util="# rewritten\n")
    item = from_a(ON_DIFF)

    settled = carried.settle([item], reply({"F1": "fixed"}), view(root, sha=HEAD_A), 1)

    assert settled.open == (item,) and settled.resolved == frozenset()
    assert [(s.name, s.ok, s.detail) for s in settled.steps] == [("F1", False, settled.steps[0].detail)]
    assert "does not show it" in settled.steps[0].detail


def test_a_fixed_claim_on_a_later_head_is_accepted_only_when_its_lines_changed(tmp_path):
    same = tree(tmp_path / "same")
    changed = tree(tmp_path / "changed", util=UTIL_AFTER.replace("items[:n]", "items"))

    kept = carried.settle([from_a(ON_DIFF)], reply({"F1": "fixed"}), view(same), 1)
    gone = carried.settle([from_a(ON_DIFF)], reply({"F1": "fixed"}), view(changed), 1)

    assert kept.open == (from_a(ON_DIFF),) and kept.resolved == frozenset()
    assert gone.open == () and gone.resolved == {0}
    assert "its lines changed since aaaaaaaaaaaa" in gone.steps[0].detail


def test_a_blocker_off_the_diff_is_resolved_by_a_stated_fix_on_a_line_the_diff_adds(tmp_path):
    root = tree(tmp_path)
    item = from_a(ELSEWHERE, placed=False)
    cited = {"status": "fixed", "fix": "total() sums every item again", "path": "app/util.py", "line": 2}
    unstated = {"status": "fixed", "path": "app/util.py", "line": 2}
    context = {"status": "fixed", "fix": "fixed", "path": "app/util.py", "line": 1}  # not an added line

    accepted = carried.settle([item], reply({"F1": cited}), view(root), 1)
    refused = [carried.settle([item], reply({"F1": c}), view(root), 1) for c in (unstated, context)]

    assert accepted.open == () and "the fix is shown at app/util.py:2" in accepted.steps[0].detail
    assert all(r.open == (item,) for r in refused)


def test_a_finding_not_addressed_or_kept_open_stays_open(tmp_path):
    root = tree(tmp_path, util="# rewritten\n")
    items = [from_a(ON_DIFF), from_a(ELSEWHERE, placed=False)]

    settled = carried.settle(items, reply({"F2": "open"}), view(root), 1)
    garbage = carried.settle(items, "not json at all", view(root), 1)

    assert settled.open == tuple(items) and [s.name for s in settled.steps] == ["F2"]
    assert settled.kept_open == {1}
    assert garbage.open == tuple(items) and garbage.steps == ()


def test_without_claims_a_later_head_resolves_only_what_changed(tmp_path):
    changed = tree(tmp_path / "c", util="# rewritten\n")
    same = tree(tmp_path / "s")

    v1_changed = carried.settle(
        [from_a(ON_DIFF)], json.dumps(APPROVE), view(changed), 1, claims_expected=False
    )
    v1_same = carried.settle([from_a(ON_DIFF)], json.dumps(APPROVE), view(same), 1, claims_expected=False)
    v2_silent = carried.settle([from_a(ON_DIFF)], json.dumps(APPROVE), view(changed), 1)

    assert v1_changed.open == () and v1_same.open == (from_a(ON_DIFF),)
    assert v2_silent.open == (from_a(ON_DIFF),)  # a version that asks must be answered


def test_unknown_or_unreadable_heads_resolve_nothing(tmp_path):
    no_excerpt = from_a(ON_DIFF, excerpt="")

    unknown = carried.settle([from_a(ON_DIFF)], reply({"F1": "fixed"}), view(None), 1)
    empty = carried.settle([no_excerpt], reply({"F1": "fixed"}), view(tree(tmp_path, "x\n")), 1)

    assert unknown.open == (from_a(ON_DIFF),) and empty.open == (no_excerpt,)


def test_a_deleted_file_counts_as_changed(tmp_path):
    root = tree(tmp_path, main=None)
    item = from_a(ELSEWHERE, placed=False)

    settled = carried.settle([item], reply({"F1": "fixed"}), view(root), 1)

    assert settled.open == ()


@pytest.mark.parametrize(
    ("finding", "points"),
    [
        (ON_DIFF, True),
        (dataclasses.replace(ON_DIFF, line=1), True),
        (dataclasses.replace(ON_DIFF, line=99), False),
        (dataclasses.replace(ON_DIFF, path="app/missing.py"), False),
        (dataclasses.replace(ON_DIFF, path="../../etc/passwd"), False),
        (dataclasses.replace(ON_DIFF, line=2, side=Side.LEFT), True),
        (dataclasses.replace(ON_DIFF, line=3, side=Side.LEFT), False),  # not a deleted line
    ],
)
def test_the_fingerprint_covers_the_lines_a_finding_points_at_and_keeps_no_code(tmp_path, finding, points):
    print_ = carried.excerpt(finding, view(tree(tmp_path)))

    assert bool(print_) is points
    assert "sum" not in print_ and "items" not in print_


def test_a_deleted_line_counts_as_changed_once_the_head_no_longer_deletes_it(tmp_path):
    left = from_a(dataclasses.replace(ON_DIFF, line=2, side=Side.LEFT))
    other = carried.HeadView(HEAD_B, {}, tree(tmp_path))

    still = carried.settle([left], reply({"F1": "fixed"}), view(tree(tmp_path)), 1)
    gone = carried.settle([left], reply({"F1": "fixed"}), other, 1)

    assert still.open == (left,) and gone.open == ()


def test_review_v2_lists_earlier_findings_by_id_with_their_head_and_keeps_v1_without_ids():
    v1, v2 = prompts.load("review-v1"), prompts.load("review-v2")
    items = (OpenFinding(ON_DIFF), from_a(ELSEWHERE, placed=False))
    item = prompts.RoundInput("correctness", 2, change().chunks[0], 1, "pr", items)

    user_v1, user_v2 = prompts.messages(v1, item)[1].content, prompts.messages(v2, item)[1].content

    assert not v1.addresses_carried and v2.addresses_carried and v1.has_agent and v2.has_agent
    assert "- F1: app/util.py RIGHT line 3 [major]: drops" in user_v2 and "F1:" not in user_v1
    assert (
        "- F2: app/main.py RIGHT line 3 [critical] (raised on commit aaaaaaaaaaaa, not on a diff line)"
        in user_v2
    )
    assert '"addressed"' in prompts.messages(v2, item)[0].content


async def test_a_round_cannot_approve_by_declaring_a_blocker_fixed_on_the_same_commit(tmp_path):
    model = ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")])
    kit = runner(guarded(model), lambda root, paths: DictToolBox({}), version="review-v2")
    here = dataclasses.replace(change(tree(tmp_path, util="# rewritten\n")), head=HEAD_A)

    result = await kit.runner.run(2, here, [from_a(ON_DIFF)], deadline())

    assert result.verdict is Verdict.COMMENT
    assert [(s.kind, s.name, s.ok) for s in result.steps if s.kind == "carried"] == [("carried", "F1", False)]
    assert result.open_blockers == (from_a(ON_DIFF),)


async def test_the_single_call_round_of_review_v2_asks_for_addressed_in_its_schema():
    model = ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")])
    kit = runner(guarded(model), None, version="review-v2")

    result = await kit.runner.run(2, change(worktree=None), [OpenFinding(ON_DIFF)], deadline())

    assert result.verdict is Verdict.COMMENT
    assert model.requests[0].json_schema == carried.SCHEMA
    assert {"addressed"} <= set(carried.SCHEMA["properties"])
    assert {"fix", "path", "line"} <= set(carried.SCHEMA["properties"]["addressed"]["items"]["properties"])


async def test_a_blocker_whose_lines_changed_on_a_later_head_may_be_declared_fixed(tmp_path):
    model = ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")])
    kit = runner(guarded(model), lambda root, paths: DictToolBox({}), version="review-v2")
    later = dataclasses.replace(change(tree(tmp_path, util="# rewritten\n")), head=HEAD_B)

    result = await kit.runner.run(2, later, [from_a(ON_DIFF)], deadline())

    assert result.verdict is Verdict.APPROVE and result.open_blockers == ()


async def test_an_unplaced_blocker_of_a_round_stays_open_with_what_it_pointed_at(tmp_path):
    raised = dict(
        APPROVE, findings=[{"path": "app/main.py", "line": 3, "severity": "critical", "body": "breaks"}]
    )
    model = ScriptedModel([Completion(json.dumps(raised), 30, 20, "m")])
    kit = runner(guarded(model), lambda root, paths: DictToolBox({}))
    here = dataclasses.replace(change(tree(tmp_path)), head=HEAD_A)

    result = await kit.runner.run(1, here, [], deadline())

    assert result.verdict is Verdict.COMMENT and result.findings == ()
    (blocker,) = result.open_blockers
    assert (blocker.finding.path, blocker.finding.line, blocker.sha, blocker.placed) == (
        "app/main.py", 3, HEAD_A, False,
    )  # fmt: skip
    assert blocker.excerpt == fingerprint(dataclasses.replace(blocker.finding, body="any"))


def test_whitespace_alone_is_no_change(tmp_path):
    root = tree(
        tmp_path, util=UTIL_AFTER.replace("    return sum(items[:n])", "        return  sum(items[:n])  ")
    )

    settled = carried.settle([from_a(ON_DIFF)], reply({"F1": "fixed"}), view(root), 1)

    assert settled.open == (from_a(ON_DIFF),)


async def test_a_round_with_a_part_that_gave_no_review_resolves_nothing(tmp_path):
    two = change(tree(tmp_path, util="# rewritten\n"))
    first = dataclasses.replace(two.chunks[0], index=0)
    split = dataclasses.replace(two, chunks=(first, dataclasses.replace(first, index=1)), head=HEAD_B)
    model = ScriptedModel(
        [Completion(reply({"F1": "fixed"}), 30, 20, "m")] + [Completion("no json", 30, 20, "m")] * 2
    )
    kit = runner(guarded(model), None, version="review-v2")

    result = await kit.runner.run(2, split, [from_a(ON_DIFF)], deadline())
    whole = await runner(
        guarded(ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")] * 2)),
        None,
        version="review-v2",
    ).runner.run(2, split, [from_a(ON_DIFF)], deadline())

    assert result.verdict is Verdict.NONE and result.open_blockers == (from_a(ON_DIFF),)
    assert whole.verdict is Verdict.APPROVE and whole.open_blockers == ()
