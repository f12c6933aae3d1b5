"""`quorum review` with agent rounds: the reviewer reads a file of the worktree through a tool before its
verdict, the tool call shows in the JSON transcript, and nothing outside the worktree reaches the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Run, review_json
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory


def test_an_agent_round_reads_the_worktree_and_records_its_steps(
    feature_repo: Path, fake_llm: FakeLLMFactory, quorum: Callable[..., Run]
) -> None:
    finding = {"path": "calc.py", "line": 6, "side": "RIGHT", "severity": "major",
               "body": "Divides by n-1: mean() is wrong for every input."}  # fmt: skip

    def script(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        messages = request.body.get("messages", [])
        if not any(m.get("role") == "tool" for m in messages):
            return llm_servers.Reply.tool_call("read_file", {"path": "calc.py", "start": 1, "end": 20})
        return llm_servers.Reply(review_json("request_changes", [finding], "reads calc.py, finds the bug"))

    fake = fake_llm("openai", script)

    run = quorum(
        "review", str(feature_repo), "--base", "main", "--format", "json", fake=fake,
        QUORUM_AGENT__ENABLED="true",
    )  # fmt: skip

    assert run.out, run.err
    out = run.json
    assert out["decision"] == "changes_requested", run.err
    steps = out["rounds"][0]["steps"]
    tools = [s for s in steps if s["kind"] == "tool"]
    assert tools and tools[0]["name"] == "read_file" and tools[0]["ok"]
    assert any(s["kind"] == "model" for s in steps)
    wire = fake.wire_text()
    assert "return sum(values) / (len(values) - 1)" in wire  # the file content reached the model via the tool
    tool_bodies = [b for b in fake.chat_bodies() if any(m.get("role") == "tool" for m in b["messages"])]
    assert tool_bodies and json.dumps(tool_bodies).count("ghp_") == 0
