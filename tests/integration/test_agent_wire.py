"""The agent loop over real HTTP (the fake providers) with the real toolbox on a real git repository:
native tool calling in the three wire formats, the text protocol, hostile paths, and what leaves on the
wire."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.adapters.git import tools as worktree_tools
from bot.adapters.llm import anthropic as llm_anthropic
from bot.adapters.llm import ollama as llm_ollama
from bot.adapters.llm import openai as llm_openai
from bot.domain import Verdict
from bot.ports import LanguageModel
from bot.review.agent import loop as agent
from bot.review.agent import tools
from guardrails.text import redaction
from tests.fakes.llm_servers import FakeLLMServer, Reply, ScriptedCall
from tests.support.agent_loop_kit import (
    APPROVE,
    BUG,
    CALLER,
    SECRET,
    UTIL_AFTER,
    change,
    deadline,
    guarded,
    review_json,
    runner,
)
from tests.support.git_repos import GitRepo

FLAVORS = ["openai", "ollama", "anthropic"]
KNOWN = "hunter2-known-canary-pw"
PASSWD_MARK = "root:x:0:0"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
def worktree(tmp_path: Path) -> tuple[Path, str]:
    """A checkout with the change, a planted secret, hostile links and files, and a canary outside it."""
    canary = f"CANARY-{random.Random(7).getrandbits(64):016x}"
    (tmp_path / "canary.txt").write_text(canary + "\n")
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "the change",
        {
            "app/util.py": UTIL_AFTER,
            "app/main.py": CALLER,
            "config/settings.py": f'API_TOKEN = "{SECRET}"\nDB_PASSWORD = "{KNOWN}"\n',
            "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0binary",
        },
    )
    repo.symlink("leak.txt", str(tmp_path / "canary.txt"))
    repo.symlink("etc", "/etc")
    with (repo.path / "huge.txt").open("wb") as big:
        big.truncate(50 * 1024 * 1024)  # 50 MB, sparse: instant to make
    return repo.path, canary


def model_for(flavor: str, server: FakeLLMServer, client: httpx.AsyncClient) -> LanguageModel:
    url = server.base_url
    if flavor == "openai":
        return llm_openai.OpenAICompatibleModel(client, base_url=url, model="fake-model", api_key="k")
    if flavor == "ollama":
        return llm_ollama.OllamaModel(client, base_url=url, model="fake-model")
    return llm_anthropic.AnthropicModel(client, base_url=url, model="fake-model", api_key="k")


def real_tools(max_calls: int = 20):
    redactor = redaction.Redactor([KNOWN])
    limits = tools.ToolLimits(max_tool_calls=max_calls, max_read_bytes=256 * 1024, max_result_bytes=8 * 1024)
    return lambda root, paths: tools.BoundedToolBox(
        worktree_tools.GitWorktreeTools(root), redactor, limits, changed_paths=paths
    )


def loop_limits(turns: int = 6, calls: int = 20, protocol: agent.ToolProtocol = "auto") -> agent.AgentLimits:
    return agent.AgentLimits(turns, calls, 30.0, 256 * 1024, protocol)


async def review(flavor, server, client, root, **kwargs):
    kit = runner(guarded(model_for(flavor, server, client)), real_tools(), known_secrets=[KNOWN], **kwargs)
    return await kit.runner.run(1, change(root), [], deadline())


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_reads_a_file_then_finds_the_real_bug(fake_llm, client, worktree, flavor):
    server = fake_llm(flavor)
    server.push(Reply.tool_call("read_file", {"path": "app/main.py"}), Reply(text=review_json(BUG)))

    result = await review(flavor, server, client, worktree[0])

    assert result.verdict is Verdict.REQUEST_CHANGES
    assert [(f.path, f.line) for f in result.findings] == [("app/util.py", 3)]
    first, second = server.chat_bodies()
    assert "read_file" in str(first["tools"])
    answer = second["messages"][-1]
    if flavor == "anthropic":
        block = answer["content"][0]
        assert (answer["role"], block["type"]) == ("user", "tool_result")
        assert block["tool_use_id"] == second["messages"][-2]["content"][0]["id"]
        content = block["content"]
    else:
        assert answer["role"] == "tool"
        content = answer["content"]
    assert "print(mean([1, 2, 3]))" in content
    assert [s.kind for s in result.steps] == ["model", "tool", "model"]


async def test_a_provider_without_tools_is_served_by_the_text_protocol(fake_llm, client, worktree):
    server = fake_llm("openai", supports_tools=False)
    server.push(Reply.text_tool_call("read_file", {"path": "app/main.py"}), Reply(text=review_json(BUG)))

    result = await review("openai", server, client, worktree[0])

    assert result.verdict is Verdict.REQUEST_CHANGES
    bodies = server.chat_bodies()
    assert ["tools" in b for b in bodies] == [True, False, False]
    assert [m["role"] for m in bodies[2]["messages"]] == ["system", "user", "assistant", "user"]
    assert "print(mean([1, 2, 3]))" in bodies[2]["messages"][-1]["content"]


async def test_garbage_arguments_are_told_to_the_model_not_raised(fake_llm, client, worktree):
    server = fake_llm("openai")
    server.push(
        Reply.tool_call("read_file", raw_arguments='{"path": "app/ma'), Reply(text=review_json(APPROVE))
    )

    result = await review("openai", server, client, worktree[0])

    assert result.verdict is Verdict.APPROVE
    told = server.chat_bodies()[1]["messages"][-1]
    assert told["role"] == "tool" and "not valid JSON" in told["content"]


HOSTILE = [
    ("read_file", {"path": "../../etc/passwd"}),
    ("read_file", {"path": "/etc/passwd"}),
    ("read_file", {"path": "etc/passwd"}),
    ("read_file", {"path": "huge.txt"}),
    ("read_file", {"path": "logo.png"}),
    ("read_file", {"path": f"config/{SECRET}.py"}),
    ("read_file", {"path": "leak.txt"}),
    ("list_dir", {"path": ".."}),
    ("list_dir", {"path": "etc"}),
    ("search", {"pattern": "CANARY"}),
    ("search", {"pattern": SECRET}),
    ("search", {"pattern": KNOWN}),
    ("git_blame", {"path": "config/settings.py", "start": 1, "end": 2}),
    ("git_log", {"path": "../", "n": 5}),
]
BENIGN = [
    ("read_file", {"path": "config/settings.py"}),
    ("read_file", {"path": "app/util.py", "start": 1, "end": 3}),
    ("search", {"pattern": "API_TOKEN", "path_glob": "config/*.py"}),
    ("list_dir", {"path": "."}),
    ("git_log", {"path": "app/util.py", "n": 3}),
]


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_hostile_paths_are_refused_and_the_round_still_completes(fake_llm, client, worktree, flavor):
    root, canary = worktree
    server = fake_llm(flavor)
    calls = [ScriptedCall(name, args) for name, args in HOSTILE[:7]]
    server.push(Reply(tool_calls=calls), Reply(text=review_json(APPROVE)))

    result = await review(flavor, server, client, root)

    assert result.verdict is Verdict.APPROVE
    tool_steps = [s for s in result.steps if s.kind == "tool"]
    assert len(tool_steps) == 7 and not any(s.ok for s in tool_steps)
    wire = server.wire_text()
    assert canary not in wire and PASSWD_MARK not in wire and SECRET not in wire


@pytest.mark.parametrize("seed", range(12))
async def test_no_outside_byte_and_no_secret_reaches_a_request_body(fake_llm, client, worktree, seed):
    root, canary = worktree
    rng = random.Random(seed)
    flavor = rng.choice(FLAVORS)
    server = fake_llm(flavor)
    for _ in range(rng.randint(1, 5)):
        picked = [rng.choice(HOSTILE + BENIGN) for _ in range(rng.randint(1, 3))]
        server.push(Reply(tool_calls=[ScriptedCall(name, dict(args)) for name, args in picked]))
    server.push(Reply(text=review_json(rng.choice([APPROVE, BUG]))))

    result = await review(flavor, server, client, root, limits=loop_limits(turns=6, calls=20))

    wire = server.wire_text()
    assert result.verdict is not Verdict.NONE
    for forbidden in (canary, SECRET, KNOWN, PASSWD_MARK):
        assert forbidden not in wire, (seed, flavor, forbidden)
    assert all(SECRET not in s.arguments and KNOWN not in s.arguments for s in result.steps)
