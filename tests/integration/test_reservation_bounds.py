"""Each adapter's reservation is an upper bound of what an honest provider bills, checked on the wire.

The fake provider here bills the worst an honest service could: every byte of text it was sent is a
token (byte-level tokenizers never emit more), plus chat-template framing per message and Anthropic's
hidden tool-use prompt, and it writes until the output cap the adapter put on the wire (`max_tokens`,
or Ollama's `options.num_predict`) or, without one, 4096 tokens. A call that settled above its
reservation would raise `UsageOverReservation`.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from bot.adapters.llm.anthropic import AnthropicModel
from bot.adapters.llm.ollama import OllamaModel
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.adapters.memory import review_ports as memory
from bot.ports import ChatMessage, CompletionRequest, LanguageModel, ToolCall, ToolSpec
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import budget, deadlines
from guardrails.clock import SystemClock
from guardrails.pricing import Price
from tests.fakes.llm_servers import FakeLLMServer, RecordedRequest, Reply

PRICE = Price.from_usd(3.0, 15.0)
UNCAPPED_OUTPUT = 4096
FRAMING_PER_MESSAGE = 4
ANTHROPIC_TOOL_PROMPT = 346  # Claude 4 models, tool_choice auto/none (Anthropic's tool use pricing table)
TOOL = ToolSpec("read_file", "Read lines of a file in the worktree", {
    "type": "object", "properties": {"path": {"type": "string"}, "start": {"type": "integer"}},
    "required": ["path"],
})  # fmt: skip


def strings(value: Any) -> list[str]:
    """Every string in a JSON value (keys too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def honest_worst_case(flavor: str, body: dict[str, Any]) -> tuple[int, int]:
    """Input and output tokens the worst honest provider bills for `body`."""
    text = strings(body.get("messages", [])) + strings(body.get("system", ""))
    tools = body.get("tools", [])
    tokens = sum(len(t.encode()) for t in text) + sum(len(json.dumps(t).encode()) for t in tools)
    tokens += FRAMING_PER_MESSAGE * len(body.get("messages", []))
    if flavor == "anthropic" and tools:
        tokens += ANTHROPIC_TOOL_PROMPT
    cap = body.get("options", {}).get("num_predict") if flavor == "ollama" else body.get("max_tokens")
    return tokens, cap if isinstance(cap, int) else UNCAPPED_OUTPUT


def request(tools: bool) -> CompletionRequest:
    rng = random.Random(7)
    diff = "".join(rng.choice("aé€𝄞 \n{}") for _ in range(3_000))  # multi-byte text, as diffs have
    call = ToolCall("call_1", "read_file", {"path": "src/app.py", "start": 10})
    messages = (
        ChatMessage("system", "You review code. Answer with JSON."),
        ChatMessage("user", f"Review this change:\n{diff}"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "def main():\n    return 1\n" * 20, tool_call_id="call_1", name="read_file"),
    )
    if not tools:
        messages = messages[:2]
    return CompletionRequest(messages, max_tokens=700, tools=(TOOL,) if tools else ())


def adapter(flavor: str, base_url: str, client: httpx.AsyncClient) -> LanguageModel:
    if flavor == "openai":
        return OpenAICompatibleModel(client, base_url=base_url, model="gpt-4o", api_key="k")
    if flavor == "ollama":
        return OllamaModel(client, base_url=base_url, model="qwen2.5-coder:7b")
    return AnthropicModel(client, base_url=base_url, model="claude-sonnet-4", api_key="k")


@pytest.mark.parametrize("tools", [False, True])
@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
async def test_the_reservation_bounds_what_an_honest_provider_bills(flavor: str, tools: bool) -> None:
    billed: list[tuple[int, int]] = []

    def bill(req: RecordedRequest) -> Reply:
        billed.append(honest_worst_case(flavor, req.body))
        return Reply(text="{}", input_tokens=billed[-1][0], output_tokens=billed[-1][1])

    records: list[Any] = []
    ledger = memory.InMemoryBudgetLedger()
    with FakeLLMServer(flavor, bill) as fake:
        async with httpx.AsyncClient() as client:
            model = GuardedModel(
                [PricedModel(adapter(flavor, fake.base_url, client), PRICE)], ledger,
                budget.BudgetLimits(10**9, 10**9, 10**9, 10**9), SystemClock(), call_timeout_s=10.0,
                retry=RetryPolicy(0, 0.01, 0.01), observe=records.append,
            )  # fmt: skip
            scope = budget.BudgetScope("o/r", "o/r#1", 1, "abc")
            _, cost = await model.call(
                request(tools), scope, deadlines.Deadline.after(SystemClock(), "job", 10)
            )

    [(input_tokens, output_tokens)] = billed
    [record] = records
    assert output_tokens == 700, "the adapter must cap the output on the wire"
    assert cost == PRICE.cost_micro(input_tokens, output_tokens) <= record.reserved_micro
    assert record.outcome == "ok"
    print(f"\n{flavor} tools={tools}: billed {cost} <= reserved {record.reserved_micro} micro-USD "
          f"({record.reserved_micro / cost:.2f}x)")  # fmt: skip
