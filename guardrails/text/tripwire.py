"""Tripwire: deterministic rules over PR text a model reads, for text addressed to the reviewer or hidden.

A model that obeys what the PR tells it would approve anything; the tripwire does not ask the model. It
flags text addressed to a reviewer or an AI (instructions to approve, claims of pre-approval or sign-off,
verdict-shaped JSON, forged prompt fences and chat markers) and text a human cannot see or read in order
(zero-width, bidi-control and tag characters). A hit does not stop the review; it makes an approval of
that head need a human (see `merge_policy`). HTML comments in a description are hidden from the human
reader, so they are taken out of what the model reads (`visible_description`) and scanned all the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from bot.domain import FileDiff, Finding, LineKind, Severity, Side, TripwireHit
from guardrails.text import tripwire_rules

_MAX_EXCERPT = 80
_MAX_HITS = 50  # per scan: enough to show the pattern, not a wall of findings
_MAX_LISTED = 20
FINDING_PREFIX = "Tripwire ("  # how a tripwire's own review comment begins
_TREE_TOOLS = frozenset({"tool read_file", "tool search", "tool list_dir"})
_MARK = "[REDACTED:"  # redaction changed the text: it cannot be compared, so the hit stands

# Hidden or reordering characters: zero-width, invisible operators, bidi embeddings/overrides/isolates
# (CVE-2021-42574, "Trojan Source") and Unicode tag characters (invisible ASCII).
_HIDDEN = re.compile("[\u200b\u200c\u2060-\u2064\u180e\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]")
_ZWJ = "\u200d"
_BOM = "\ufeff"
_HTML_COMMENT = re.compile(r"<!--(.*?)(?:-->|\Z)", re.DOTALL)


def _excerpt(text: str, start: int, end: int) -> str:
    """The matched text with a little around it, hidden characters shown as their code points."""
    lo, hi = max(0, start - 20), min(len(text), end + 20)
    shown = "".join(f"<U+{ord(c):04X}>" if _HIDDEN.match(c) or c in (_ZWJ, _BOM) else c for c in text[lo:hi])
    return " ".join(shown.split())[:_MAX_EXCERPT]


def _hidden(text: str) -> re.Match[str] | None:
    match = _HIDDEN.search(text)
    if match is not None:
        return match
    # A zero-width joiner between two symbols joins an emoji sequence; between letters it hides a break.
    for index, char in enumerate(text):
        if char == _ZWJ and not (_symbol(text, index - 1) and _symbol(text, index + 1)):
            return re.compile(_ZWJ).search(text, index)
    # A byte-order mark is expected at the start of a file's first line, nowhere else.
    bom = text.find(_BOM, 1)
    return re.compile(_BOM).search(text, bom) if bom != -1 else None


def _symbol(text: str, index: int) -> bool:
    return 0 <= index < len(text) and ord(text[index]) >= 0x2000 and not text[index].isalnum()


def scan_line(text: str, source: str, path: str = "", line: int = 0) -> list[TripwireHit]:
    """Every rule `text` trips (one hit per rule)."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in tripwire_rules.WORDS):
            return []
    hits: list[TripwireHit] = []
    for rule, pattern in tripwire_rules.RULES:
        match = pattern.search(text) if rule not in {h.rule for h in hits} else None
        if match is not None:
            hits.append(TripwireHit(source, rule, _excerpt(text, *match.span()), path, line, match[0]))
    hidden = _hidden(text)
    if hidden is not None:
        excerpt = _excerpt(text, *hidden.span())
        hits.append(TripwireHit(source, "hidden_text", excerpt, path, line, hidden[0]))
    return hits


def scan_text(text: str, source: str, path: str = "") -> list[TripwireHit]:
    """Hits in free text (a title, a description, a tool's result), line by line, at most `_MAX_HITS`."""
    hits: list[TripwireHit] = []
    for line in text.splitlines():
        hits.extend(scan_line(line, source, path))
        if len(hits) >= _MAX_HITS:
            break
    return hits[:_MAX_HITS]


def scan_description(text: str) -> list[TripwireHit]:
    """Hits in a PR's title and description, including inside HTML comments (hidden from humans)."""
    hits = scan_text(visible_description(text), "pr_text")
    for comment in _HTML_COMMENT.finditer(text):
        hits.extend(
            TripwireHit("pr_text (in an HTML comment)", h.rule, h.excerpt)
            for h in scan_text(comment.group(1), "")
        )
    return hits[:_MAX_HITS]


def visible_description(text: str) -> str:
    """The description as a human sees it on GitHub: HTML comments removed."""
    return _HTML_COMMENT.sub("", text)


def scan_files(files: Sequence[FileDiff], show: Callable[[str], str] = str) -> list[TripwireHit]:
    """Hits in what a PR adds: the added lines of each file (at their head line) and the file names, as
    `show` renders them (redacted, as the model reads them)."""
    hits: list[TripwireHit] = []
    for diff in files:
        for name in dict.fromkeys(show(p) for p in (diff.old_path, diff.new_path) if p):
            hits.extend(scan_line(name, "file name", name))
        for hunk in diff.hunks:
            for line in hunk.lines:
                if line.kind is LineKind.ADDED:
                    hits.extend(scan_line(line.text, "diff", diff.path, line.new_no or 0))
        if len(hits) >= _MAX_HITS:
            break
    return hits[:_MAX_HITS]


def authored_text(files: Sequence[FileDiff]) -> frozenset[str]:
    """What a PR wrote into the tree: every added line and every path, of every file (skipped ones too)."""
    out: set[str] = set()
    for diff in files:
        out.update(p for p in (diff.old_path, diff.new_path) if p)
        out.update(ln.text for h in diff.hunks for ln in h.lines if ln.kind is LineKind.ADDED)
    return frozenset(out)


def from_pr(hit: TripwireHit, authored: frozenset[str]) -> bool:
    """Whether a hit is in text the PR controls. A tool that shows the tree (a file, a search, a listing)
    also shows what the default branch already held, which no PR author wrote: such a hit counts only
    when its matched text is among what the PR added. Anything else counts (commit messages, authors)."""
    if hit.source not in _TREE_TOOLS or _MARK in hit.matched:
        return True
    return any(hit.matched in text for text in authored)


def unique(hits: Iterable[TripwireHit]) -> tuple[TripwireHit, ...]:
    """Hits without repeats, in order (a tool may show the same line twice)."""
    return tuple(dict.fromkeys(hits))


def describe(hit: TripwireHit) -> str:
    """One line for a review body or a report."""
    excerpt = hit.excerpt.replace("`", "'")
    return f"{hit.where()}: {hit.rule.replace('_', ' ')}: `{excerpt}`"


def as_findings(hits: Iterable[TripwireHit]) -> list[Finding]:
    """The hits placed on an added line, as review comments at that line (one per line)."""
    out: dict[tuple[str, int], Finding] = {}
    for hit in hits:
        if hit.path and hit.line and (hit.path, hit.line) not in out:
            body = (
                f"{FINDING_PREFIX}{hit.rule.replace('_', ' ')}): this line speaks to the reviewer or hides "
                "text. The review goes on, but a human must approve this head before it is merged."
            )
            out[(hit.path, hit.line)] = Finding(hit.path, hit.line, Side.RIGHT, Severity.MINOR, body)
    return list(out.values())


def is_own_finding(finding: Finding) -> bool:
    """True for a comment the tripwire wrote (not the model), e.g. to keep it out of a model's scores."""
    return finding.body.startswith(FINDING_PREFIX)


def summary(hits: Sequence[TripwireHit]) -> str:
    """The paragraph a review body carries when anything tripped (empty when nothing did)."""
    if not hits:
        return ""
    shown = [f"- {describe(h)}" for h in hits[:_MAX_LISTED]]
    more = [f"- and {len(hits) - _MAX_LISTED} more"] if len(hits) > _MAX_LISTED else []
    return "\n".join(
        [
            "Tripwire: text in this pull request is addressed to the reviewer or hidden, so an approval "
            "of this head needs a human:",
            *shown,
            *more,
        ]
    )
