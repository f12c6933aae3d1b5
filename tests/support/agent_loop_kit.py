"""What the agent-loop tests share: a dict-of-files toolbox, a small change with a real bug, and a runner
wired like production (guarded model, in-memory ledger and cache, the agent loop)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import ports
from bot.adapters.memory import review_ports as memory
from bot.domain import Step
from bot.ports import LanguageModel, ToolCall, ToolResult, ToolSpec
from bot.retry_policy import RetryPolicy
from bot.review import chunking, diffparse, prompts
from bot.review.agent import loop as agent
from bot.review.llm_call import GuardedModel, PricedModel
from bot.review.rounds import Change, Reviewer, RoundConfig, RoundRunner
from guardrails import budget, deadlines
from guardrails.clock import SystemClock
from guardrails.pricing import Price
from guardrails.text import redaction

CLOCK = SystemClock()
PRICE = Price.from_usd(1.0, 2.0)
WIDE = budget.BudgetLimits(10**7, 10**7, 10**8, 10**8)
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"  # a GitHub token shape the redactor knows

UTIL_BEFORE = (
    "def total(items):\n    return sum(items)\n\n\ndef mean(items):\n    return total(items) / len(items)\n"
)
UTIL_AFTER = (
    "def total(items):\n    n = len(items) - 1\n    return sum(items[:n])\n\n\n"
    "def mean(items):\n    return total(items) / len(items)\n"
)
DIFF = b"""diff --git a/app/util.py b/app/util.py
index 1111111..2222222 100644
--- a/app/util.py
+++ b/app/util.py
@@ -1,2 +1,3 @@
 def total(items):
-    return sum(items)
+    n = len(items) - 1
+    return sum(items[:n])
"""
CALLER = "from app.util import mean\n\nprint(mean([1, 2, 3]))\n"
BUG = {
    "verdict": "request_changes",
    "summary": "total() now drops the last item, so mean() used by app/main.py is wrong.",
    "confidence": 0.9,
    "findings": [
        {"path": "app/util.py", "line": 3, "side": "RIGHT", "severity": "major",
         "body": "items[:n] skips the last item; mean() in app/main.py now returns a wrong value."}
    ],
}  # fmt: skip
APPROVE = {"verdict": "approve", "summary": "Looks fine.", "confidence": 0.8, "findings": []}
READ_SPEC = ToolSpec(
    "read_file",
    "Read a text file of the repository.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


def review_json(data: dict[str, Any]) -> str:
    return json.dumps(data)


@dataclass
class DictToolBox:
    """A `ToolBox` over a dict of files: `read_file` only; counts calls and bytes like the real one."""

    files: dict[str, str]
    calls: list[ToolCall] = field(default_factory=list)
    read: int = 0
    raise_on: str | None = None

    def specs(self) -> tuple[ToolSpec, ...]:
        return (READ_SPEC,)

    async def run(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        if call.name == self.raise_on:
            raise RuntimeError("a broken tool")
        if call.name != "read_file":
            return ToolResult(call.id, call.name, False, "unknown tool")
        path = str(call.arguments.get("path", ""))
        if path not in self.files:
            return ToolResult(call.id, call.name, False, "no such file")
        text = self.files[path]
        self.read += len(text.encode())
        return ToolResult(call.id, call.name, True, text, bytes_read=len(text.encode()))

    @property
    def bytes_read(self) -> int:
        return self.read


def change(worktree: Path | None = Path("/nonexistent-worktree"), diff: bytes = DIFF) -> Change:
    files = diffparse.parse(diff)
    chunks, _ = chunking.build_chunks(files, 4000)
    return Change("o/r", "o/r#1", tuple(chunks), {f.path: f for f in files}, "Speed up total()", worktree)


def guarded(model: LanguageModel, ledger: Any = None, limits: budget.BudgetLimits = WIDE) -> GuardedModel:
    return GuardedModel(
        [PricedModel(model, PRICE)],
        ledger if ledger is not None else memory.InMemoryBudgetLedger(),
        limits,
        CLOCK,
        call_timeout_s=10.0,
        retry=RetryPolicy(0, 0.01, 0.01),
        rng=random.Random(1),
    )


@dataclass
class Kit:
    runner: RoundRunner
    steps: list[Step]


def runner(
    model: GuardedModel,
    toolbox_factory: Callable[[Path, Sequence[str]], Any] | None,
    *,
    limits: agent.AgentLimits | None = None,
    version: str = "review-v1",
    protocols: agent.ProtocolMemory | None = None,
    known_secrets: Sequence[str] = (),
    max_output_tokens: int = 400,
) -> Kit:
    prompt_set = prompts.load(version)
    loop = agent.Agent(
        prompt_set,
        limits or agent.AgentLimits(max_turns=4, max_tool_calls=6, max_wall_s=30.0),
        redaction.Redactor(known_secrets),
        CLOCK,
        protocols=protocols,
    )
    steps: list[Step] = []
    built = RoundRunner(
        prompt_set,
        [Reviewer("correctness", model)],
        memory.InMemoryQueryCache(),
        CLOCK,
        RoundConfig(max_output_tokens, 0.0, 10, 60, 30.0),
        ports.NO_PROGRESS,
        agent_loop=loop,
        toolbox_factory=toolbox_factory,
        on_step=steps.append,
    )
    return Kit(built, steps)


def deadline(seconds: float = 30.0) -> deadlines.Deadline:
    return deadlines.Deadline.after(CLOCK, "review_job", seconds)
