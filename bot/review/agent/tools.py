"""The agent's read-only tools as policy: specs, argument checks, caps and redaction over a `Worktree` port.

`BoundedToolBox` is the `ToolBox` of one round. It never touches the file system itself: every
read goes through a `Worktree` (the adapter confines it to the checkout). What it guarantees: each call is
counted, bytes delivered are counted against the round's read budget, every result is redacted (the paths
and patterns the model sent included) and capped on a line boundary, and nothing is ever raised at the
loop except cancellation.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import errors
from bot.ports import EntryKind, ToolCall, ToolResult, ToolSpec, Worktree
from bot.review.agent import arguments as tool_arguments
from guardrails.text.redaction import Redactor

CALL_LIMIT_TEXT = "tool call limit reached: give your final review now"
READ_LIMIT_TEXT = "read budget used up: give your final review now"
_NOTICE_ROOM = 160  # bytes kept free under the result cap for the "… cut" notice
_MIN_USEFUL_READ = 160
_SHOWN_PATH_CHARS = 200
_HIT_CHARS = 300
_PEM_LOOKBACK = "-----BEGIN"


@dataclass(frozen=True, slots=True)
class ToolLimits:
    """Bounds of one round's tool use; the first three come from `[agent]` settings."""

    max_tool_calls: int
    max_read_bytes: int
    max_result_bytes: int
    max_file_bytes: int = 1 << 20
    max_lines: int = 400
    max_log_entries: int = 50
    max_matches: int = 100
    call_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class _Outcome:
    header: str
    body: str = ""


def _cut(text: str, limit: int) -> tuple[str, int, int]:
    """`text` cut on a line boundary to at most `limit` UTF-8 bytes; return (kept, bytes cut, lines cut)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, 0, 0
    cut_at = data.rfind(b"\n", 0, limit + 1)
    kept = data[: cut_at if cut_at > 0 else max(limit, 0)].decode("utf-8", "ignore")
    rest = data[len(kept.encode("utf-8", "surrogatepass")) :]
    return kept, len(rest), rest.count(b"\n") + 1


def _decode(data: bytes) -> str:
    if b"\0" in data:
        raise errors.InputError("binary file refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InputError("file is not UTF-8 text; refused as binary") from exc


class BoundedToolBox:
    """The tools of one round over one worktree: counted, budgeted, redacted, capped, never raising."""

    def __init__(
        self,
        worktree: Worktree,
        redactor: Redactor,
        limits: ToolLimits,
        *,
        changed_paths: Sequence[str] = (),
    ) -> None:
        self._worktree = worktree
        self._redactor = redactor
        self._limits = limits
        self._changed = tuple(changed_paths)
        self._calls = 0
        self._bytes_read = 0
        self._analysed = False

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools to offer the model."""
        return tool_arguments.specs(analysers=self._worktree.analysers_configured)

    @property
    def bytes_read(self) -> int:
        """Worktree bytes delivered in results so far this round."""
        return self._bytes_read

    @property
    def calls(self) -> int:
        """Calls made so far this round, refused ones included."""
        return self._calls

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call; every failure (bad call, refused path, cap, timeout, I/O error) is a result."""
        started = time.monotonic()
        self._calls += 1
        ok, bytes_read, truncated = False, 0, False
        try:
            outcome = await self._dispatch(call)
            text, bytes_read, truncated = self._deliver(outcome)
            ok = True
        except errors.QuorumError as exc:
            text = f"error: {self._subject(call)}{exc}"
        except TimeoutError:
            text = f"error: {call.name} timed out after {self._limits.call_timeout_s:g}s"
        except OSError as exc:
            text = f"error: {call.name} failed: {exc.strerror or type(exc).__name__}"
        except Exception as exc:  # the loop must get a result, whatever went wrong (CancelledError passes)
            text = f"error: {call.name} failed ({type(exc).__name__})"
        text, recut = self._safe(text, call.arguments)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return ToolResult(call.id, call.name, ok, text, bytes_read, truncated or recut, elapsed_ms)

    async def _dispatch(self, call: ToolCall) -> _Outcome:
        if self._calls > self._limits.max_tool_calls:
            raise errors.InputError(CALL_LIMIT_TEXT)
        arguments = tool_arguments.validate(call.name, call.arguments)
        if call.name == "run_analysers" and not self._worktree.analysers_configured:
            raise errors.InputError("no analysers are configured")
        # A few bytes left would only buy a cut fragment of a line: the budget counts as spent.
        if self._limits.max_read_bytes - self._bytes_read < _MIN_USEFUL_READ:
            raise errors.InputError(READ_LIMIT_TEXT)
        async with asyncio.timeout(self._limits.call_timeout_s):
            # `validate` accepted the name, so it is one of the handlers below (`_read_file` …).
            handler: Callable[[dict[str, Any]], Awaitable[_Outcome]] = getattr(self, f"_{call.name}")
            return await handler(arguments)

    def _deliver(self, outcome: _Outcome) -> tuple[str, int, bool]:
        """Header plus body cut to the result cap and to what is left of the read budget."""
        header = outcome.header
        left = self._limits.max_read_bytes - self._bytes_read
        room = self._limits.max_result_bytes - len(header.encode()) - _NOTICE_ROOM
        body, cut_bytes, cut_lines = _cut(outcome.body, max(0, min(room, left)))
        delivered = len(body.encode("utf-8", "surrogatepass"))
        self._bytes_read += delivered
        text = f"{header}\n{body}" if body else header
        if cut_bytes:
            why = "read budget used up" if left < room else "ask for a narrower range"
            text += f"\n[… {cut_bytes} more bytes ({cut_lines} lines) cut: {why}]"
        return text, delivered, cut_bytes > 0

    def _safe(self, text: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        """Redact the final text, also where a message quoted (and escaped) an argument the model sent;
        cut it again if masking made it longer than the cap."""
        for value in arguments.values():
            if isinstance(value, str) and value:
                masked, found = self._redactor.redact(value)
                if found or masked != value:
                    text = text.replace(repr(value)[1:-1], masked).replace(value, masked)
        redacted, _ = self._redactor.redact(text)
        if len(redacted.encode("utf-8", "surrogatepass")) <= self._limits.max_result_bytes:
            return redacted, False
        kept, cut_bytes, _ = _cut(redacted, self._limits.max_result_bytes - 40)
        return f"{kept}\n[… {cut_bytes} bytes cut]", True

    def _subject(self, call: ToolCall) -> str:
        """What a failed call was about, for its error text: the (redacted) path when there is one."""
        path = call.arguments.get("path")
        return f"{self._shown(path)}: " if isinstance(path, str) and path else ""

    def _shown(self, text: str) -> str:
        # A name, a path or a commit subject: as a file name (`password=x.env`) and as text.
        shown, _ = self._redactor.redact(self._redactor.redact_path(text)[0])
        return shown if len(shown) <= _SHOWN_PATH_CHARS else shown[:_SHOWN_PATH_CHARS] + "…"

    def _redacted_lines(self, lines: Sequence[str], first: int, last: int) -> list[str]:
        """Lines `first`..`last` (0-based, inclusive) redacted with enough context before them that a
        private key block opened earlier is still recognised."""
        begin = max(0, first - 50)
        for index in range(begin - 1, -1, -1):
            if _PEM_LOOKBACK in lines[index]:
                begin = index
                break
        redacted, _ = self._redactor.redact_lines(lines[begin : last + 1])
        return redacted[first - begin :]

    def _range(self, arguments: Mapping[str, Any]) -> tuple[int, int, bool]:
        start: int = arguments.get("start", 1)
        end: int = arguments.get("end", start + self._limits.max_lines - 1)
        if end < start:
            raise errors.InputError(f"end ({end}) is before start ({start})")
        capped = end - start + 1 > self._limits.max_lines
        return start, min(end, start + self._limits.max_lines - 1), capped

    async def _read_file(self, arguments: dict[str, Any]) -> _Outcome:
        path: str = arguments["path"]
        start, end, capped = self._range(arguments)
        text = _decode(await self._worktree.read_bytes(path, self._limits.max_file_bytes))
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        if start > len(lines):
            raise errors.InputError(
                f"{self._shown(path)} has {len(lines)} lines; start {start} is past the end"
            )
        end = min(end, len(lines))
        shown = self._redacted_lines(lines, start - 1, end - 1)
        body = "\n".join(f"{start + i}: {line}" for i, line in enumerate(shown))
        note = f" (ranges are capped at {self._limits.max_lines} lines)" if capped else ""
        return _Outcome(f"{self._shown(path)} lines {start}-{end} of {len(lines)}{note}", body)

    async def _search(self, arguments: dict[str, Any]) -> _Outcome:
        pattern: str = arguments["pattern"]
        regex: bool = arguments.get("regex", False)
        if regex:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise errors.InputError(f"invalid regex: {exc}") from exc
        glob: str | None = arguments.get("path_glob") or None
        outcome = await self._worktree.search(
            pattern, path_glob=glob, regex=regex, max_matches=self._limits.max_matches
        )
        texts, _ = self._redactor.redact_lines([hit.text[:_HIT_CHARS] for hit in outcome.hits])
        body = "\n".join(
            f"{self._shown(h.path)}:{h.line_no}: {t}" for h, t in zip(outcome.hits, texts, strict=True)
        )
        capped = f" (stopped at the cap of {self._limits.max_matches} matches)" if outcome.capped else ""
        header = (
            f"{len(outcome.hits)} match(es) for {self._shown(pattern)!r} in {outcome.files_searched} file(s)"
            f"{capped}; {outcome.files_skipped} binary or large file(s) skipped"
        )
        return _Outcome(header, body)

    async def _list_dir(self, arguments: dict[str, Any]) -> _Outcome:
        path: str = arguments.get("path") or "."
        entries = await self._worktree.list_dir(path)
        lines = []
        for entry in entries:
            name = self._shown(entry.name)
            if entry.kind is EntryKind.DIR:
                lines.append(f"{name}/")
            elif entry.kind is EntryKind.FILE:
                lines.append(f"{name}  ({entry.size} bytes)")
            else:
                lines.append(f"{name}  ({entry.kind.value})")
        return _Outcome(f"{self._shown(path)}: {len(entries)} entries", "\n".join(lines))

    async def _git_log(self, arguments: dict[str, Any]) -> _Outcome:
        path: str = arguments.get("path", "")
        n = min(arguments.get("n", 10), self._limits.max_log_entries)
        entries = await self._worktree.git_log(path, n)
        body = "\n".join(
            f"{e.sha[:12]} {e.date} {self._shown(e.author)}: {self._shown(e.subject)}" for e in entries
        )
        return _Outcome(f"last {len(entries)} commit(s) touching {self._shown(path or '.')}", body)

    async def _git_blame(self, arguments: dict[str, Any]) -> _Outcome:
        path: str = arguments["path"]
        start, end, capped = self._range(arguments)
        lines = await self._worktree.git_blame(path, start, end)
        texts, _ = self._redactor.redact_lines([line.text for line in lines])
        body = "\n".join(
            f"{b.line_no}: {b.sha[:12]} {b.date} {self._shown(b.author)} | {t}"
            for b, t in zip(lines, texts, strict=True)
        )
        note = f" (ranges are capped at {self._limits.max_lines} lines)" if capped else ""
        return _Outcome(f"blame of {self._shown(path)} lines {start}-{start + len(lines) - 1}{note}", body)

    async def _run_analysers(self, arguments: dict[str, Any]) -> _Outcome:
        if self._analysed:
            raise errors.InputError("the analysers already ran this round; their output is above")
        self._analysed = True
        clean, withheld = await self._secret_free(self._changed)
        note = f"; {len(withheld)} file(s) holding a secret not analysed" if withheld else ""
        if not clean:
            return _Outcome(f"no changed text file to analyse{note}")
        output = await self._worktree.analyse(clean)
        redacted, _ = self._redactor.redact(output)
        return _Outcome(f"analysers on {len(clean)} changed file(s){note}", redacted)

    async def _secret_free(self, paths: Sequence[str]) -> tuple[list[str], list[str]]:
        """Split changed files into those an analyser may see and those holding a secret.

        An analyser quotes and tokenises what it reads (`undefined name <half a key>`), so redacting its
        output cannot catch every fragment of a secret: a file with one is kept from it altogether.
        """
        clean: list[str] = []
        withheld: list[str] = []
        for path in paths:
            try:
                text = _decode(await self._worktree.read_bytes(path, self._limits.max_file_bytes))
            except (errors.QuorumError, OSError):
                continue  # deleted, binary, too large or refused: nothing an analyser should read
            _, found = self._redactor.redact(text)
            (withheld if found else clean).append(path)
        return clean, withheld
