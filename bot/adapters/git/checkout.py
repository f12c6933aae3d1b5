"""Review worktrees from the workflow's own checkout: no clone, the same isolation as every workspace.

The checkout under `$GITHUB_WORKSPACE` already holds the repository's objects. The mirror a review reads
from borrows them (`objects/info/alternates`) instead of copying; commits the checkout lacks (a shallow
checkout's base, a fork's head) are fetched into it from its own `origin`, with the isolation settings
and the credentials `actions/checkout` left in its local configuration. Nothing of the PR is executed:
every git call runs with `guardrails.workspace` isolation (no hooks, filters, submodules or LFS smudge).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from bot.adapters.git.worktrees import GitWorktrees
from bot.errors import WorkspaceError
from guardrails import workspace


class CheckoutWorkspaces(GitWorktrees):
    """`Workspaces` whose mirrors borrow the objects of a local checkout, fetching only what it lacks."""

    def __init__(self, checkout: Path, state_dir: Path, *, max_checkout_bytes: int) -> None:
        super().__init__(state_dir, max_checkout_bytes=max_checkout_bytes)
        self._checkout = checkout.resolve()
        # Base and head are resolved at once: one completion at a time, or two `--unshallow` fetches race.
        self._completing = asyncio.Lock()

    async def resolve(self, source: workspace.RepoSource, ref: str) -> str:
        """A full SHA (what a PR names) is fetched into the checkout when missing; other refs as usual."""
        try:
            sha = workspace.check_sha(ref)
        except WorkspaceError:
            return await super().resolve(source, ref)
        await self._complete_checkout([sha])
        return sha

    async def fetch(self, source: workspace.RepoSource, shas: Sequence[str]) -> Path:
        wanted = [workspace.check_sha(sha) for sha in dict.fromkeys(shas)]
        await self._complete_checkout(wanted)
        mirror = self._mirror_path(source)
        if not await asyncio.to_thread((mirror / "HEAD").exists):
            objects = await self._objects_dir()
            await self._run(self._checkout, "init", "--quiet", "--bare", "--template=", str(mirror))
            alternates = mirror / "objects" / "info" / "alternates"
            await asyncio.to_thread(alternates.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(alternates.write_text, f"{objects}\n")
        return await super().fetch(source, wanted)

    async def _objects_dir(self) -> Path:
        out = await self._run(self._checkout, "rev-parse", "--path-format=absolute", "--git-common-dir")
        return Path(out.decode().strip()) / "objects"

    async def _complete_checkout(self, shas: Sequence[str]) -> None:
        """Fetch into the checkout whatever of `shas` it lacks, with full history (a merge base needs it)."""
        async with self._completing:
            await self._complete_checkout_now(shas)

    async def _complete_checkout_now(self, shas: Sequence[str]) -> None:
        missing = [sha for sha in shas if not await self._has_commit(self._checkout, sha)]
        shallow = (await self._run(self._checkout, "rev-parse", "--is-shallow-repository")).strip() == b"true"
        if not missing and not shallow:
            return
        args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules"]
        if shallow:
            args.append("--unshallow")
        refspecs = [f"+{sha}:refs/quorum/{sha}" for sha in missing]
        await self._run(self._checkout, *args, "origin", *refspecs)
        for sha in missing:
            if not await self._has_commit(self._checkout, sha):
                raise WorkspaceError(f"the checkout's origin has no commit {sha}")
