"""Versioned prompt templates (files under `prompts/<version>/`) and the messages built from them.

Every version has `system`, `user` and `repair`; the agent loop also needs `agent` (how to use the tools),
`tools` (the plain-text tool protocol) and `final` (the forced final answer). A version whose user
template lists earlier findings by id (`$carried_list`) asks the model to address each one.

Code and PR text are fenced as untrusted data. The fence's tag carries a digest of its own content, so
text inside cannot forge a closing tag, and the prompt stays deterministic (cacheable).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template

from bot.domain import OpenFinding
from bot.errors import ConfigError
from bot.ports import ChatMessage
from bot.review.chunking import Chunk


@dataclass(frozen=True, slots=True)
class PromptSet:
    version: str
    system: Template
    user: Template
    repair: Template
    agent: Template | None = None
    tools: Template | None = None
    final: Template | None = None

    @property
    def addresses_carried(self) -> bool:
        """True when the model is asked to mark each earlier finding fixed or open, by id."""
        return "carried_list" in self.user.get_identifiers()

    @property
    def has_agent(self) -> bool:
        """True when the version has the templates the agent loop needs."""
        return None not in (self.agent, self.tools, self.final)


def load(version: str) -> PromptSet:
    """The templates of one prompt version; a ConfigError names an unknown version."""
    folder = resources.files("bot.review").joinpath("prompts", version)
    try:
        texts = {
            name: folder.joinpath(f"{name}.md").read_text("utf-8") for name in ("system", "user", "repair")
        }
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ConfigError(
            f"unknown prompt version {version!r}", (f"review.prompt_version: {version!r}",)
        ) from exc
    optional = {
        name: Template(folder.joinpath(f"{name}.md").read_text("utf-8"))
        for name in ("agent", "tools", "final")
        if folder.joinpath(f"{name}.md").is_file()
    }
    return PromptSet(
        version, Template(texts["system"]), Template(texts["user"]), Template(texts["repair"]), **optional
    )


def fence(label: str, content: str) -> str:
    """Wrap untrusted `content` in tags that it cannot close itself."""
    tag = f"untrusted-{label}-{hashlib.sha256(content.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    return f"<{tag}>\n{content}\n</{tag}>"


def _carried(items: Sequence[OpenFinding], *, ids: bool = False) -> str:
    if not items:
        return "(none)"
    lines = []
    for n, item in enumerate(items, start=1):
        f, notes = item.finding, []
        if item.sha:
            notes.append(f"raised on commit {item.sha[:12]}")
        if not item.placed:
            notes.append("not on a diff line")
        where = f" ({', '.join(notes)})" if notes else ""
        prefix = f"F{n}: " if ids else ""
        lines.append(f"- {prefix}{f.path} {f.side.value} line {f.line} [{f.severity.value}]{where}: {f.body}")
    return fence("earlier-findings", "\n".join(lines))


@dataclass(frozen=True, slots=True)
class RoundInput:
    """What one model call of a round is asked about."""

    persona: str
    round_index: int
    chunk: Chunk
    chunk_count: int
    pr_text: str
    carried: tuple[OpenFinding, ...]
    context: str = ""  # the hunks widened to their enclosing code, when the pipeline provides it


def messages(prompts: PromptSet, item: RoundInput) -> tuple[ChatMessage, ...]:
    """System and user messages for one analysis query."""
    system = prompts.system.substitute(persona=item.persona)
    user = prompts.user.substitute(
        round_index=item.round_index,
        chunk_number=item.chunk.index + 1,
        chunk_count=item.chunk_count,
        pr_text=fence("pr-text", item.pr_text or "(no description)"),
        carried=_carried(item.carried),
        carried_list=_carried(item.carried, ids=True),
        diff=fence("diff", item.chunk.text),
    )
    if item.context:
        user += "\n\nThe code around the change, from the head commit:\n" + fence("context", item.context)
    return (ChatMessage("system", system), ChatMessage("user", user))


def repair_messages(
    prompts: PromptSet, original: Sequence[ChatMessage], reply: str, error: str
) -> tuple[ChatMessage, ...]:
    """The conversation asking once for a corrected answer."""
    return (
        *original,
        ChatMessage("assistant", reply[:4000]),
        ChatMessage("user", prompts.repair.substitute(error=error)),
    )


def cache_key(
    version: str, model: str, msgs: Sequence[ChatMessage], max_tokens: int, temperature: float
) -> str:
    """Prompt version + model + content hash: equal keys mean an equal query."""
    payload = json.dumps([[m.role, m.content] for m in msgs], ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    digest = hashlib.sha256(payload + f"|{max_tokens}|{temperature}".encode()).hexdigest()
    return f"{version}:{model}:{digest}"
