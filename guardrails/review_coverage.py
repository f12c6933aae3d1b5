"""No unreviewed byte merges unattended: what the approving rounds saw, compared with what the PR changes.

The invariant, here and nowhere else: a PR merges without a human only if every changed path the code
host lists (added, modified, deleted, both names of a rename or copy, a mode change, a symlink, a
submodule pointer) was in front of the model in the approving rounds on the head being merged. Skipping
a file (generated, vendored, binary, lock, minified, build output, too large, over the context, excluded
by configuration, a submodule) is fine for the review and never for an unattended merge: each such path
needs a maintainer's approval of that head. The record of what was seen is kept per head in the PR's
record; the comparison uses the code host's own listing, so a path a pipeline bug never showed the model
cannot slip through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.domain import Coverage

_NAMED = 10  # paths named in one reason before "and N more"
SUFFIX = "a maintainer must approve this head"


@dataclass(frozen=True, slots=True)
class Seen:
    """What the review of `head_sha` put in front of the model, and what it left out and why."""

    head_sha: str
    paths: frozenset[str]  # every name (old and new) of the files rendered into the model's prompts
    skipped: tuple[tuple[str, str], ...] = ()  # (path, why) left out of the prompts
    links: tuple[tuple[str, str], ...] = ()  # (symlink, its target as written in the commit)
    submodules: tuple[str, ...] = ()  # changed submodule pointers

    def to_json(self) -> str:
        return json.dumps(
            {
                "head": self.head_sha,
                "paths": sorted(self.paths),
                "skipped": [list(s) for s in self.skipped],
                "links": [list(link) for link in self.links],
                "submodules": list(self.submodules),
            },
            separators=(",", ":"),
        )

    @classmethod
    def of(cls, head_sha: str, coverage: Coverage) -> Seen:
        """What a review's coverage says its rounds were shown."""
        skipped = tuple((s.path, s.reason.value) for s in coverage.skipped)
        return cls(head_sha, frozenset(coverage.seen_paths), skipped, coverage.links, coverage.submodules)

    @classmethod
    def from_json(cls, text: str) -> Seen | None:
        """Read what `to_json` wrote; None for anything else, which then counts as nothing seen."""
        try:
            data = json.loads(text)
            return cls(
                str(data["head"]),
                frozenset(str(p) for p in data["paths"]),
                tuple((str(p), str(why)) for p, why in data["skipped"]),
                tuple((str(p), str(target)) for p, target in data["links"]),
                tuple(str(p) for p in data["submodules"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def unreviewed(names: Iterable[str], seen: Seen | None, head_sha: str) -> tuple[str, ...]:
    """The changed paths (every name the code host lists) the model was not shown on `head_sha`, and
    whatever the review itself says it skipped (GitHub lists at most 3,000 files of a PR)."""
    if seen is None or seen.head_sha != head_sha or not head_sha:
        return tuple(dict.fromkeys(names))
    skipped = (p for p, _ in seen.skipped)
    return tuple(dict.fromkeys(n for n in (*names, *skipped) if n not in seen.paths))


def unreviewed_text(paths: Sequence[str], seen: Seen | None) -> str:
    """The reason on the PR: not reviewed: `a` (generated), `b` — a maintainer must approve this head."""
    why = dict(seen.skipped) if seen is not None else {}
    named = ", ".join(
        f"`{p}`" + (f" ({why[p].replace('_', ' ')})" if p in why else "") for p in paths[:_NAMED]
    )
    more = f" and {len(paths) - _NAMED} more" if len(paths) > _NAMED else ""
    return f"not reviewed: {named}{more} — {SUFFIX}"


def changed_links(seen: Seen | None, names: Iterable[str]) -> tuple[str, ...]:
    """The changed symlinks, each as "link → target": every one needs a human. A link's meaning is its
    target, which the model sees only as a string, and the link alone cannot tell a file from a directory
    that may hold protected paths at any depth (`tools → app` exposes `app/db/migrate/` as `tools/...`)."""
    if seen is None:
        return ()
    changed = set(names)
    return tuple(f"{link} → {target or '?'}" for link, target in seen.links if link in changed)
