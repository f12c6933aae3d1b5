"""BoundedToolBox over an in-test Worktree: caps, budgets, redaction, truncation, refusals, never raising."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from bot.errors import WorkspaceError
from bot.ports import BlameLine, Entry, EntryKind, LogEntry, SearchHit, SearchOutcome, ToolCall
from bot.review.agent import arguments as tool_arguments
from bot.review.agent import tools
from bot.review.agent.tools import BoundedToolBox, ToolLimits
from guardrails.text.redaction import Redactor

_RNG = random.Random(11)
KNOWN = "kn0wn-" + "".join(_RNG.choice("abcdefghijklmnop") for _ in range(16))
GH_TOKEN = "ghp_" + "".join(
    _RNG.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(36)
)


class FakeWorktree:
    """A worktree of in-memory files; raises what a real one would for missing paths."""

    def __init__(self, files: dict[str, bytes] | None = None, *, analysers: bool = False) -> None:
        self.files = files or {}
        self.reads: list[str] = []
        self.analysed: list[Sequence[str]] = []
        self.delay_s = 0.0
        self.error: BaseException | None = None
        self.analysers = analysers
        self.entries: list[Entry] = []
        self.hits: tuple[SearchHit, ...] = ()

    @property
    def analysers_configured(self) -> bool:
        return self.analysers

    async def _touch(self, what: str) -> None:
        self.reads.append(what)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error

    async def read_bytes(self, rel_path: str, max_bytes: int) -> bytes:
        await self._touch(rel_path)
        if rel_path not in self.files:
            raise WorkspaceError(f"cannot resolve {rel_path!r}: no such file")
        return self.files[rel_path]

    async def list_dir(self, rel_path: str) -> list[Entry]:
        await self._touch(rel_path)
        return self.entries

    async def search(
        self, pattern: str, *, path_glob: str | None, regex: bool, max_matches: int
    ) -> SearchOutcome:
        await self._touch(pattern)
        return SearchOutcome(self.hits[:max_matches], 3, 1, capped=len(self.hits) > max_matches)

    async def git_log(self, rel_path: str, n: int) -> list[LogEntry]:
        await self._touch(rel_path)
        return [LogEntry(f"{i:040x}", "2024-01-02", "Ann", f"change {i} with {GH_TOKEN}") for i in range(n)]

    async def git_blame(self, rel_path: str, start: int, end: int) -> list[BlameLine]:
        await self._touch(rel_path)
        return [
            BlameLine(n, "a" * 40, "Ann", "2024-01-02", f"SECRET_KEY={KNOWN}") for n in range(start, end + 1)
        ]

    async def analyse(self, paths: Sequence[str]) -> str:
        await self._touch("analyse")
        self.analysed.append(paths)
        return f"a.py:1:1: F401 unused import; token {KNOWN}"


def _limits(**overrides: int | float) -> ToolLimits:
    values: dict[str, int | float] = {
        "max_tool_calls": 10,
        "max_read_bytes": 100_000,
        "max_result_bytes": 4_000,
    }
    values.update(overrides)
    return ToolLimits(**values)  # type: ignore[arg-type]


def _box(worktree: FakeWorktree, **limits: int | float) -> BoundedToolBox:
    return BoundedToolBox(worktree, Redactor([KNOWN]), _limits(**limits), changed_paths=["a.py"])


def _call(name: str, **arguments: object) -> ToolCall:
    return ToolCall("call-1", name, arguments)


async def test_read_file_returns_numbered_lines_and_counts_bytes():
    box = _box(FakeWorktree({"a.py": b"one\ntwo\nthree\n"}))

    result = await box.run(_call("read_file", path="a.py", start=2, end=3))

    assert result.ok and result.call_id == "call-1" and result.name == "read_file"
    assert result.text == "a.py lines 2-3 of 3\n2: two\n3: three"
    assert result.bytes_read == len(b"2: two\n3: three") == box.bytes_read
    assert not result.truncated


async def test_call_cap_refuses_without_touching_the_worktree():
    worktree = FakeWorktree({"a.py": b"x\n"})
    box = _box(worktree, max_tool_calls=2)

    results = [await box.run(_call("read_file", path="a.py")) for _ in range(3)]

    assert [r.ok for r in results] == [True, True, False]
    assert tools.CALL_LIMIT_TEXT in results[2].text
    assert worktree.reads == ["a.py", "a.py"]


async def test_read_budget_cuts_then_refuses_and_is_never_exceeded():
    content = "".join(f"line {n:04d}\n" for n in range(1, 300)).encode()
    worktree = FakeWorktree({"a.py": content})
    box = _box(worktree, max_read_bytes=1_000)

    first = await box.run(_call("read_file", path="a.py"))
    second = await box.run(_call("read_file", path="a.py", start=200))

    assert first.ok and first.truncated and "read budget used up" in first.text
    assert box.bytes_read <= 1_000
    assert not second.ok and tools.READ_LIMIT_TEXT in second.text
    assert worktree.reads == ["a.py"]


async def test_result_is_capped_on_a_line_boundary_saying_how_much_was_cut():
    content = "".join(f"line {n:04d} " + "x" * 40 + "\n" for n in range(1, 400)).encode()
    box = _box(FakeWorktree({"big.txt": content}), max_result_bytes=1_000)

    result = await box.run(_call("read_file", path="big.txt"))

    assert result.ok and result.truncated
    assert len(result.text.encode()) <= 1_000
    body = result.text.split("\n")[1:-1]
    assert body and all(line.endswith("x" * 40) for line in body)
    assert "more bytes (" in result.text.split("\n")[-1] and "lines) cut" in result.text


async def test_range_is_capped_at_max_lines():
    content = "".join(f"{n}\n" for n in range(1, 1000)).encode()
    box = _box(FakeWorktree({"a.txt": content}), max_result_bytes=100_000)
    box_limits = _limits()

    result = await box.run(_call("read_file", path="a.txt", start=10, end=900))

    last = 10 + box_limits.max_lines - 1
    assert result.ok and f"lines 10-{last} of 999" in result.text
    assert f"capped at {box_limits.max_lines} lines" in result.text
    assert result.text.endswith(f"{last}: {last}")


async def test_file_content_is_redacted():
    content = f"safe = 1\nAPI_TOKEN={KNOWN}\nprint('{GH_TOKEN}')\n".encode()
    box = _box(FakeWorktree({"a.py": content}))

    result = await box.run(_call("read_file", path="a.py"))

    assert result.ok and "safe = 1" in result.text
    assert KNOWN not in result.text and GH_TOKEN not in result.text
    assert "[REDACTED:" in result.text


async def test_a_private_key_opened_before_the_range_is_still_masked():
    body = "\n".join("".join(_RNG.choice("ABCDEFabcdef0123456789+/") for _ in range(64)) for _ in range(120))
    key = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    box = _box(FakeWorktree({"id_rsa": ("x = 1\n" + key).encode()}), max_result_bytes=100_000)

    result = await box.run(_call("read_file", path="id_rsa", start=100, end=110))

    key_lines = body.split("\n")[97:108]
    assert result.ok and not any(line in result.text for line in key_lines)


@pytest.mark.parametrize("path", [f"dir/{KNOWN}.txt", f"it's\\{KNOWN}\"x", f"../{GH_TOKEN}/../x"])
async def test_a_path_the_model_sent_is_redacted_when_echoed(path):
    box = _box(FakeWorktree())

    result = await box.run(_call("read_file", path=path))

    assert not result.ok
    assert KNOWN not in result.text and GH_TOKEN not in result.text
    assert "[REDACTED:" in result.text


async def test_listing_names_and_log_and_blame_are_redacted():
    worktree = FakeWorktree()
    worktree.entries = [
        Entry(f"{KNOWN}.pem", EntryKind.FILE, 12),
        Entry("src", EntryKind.DIR, 0),
    ]
    box = _box(worktree)

    listing = await box.run(_call("list_dir", path="."))
    log = await box.run(_call("git_log", path="a.py", n=3))
    blame = await box.run(_call("git_blame", path="a.py", start=1, end=2))

    assert listing.ok and "src/" in listing.text and "(12 bytes)" in listing.text
    assert log.ok and log.text.count("\n") == 3 and "change 2" in log.text
    assert blame.ok and "SECRET_KEY=" in blame.text
    for result in (listing, log, blame):
        assert KNOWN not in result.text and GH_TOKEN not in result.text


@pytest.mark.parametrize("content", [b"PK\x03\x04\x00\x00binary", b"caf\xe9 latin-1\n"])
async def test_binary_or_undecodable_content_is_refused(content):
    box = _box(FakeWorktree({"blob.bin": content}))

    result = await box.run(_call("read_file", path="blob.bin"))

    assert not result.ok and "binary" in result.text
    assert result.bytes_read == 0 and box.bytes_read == 0


async def test_unknown_tool_is_a_result_naming_the_tools():
    worktree = FakeWorktree()
    box = _box(worktree)

    result = await box.run(_call("rm_rf", path="/"))

    assert not result.ok and "unknown tool 'rm_rf'" in result.text and "read_file" in result.text
    assert worktree.reads == []


@pytest.mark.parametrize(
    ("name", "arguments", "complaint"),
    [
        ("read_file", {}, "missing argument(s) path"),
        ("read_file", {"path": 3}, "must be a string"),
        ("read_file", {"path": "a.py", "start": 0}, "'start' must be at least 1"),
        ("read_file", {"path": "a.py", "start": True}, "must be an integer"),
        ("read_file", {"path": "a.py", "start": "ten"}, "must be an integer"),
        ("read_file", {"path": "a.py", "start": 5, "end": 2}, "before start"),
        ("read_file", {"path": "a" * 2000}, "longer than"),
        ("read_file", {"path": "a.py", "mode": "w"}, "unknown argument(s) 'mode'"),
        ("git_log", {"path": "a.py", "n": 51}, "'n' must be at most 50"),
        ("search", {"pattern": "x", "regex": "yes"}, "true or false"),
        ("search", {"pattern": "(unclosed", "regex": True}, "invalid regex"),
    ],
)
async def test_bad_arguments_are_results_and_touch_nothing(name, arguments, complaint):
    worktree = FakeWorktree({"a.py": b"x\n"})
    box = _box(worktree)

    result = await box.run(ToolCall("c", name, arguments))

    assert not result.ok and complaint in result.text
    assert worktree.reads == []


async def test_numbers_sent_as_text_and_nulls_are_accepted():
    box = _box(FakeWorktree({"a.py": b"one\ntwo\n"}))

    result = await box.run(_call("read_file", path="a.py", start="2", end=None))

    assert result.ok and result.text.endswith("2: two")


@pytest.mark.parametrize(
    ("error", "expected"),
    [(OSError(13, "Permission denied"), "Permission denied"), (RuntimeError("boom"), "RuntimeError")],
)
async def test_worktree_failures_become_results(error, expected):
    worktree = FakeWorktree({"a.py": b"x\n"})
    worktree.error = error
    box = _box(worktree)

    result = await box.run(_call("read_file", path="a.py"))

    assert not result.ok and expected in result.text


async def test_a_slow_tool_times_out_as_a_result_with_its_duration():
    worktree = FakeWorktree({"a.py": b"x\n"})
    worktree.delay_s = 5
    box = _box(worktree, call_timeout_s=0.05)

    result = await box.run(_call("read_file", path="a.py"))

    assert not result.ok and "timed out" in result.text
    assert 40 <= result.duration_ms < 2_000


async def test_cancellation_is_not_swallowed():
    worktree = FakeWorktree({"a.py": b"x\n"})
    worktree.delay_s = 5
    task = asyncio.ensure_future(_box(worktree).run(_call("read_file", path="a.py")))
    await asyncio.sleep(0.01)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_analysers_are_offered_only_when_configured_and_run_once():
    worktree = FakeWorktree({"a.py": b"import os\n"}, analysers=True)
    box = _box(worktree)
    plain = _box(FakeWorktree())

    first = await box.run(_call("run_analysers"))
    second = await box.run(_call("run_analysers"))
    refused = await plain.run(_call("run_analysers"))

    assert "run_analysers" in {s.name for s in box.specs()}
    assert "run_analysers" not in {s.name for s in plain.specs()}
    assert first.ok and "F401" in first.text and KNOWN not in first.text
    assert not second.ok and "already ran" in second.text
    assert not refused.ok
    assert worktree.analysed == [["a.py"]]


async def test_analysers_never_see_a_file_holding_a_secret_or_one_that_is_gone():
    files = {"a.py": b"import os\n", "conf.py": f"TOKEN = '{GH_TOKEN}'\n".encode(), "img.png": b"\x00\x01"}
    worktree = FakeWorktree(files, analysers=True)
    box = BoundedToolBox(
        worktree, Redactor(), _limits(), changed_paths=["a.py", "conf.py", "img.png", "gone.py"]
    )

    result = await box.run(_call("run_analysers"))

    assert result.ok and "1 file(s) holding a secret not analysed" in result.text
    assert worktree.analysed == [["a.py"]]


async def test_search_hits_are_formatted_redacted_and_capped():
    worktree = FakeWorktree()
    worktree.hits = tuple(SearchHit(f"src/m{i}.py", i + 1, f"TOKEN={KNOWN} # {i}") for i in range(150))
    box = _box(worktree, max_result_bytes=100_000)

    result = await box.run(_call("search", pattern="TOKEN", path_glob="*.py"))

    assert result.ok and "100 match(es) for 'TOKEN' in 3 file(s) (stopped at the cap of 100" in result.text
    assert "src/m0.py:1: TOKEN=" in result.text and KNOWN not in result.text


def test_specs_are_json_schemas_with_bounds():
    specs = {spec.name: spec for spec in tool_arguments.specs(analysers=False)}

    assert set(specs) == {"read_file", "search", "list_dir", "git_log", "git_blame"}
    assert specs["read_file"].parameters["required"] == ["path"]
    assert specs["git_log"].parameters["properties"]["n"]["maximum"] == 50
    assert specs["search"].parameters["properties"]["regex"]["type"] == "boolean"
    assert all(spec.parameters["additionalProperties"] is False for spec in specs.values())
