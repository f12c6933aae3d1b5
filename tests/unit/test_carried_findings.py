"""Memory across rounds: earlier findings the model must address, and which of them stay open."""

from __future__ import annotations

import json

from bot.adapters.memory import ScriptedModel
from bot.domain import Finding, Severity, Side, Verdict
from bot.ports import Completion
from bot.review import carried, prompts
from tests.support.agent_loop_kit import APPROVE, DictToolBox, change, deadline, guarded, runner

ON_DIFF = Finding("app/util.py", 3, Side.RIGHT, Severity.MAJOR, "drops the last item")
GONE = Finding("app/old.py", 9, Side.RIGHT, Severity.CRITICAL, "sql injection")


def reply(status: dict[str, str], verdict: dict | None = None) -> str:
    data = dict(verdict or APPROVE)
    data["addressed"] = [{"id": k, "status": v} for k, v in status.items()]
    return json.dumps(data)


def test_a_fixed_claim_on_a_line_still_in_the_diff_stays_open():
    files = change().files

    settled = carried.settle([ON_DIFF, GONE], reply({"F1": "fixed", "F2": "fixed"}), files, 1)

    assert settled.open == (ON_DIFF,)
    assert [(s.name, s.ok) for s in settled.steps] == [("F1", False), ("F2", True)]
    assert "still part of the diff" in settled.steps[0].detail


def test_a_finding_not_addressed_or_kept_open_stays_open():
    files = change().files

    settled = carried.settle([ON_DIFF, GONE], reply({"F2": "open"}), files, 1)
    garbage = carried.settle([ON_DIFF, GONE], "not json at all", files, 1)

    assert settled.open == (ON_DIFF, GONE) and [s.name for s in settled.steps] == ["F2"]
    assert garbage.open == (ON_DIFF, GONE) and garbage.steps == ()


def test_review_v2_lists_earlier_findings_by_id_and_keeps_v1_unchanged():
    v1, v2 = prompts.load("review-v1"), prompts.load("review-v2")
    item = prompts.RoundInput("correctness", 2, change().chunks[0], 1, "pr", (ON_DIFF, GONE))

    user_v1, user_v2 = prompts.messages(v1, item)[1].content, prompts.messages(v2, item)[1].content

    assert not v1.addresses_carried and v2.addresses_carried and v1.has_agent and v2.has_agent
    assert "- F1: app/util.py RIGHT line 3 [major]" in user_v2 and "F1:" not in user_v1
    assert '"addressed"' in prompts.messages(v2, item)[0].content


async def test_a_round_cannot_approve_by_declaring_a_blocker_fixed_on_the_same_commit():
    model = ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")])
    box = DictToolBox({})
    kit = runner(guarded(model), lambda root, paths: box, version="review-v2")

    result = await kit.runner.run(2, change(), [ON_DIFF], deadline())

    assert result.verdict is Verdict.COMMENT
    assert [(s.kind, s.name, s.ok) for s in result.steps if s.kind == "carried"] == [("carried", "F1", False)]


async def test_the_single_call_round_of_review_v2_asks_for_addressed_in_its_schema():
    model = ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")])
    kit = runner(guarded(model), None, version="review-v2")

    result = await kit.runner.run(2, change(worktree=None), [ON_DIFF], deadline())

    assert result.verdict is Verdict.COMMENT
    assert model.requests[0].json_schema == carried.SCHEMA
    assert "addressed" in carried.SCHEMA["properties"]


async def test_a_blocker_whose_line_left_the_diff_may_be_declared_fixed():
    model = ScriptedModel([Completion(reply({"F1": "fixed"}), 30, 20, "m")])
    kit = runner(guarded(model), lambda root, paths: DictToolBox({}), version="review-v2")

    result = await kit.runner.run(2, change(), [GONE], deadline())

    assert result.verdict is Verdict.APPROVE
