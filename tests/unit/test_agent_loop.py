"""The agent loop of a round, in process: tools, bounds, forced final answers, protocols, redaction."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.adapters.memory.review_ports import InMemoryBudgetLedger
from bot.adapters.memory.scripted_model import ScriptedModel
from bot.domain import Coverage, Decision, Reason, ReviewOutcome, Verdict
from bot.entrypoints import report
from bot.errors import BudgetExceeded, ProviderError
from bot.ports import INVALID_ARGUMENTS, Completion, ToolCall, ToolResult
from bot.review.agent import loop as agent
from bot.review.rounds import RoundAborted
from guardrails import budget
from tests.support.agent_loop_kit import (
    APPROVE,
    BUG,
    CALLER,
    SECRET,
    UTIL_AFTER,
    DictToolBox,
    change,
    deadline,
    guarded,
    review_json,
    runner,
)

FILES = {"app/util.py": UTIL_AFTER, "app/main.py": CALLER}


def call(path: str, call_id: str = "c1", name: str = "read_file") -> Completion:
    return Completion("", 30, 5, "m", tool_calls=(ToolCall(call_id, name, {"path": path}),))


def answer(data: dict) -> Completion:
    return Completion(review_json(data), 30, 20, "m")


def text(body: str) -> Completion:
    return Completion(body, 30, 5, "m")


def boxed(files: dict[str, str] | None = None) -> tuple[DictToolBox, object]:
    box = DictToolBox(dict(files or FILES))
    return box, lambda root, paths: box


async def test_reads_a_file_then_finds_the_real_bug():
    model = ScriptedModel([call("app/main.py"), answer(BUG)])
    box, factory = boxed()
    kit = runner(guarded(model), factory)

    result = await kit.runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.REQUEST_CHANGES
    assert [(f.path, f.line) for f in result.findings] == [("app/util.py", 3)]
    assert [c.arguments for c in box.calls] == [{"path": "app/main.py"}]
    second = model.requests[1]
    tool_message = second.messages[-1]
    assert (tool_message.role, tool_message.tool_call_id, tool_message.name) == ("tool", "c1", "read_file")
    assert (
        "print(mean([1, 2, 3]))" in tool_message.content and "<untrusted-tool-result-" in tool_message.content
    )
    assert [t.name for t in model.requests[0].tools] == ["read_file"]
    assert [(s.kind, s.name, s.ok) for s in result.steps] == [
        ("model", "m", True),
        ("tool", "read_file", True),
        ("model", "m", True),
    ]
    assert result.steps == tuple(kit.steps)
    assert result.usage.input_tokens == 60 and result.usage.cost_micro_usd > 0


async def test_the_text_protocol_reaches_the_same_verdict_without_native_tools():
    reply = text(json.dumps({"tool": "read_file", "arguments": {"path": "app/main.py"}}))
    model = ScriptedModel([reply, answer(BUG)])
    box, factory = boxed()
    limits = agent.AgentLimits(4, 6, 30.0, protocol="text")

    result = await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.REQUEST_CHANGES
    assert all(not r.tools for r in model.requests)
    first, second = model.requests
    assert '"tool": "<tool name>"' in first.messages[0].content and "read_file" in first.messages[0].content
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user"]
    assert "print(mean([1, 2, 3]))" in second.messages[-1].content
    assert [c.arguments for c in box.calls] == [{"path": "app/main.py"}]


async def test_auto_uses_the_text_protocol_for_the_local_server():
    model = ScriptedModel([answer(APPROVE)], provider="local")
    _, factory = boxed()

    result = await runner(guarded(model), factory).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.APPROVE
    assert (
        not model.requests[0].tools
        and "Tools are called in plain text" in model.requests[0].messages[0].content
    )


async def test_a_provider_refusing_tools_falls_back_to_text_once_per_model():
    refusal = ProviderError("fake answered HTTP 400: m does not support tools", provider="p", status_code=400)
    model = ScriptedModel([refusal, answer(APPROVE), answer(APPROVE)])
    _, factory = boxed()
    memory = agent.ProtocolMemory()
    kit = runner(guarded(model), factory, protocols=memory)

    first = await kit.runner.run(1, change(), [], deadline())
    second = await kit.runner.run(2, change(), [], deadline())

    assert (first.verdict, second.verdict) == (Verdict.APPROVE, Verdict.APPROVE)
    assert [bool(r.tools) for r in model.requests] == [True, False, False]
    assert memory.choose("auto", "scripted", "scripted") == "text"


async def test_a_400_that_is_not_about_tools_is_not_a_protocol_switch():
    refusal = ProviderError("fake answered HTTP 400: prompt is too long", provider="p", status_code=400)
    model = ScriptedModel([refusal])
    _, factory = boxed()

    with pytest.raises(RoundAborted):
        await runner(guarded(model), factory).runner.run(1, change(), [], deadline())

    assert len(model.requests) == 1


async def test_a_native_model_writing_calls_as_text_continues_in_text():
    model = ScriptedModel([text('{"tool": "read_file", "arguments": {"path": "app/main.py"}}'), answer(BUG)])
    box, factory = boxed()

    result = await runner(guarded(model), factory).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.REQUEST_CHANGES and len(box.calls) == 1
    assert model.requests[0].tools and not model.requests[1].tools


async def test_a_model_that_never_stops_calling_tools_gets_one_forced_final_request_then_no_verdict():
    model = ScriptedModel([call("app/main.py", f"c{i}") for i in range(10)])
    _, factory = boxed()
    limits = agent.AgentLimits(max_turns=3, max_tool_calls=50, max_wall_s=30.0)

    result = await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.NONE
    assert len(model.requests) == 4
    final = model.requests[-1]
    assert final.tool_choice == "none" and "You cannot call any more tools" in final.messages[-1].content
    assert final.json_schema is not None and all(r.json_schema is None for r in model.requests[:-1])
    assert "the limit of 3 answers" in (result.error or "")


async def test_the_forced_final_answer_counts_when_it_is_valid():
    model = ScriptedModel([call("app/main.py", "a"), call("app/util.py", "b"), answer(BUG)])
    _, factory = boxed()
    limits = agent.AgentLimits(max_turns=5, max_tool_calls=2, max_wall_s=30.0)

    result = await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.REQUEST_CHANGES
    assert model.requests[-1].tool_choice == "none" and len(model.requests) == 3


async def test_calls_past_the_cap_in_one_turn_are_answered_but_not_run():
    calls = tuple(ToolCall(f"c{i}", "read_file", {"path": "app/main.py"}) for i in range(3))
    model = ScriptedModel([Completion("", 30, 5, "m", tool_calls=calls), answer(APPROVE)])
    box, factory = boxed()
    limits = agent.AgentLimits(max_turns=5, max_tool_calls=2, max_wall_s=30.0)

    result = await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    assert len(box.calls) == 2
    answered = [m for m in model.requests[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in answered] == ["c0", "c1", "c2"]
    assert "limit of tool calls" in answered[2].content
    assert [s.ok for s in result.steps if s.kind == "tool"] == [True, True, False]


async def test_every_answer_garbage_is_no_verdict_never_approval():
    model = ScriptedModel([text("I approve, ship it!")] * 6)
    _, factory = boxed()
    limits = agent.AgentLimits(max_turns=4, max_tool_calls=5, max_wall_s=30.0)

    result = await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.NONE and result.findings == ()
    assert len(model.requests) == 5
    assert "could not be used" in model.requests[1].messages[-1].content


async def test_unreadable_arguments_are_answered_without_running_the_tool():
    bad = ToolCall(
        "c1", "read_file", {INVALID_ARGUMENTS: "the arguments are not valid JSON (Expecting value)"}
    )
    model = ScriptedModel([Completion("", 30, 5, "m", tool_calls=(bad,)), answer(APPROVE)])
    box, factory = boxed()

    result = await runner(guarded(model), factory).runner.run(1, change(), [], deadline())

    assert box.calls == [] and result.verdict is Verdict.APPROVE
    assert "not valid JSON" in model.requests[1].messages[-1].content


async def test_a_tool_that_raises_is_a_failed_result_and_the_round_completes():
    model = ScriptedModel([call("app/main.py"), answer(APPROVE)])
    box = DictToolBox(dict(FILES), raise_on="read_file")

    result = await runner(guarded(model), lambda root, paths: box).runner.run(1, change(), [], deadline())

    assert result.verdict is Verdict.APPROVE
    assert "the tool failed" in model.requests[1].messages[-1].content


async def test_a_slow_tool_is_cut_by_the_wall_time_bound():
    class Slow(DictToolBox):
        async def run(self, call: ToolCall) -> ToolResult:
            await asyncio.sleep(5)
            raise AssertionError("unreachable")

    model = ScriptedModel([call("app/main.py"), answer(APPROVE)])
    box = Slow(dict(FILES))
    limits = agent.AgentLimits(max_turns=5, max_tool_calls=5, max_wall_s=0.2)

    result = await runner(guarded(model), lambda r, p: box, limits=limits).runner.run(
        1, change(), [], deadline()
    )

    assert result.verdict is Verdict.APPROVE
    assert "time for looking around is over" in model.requests[1].messages[-2].content
    assert model.requests[1].tool_choice == "none"


async def test_no_secret_from_a_call_or_a_careless_tool_goes_back_on_the_wire():
    leaky = {"app/main.py": f"TOKEN = '{SECRET}'\n", f"conf/{SECRET}.txt": "x"}
    model = ScriptedModel([call(f"conf/{SECRET}.txt"), call("app/main.py", "c2"), answer(APPROVE)])
    box, factory = boxed(leaky)

    result = await runner(guarded(model), factory).runner.run(1, change(), [], deadline())

    sent = json.dumps(
        [[m.content, [c.arguments for c in m.tool_calls]] for r in model.requests for m in r.messages]
    )
    assert SECRET not in sent and "[REDACTED:" in sent
    assert all(SECRET not in s.arguments for s in result.steps)
    assert box.calls[0].arguments == {"path": f"conf/{SECRET}.txt"}  # the toolbox itself got the real path


async def test_the_loop_stops_at_the_round_cap_and_never_spends_above_it():
    ledger = InMemoryBudgetLedger()
    cap = 7_000
    limits = budget.BudgetLimits(cap, 10**7, 10**8, 10**8)
    model = ScriptedModel([call("app/main.py", f"c{i}") for i in range(50)])
    _, factory = boxed()
    loop_limits = agent.AgentLimits(max_turns=50, max_tool_calls=50, max_wall_s=30.0)
    kit = runner(guarded(model, ledger, limits), factory, limits=loop_limits, max_output_tokens=100)

    with pytest.raises(RoundAborted) as aborted:
        await kit.runner.run(1, change(), [], deadline())

    spent = await ledger.used("round:o/r#1:1")
    assert spent <= cap
    # The round's budget stopped it (a turn's reservation no longer fit), not its own turn cap.
    assert len(model.requests) < loop_limits.max_turns
    cause = aborted.value.cause
    assert isinstance(cause, BudgetExceeded) and cause.limit_micro == cap, cause
    partial = aborted.value.partial
    assert partial.verdict is Verdict.NONE and partial.steps[-1].ok is False
    assert "budget" in partial.steps[-1].detail.lower()


async def test_without_a_worktree_the_round_is_the_single_call_round():
    model = ScriptedModel([answer(APPROVE)])
    box, factory = boxed()

    result = await runner(guarded(model), factory).runner.run(1, change(worktree=None), [], deadline())

    assert result.verdict is Verdict.APPROVE and result.steps == () and box.calls == []
    assert not model.requests[0].tools


async def test_the_json_report_shows_each_rounds_steps():
    model = ScriptedModel([call("app/main.py"), answer(BUG)])
    _, factory = boxed()
    result = await runner(guarded(model), factory).runner.run(1, change(), [], deadline())
    outcome = ReviewOutcome(
        Decision.CHANGES_REQUESTED,
        Reason.CHANGES_REQUESTED,
        "a" * 40,
        "b" * 40,
        (result,),
        (),
        "",
        Coverage(1, 1),
    )

    rounds = report.to_json(outcome, report.Meta("scripted", "review-v1", 0))["rounds"]

    steps = rounds[0]["steps"]
    assert [s["kind"] for s in steps] == ["model", "tool", "model"]
    assert steps[1]["arguments"] == '{"path": "app/main.py"}' and steps[1]["result_bytes"] > 0
    assert steps[0]["input_tokens"] == 30 and "cost_usd" in steps[0] and "duration_ms" in steps[1]


async def test_the_turns_of_a_part_stop_at_the_input_token_bound():
    model = ScriptedModel([call("app/main.py", f"c{i}") for i in range(10)])
    _, factory = boxed()
    limits = agent.AgentLimits(max_turns=8, max_tool_calls=50, max_wall_s=30.0, max_input_tokens=70)

    result = await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    # 30 input tokens a turn: the third turn passes 70, so the fourth request is the forced final one.
    assert len(model.requests) == 4 and model.requests[-1].tool_choice == "none"
    assert "the limit of 70 input tokens" in (result.error or "")


async def test_old_tool_results_are_not_sent_again_on_every_turn():
    files = {"app/main.py": "MAIN-MARKER\n" * 40, "app/util.py": "UTIL-MARKER\n" * 40, "app/x.py": "X\n"}
    model = ScriptedModel(
        [call("app/main.py", "a"), call("app/util.py", "b"), call("app/x.py", "c"), answer(BUG)]
    )
    _, factory = boxed(files)
    limits = agent.AgentLimits(max_turns=8, max_tool_calls=50, max_wall_s=30.0)

    await runner(guarded(model), factory, limits=limits).runner.run(1, change(), [], deadline())

    last = "\n".join(m.content for m in model.requests[-1].messages)
    # The first result is two exchanges old: one line stands for it; the last two are sent in full.
    assert "MAIN-MARKER" not in last and "shown earlier, not repeated" in last
    assert last.count("UTIL-MARKER") == 40
    sizes = [sum(len(m.content) for m in r.messages) for r in model.requests]
    assert sizes[3] - sizes[2] < sizes[2] - sizes[1]  # the input stops growing by whole results
