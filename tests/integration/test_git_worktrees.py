"""GitWorktrees against real repositories: checkouts, isolation from hostile repos, cleanup, diffs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path

import pytest

from bot.adapters.git.worktrees import GitWorktrees
from bot.errors import WorkspaceError
from guardrails import workspace
from guardrails.workspace import RepoSource
from tests.support.git_repos import GitRepo, git


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "src")


@pytest.fixture
def source(repo: GitRepo) -> RepoSource:
    return RepoSource(str(repo.path), "owner/repo")


@pytest.fixture
def workspaces(tmp_path: Path) -> GitWorktrees:
    return GitWorktrees(tmp_path / "state", max_checkout_bytes=1_000_000)


def _executable_hook(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    path.chmod(0o755)


def _registered_worktrees(mirror: Path) -> list[str]:
    listing = git(mirror, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")]


async def test_worktree_at_head_has_the_heads_files(repo, source, workspaces):
    repo.commit("base", {"a.txt": "one\n"})
    head = repo.commit("head", {"a.txt": "two\n", "dir/b.txt": "bee\n"})

    async with workspaces.worktree(source, head, "job-1") as path:
        content = (path / "a.txt").read_text()
        nested = (path / "dir" / "b.txt").read_text()
        checked_out = git(path, "rev-parse", "HEAD")

    assert (content, nested, checked_out) == ("two\n", "bee\n", head)
    assert not path.exists()


async def test_worktree_removed_when_the_body_raises(repo, source, workspaces):
    head = repo.commit("c1", {"a.txt": "x\n"})
    seen: list[Path] = []

    with pytest.raises(RuntimeError, match="boom"):
        async with workspaces.worktree(source, head, "job-1") as path:
            seen.append(path)
            raise RuntimeError("boom")

    mirror = await workspaces.fetch(source, [head])
    assert seen and not seen[0].exists()
    assert str(seen[0]) not in _registered_worktrees(mirror)


async def test_worktree_removed_when_the_job_is_cancelled(repo, source, workspaces):
    head = repo.commit("c1", {"a.txt": "x\n"})
    entered = asyncio.Event()
    seen: list[Path] = []

    async def job() -> None:
        async with workspaces.worktree(source, head, "job-1") as path:
            seen.append(path)
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(job())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert seen and seen[0].parent.is_dir() and not seen[0].exists()


async def test_cancelling_at_any_point_leaves_no_worktree_behind(repo, source, workspaces):
    head = repo.commit("c1", {"a.txt": "x\n", "b.txt": "y\n"})
    mirror = await workspaces.fetch(source, [head])

    for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08):

        async def job() -> None:
            async with workspaces.worktree(source, head, "job-1"):
                await asyncio.sleep(3600)

        task = asyncio.create_task(job())
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        worktrees = mirror.parent.parent / "worktrees"
        assert not worktrees.exists() or list(worktrees.iterdir()) == [], f"left behind after {delay}s"
        assert _registered_worktrees(mirror) == [str(mirror)]


async def test_hooks_of_the_source_repository_are_not_run(tmp_path, repo, source, workspaces):
    marker = tmp_path / "hook-ran"
    _executable_hook(repo.path / ".git" / "hooks" / "post-checkout", marker)
    head = repo.commit("c1", {"a.txt": "x\n"})
    repo.git("checkout", "--quiet", "--detach", head)
    assert marker.exists(), "control: the hook fires for plain git in the source"
    marker.unlink()

    async with workspaces.worktree(source, head, "job-1") as path:
        assert (path / "a.txt").exists()

    assert not marker.exists()


async def test_hooks_committed_into_the_tree_are_not_run(tmp_path, repo, source, workspaces):
    marker = tmp_path / "hook-ran"
    _executable_hook(repo.path / "tools" / "hooks" / "post-checkout", marker)
    repo.git("config", "core.hooksPath", "tools/hooks")
    head = repo.commit("hooks in the tree", {"a.txt": "x\n"})
    repo.git("checkout", "--quiet", "--detach", head)
    assert marker.exists(), "control: the committed hook fires for plain git in the source"
    marker.unlink()

    async with workspaces.worktree(source, head, "job-1") as path:
        assert (path / "tools" / "hooks" / "post-checkout").exists()

    assert not marker.exists()


async def test_a_hook_planted_in_the_mirror_is_not_run(tmp_path, repo, source, workspaces):
    marker = tmp_path / "hook-ran"
    head = repo.commit("c1", {"a.txt": "x\n"})
    mirror = await workspaces.fetch(source, [head])
    _executable_hook(mirror / "hooks" / "post-checkout", marker)
    git(mirror, "worktree", "add", "--quiet", "--detach", str(tmp_path / "plain"), head)
    assert marker.exists(), "control: plain git in the mirror runs the planted hook"
    marker.unlink()

    async with workspaces.worktree(source, head, "job-1"):
        pass

    assert not marker.exists()


async def test_attribute_filters_are_not_run(tmp_path, repo, source, workspaces):
    lfs_marker, evil_marker = tmp_path / "lfs-ran", tmp_path / "evil-ran"
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 12\n"
    head = repo.commit(
        "attributes",
        {
            ".gitattributes": "*.bin filter=lfs -text\ndata.txt filter=evil\n",
            "big.bin": pointer,
            "data.txt": "d\n",
        },
    )
    repo.git("config", "filter.lfs.smudge", f"sh -c \"touch '{lfs_marker}'; cat\"")
    repo.git("config", "filter.lfs.required", "true")
    repo.git("config", "filter.evil.smudge", f"sh -c \"touch '{evil_marker}'; cat\"")
    (repo.path / "big.bin").unlink()
    (repo.path / "data.txt").unlink()
    repo.git("checkout", "--", "big.bin", "data.txt")
    assert lfs_marker.exists() and evil_marker.exists(), "control: the source's filters work"
    lfs_marker.unlink()
    evil_marker.unlink()

    async with workspaces.worktree(source, head, "job-1") as path:
        checked_out = (path / "big.bin").read_text()

    assert checked_out == pointer
    assert not lfs_marker.exists() and not evil_marker.exists()


async def test_an_lfs_filter_planted_in_the_mirror_config_is_overridden(tmp_path, repo, source, workspaces):
    marker = tmp_path / "lfs-ran"
    head = repo.commit("attributes", {".gitattributes": "*.bin filter=lfs -text\n", "x.bin": "pointer\n"})
    mirror = await workspaces.fetch(source, [head])
    git(mirror, "config", "filter.lfs.smudge", f"sh -c \"touch '{marker}'; cat\"")
    git(mirror, "config", "filter.lfs.required", "true")
    git(mirror, "worktree", "add", "--quiet", "--detach", str(tmp_path / "plain"), head)
    assert marker.exists(), "control: plain git in the mirror runs the planted filter"
    marker.unlink()

    async with workspaces.worktree(source, head, "job-1") as path:
        content = (path / "x.bin").read_text()

    assert content == "pointer\n"
    assert not marker.exists()


async def test_submodules_are_not_initialised(tmp_path, repo, source, workspaces):
    sub = GitRepo(tmp_path / "sub")
    sub.commit("inner", {"inner.txt": "inside\n"})
    repo.commit("c1", {"a.txt": "x\n"})
    repo.git("-c", "protocol.file.allow=always", "submodule", "--quiet", "add", str(sub.path), "lib/sub")
    head = repo.commit("add submodule")

    async with workspaces.worktree(source, head, "job-1") as path:
        gitmodules = (path / ".gitmodules").read_text()
        sub_dir = path / "lib" / "sub"
        sub_entries = list(sub_dir.iterdir()) if sub_dir.exists() else []

    assert "lib/sub" in gitmodules
    assert sub_entries == []


async def test_reads_through_symlinks_out_of_the_worktree_are_refused(repo, source, workspaces):
    repo.write("real.txt", "real\n")
    repo.symlink("etc_link", "/etc")
    repo.symlink("escape", "../../../../../../../../etc")
    repo.symlink("inner_link", "real.txt")
    head = repo.commit("links")

    async with workspaces.worktree(source, head, "job-1") as path:
        assert (path / "etc_link").is_symlink()
        inner = workspace.read_text(path, "inner_link", max_bytes=1000)
        for bad in ("etc_link/passwd", "escape/passwd", "../../etc/passwd", "/etc/passwd"):
            with pytest.raises(WorkspaceError):
                workspace.read_text(path, bad, max_bytes=100_000)

    assert inner == "real\n"


async def test_binary_and_oversize_files_in_a_worktree_are_refused(repo, source, workspaces):
    head = repo.commit("files", {"image.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "big.txt": "y" * 5000})

    async with workspaces.worktree(source, head, "job-1") as path:
        with pytest.raises(WorkspaceError, match="binary"):
            workspace.read_text(path, "image.png", max_bytes=100_000)
        with pytest.raises(WorkspaceError, match="cap"):
            workspace.read_text(path, "big.txt", max_bytes=4999)


async def test_a_checkout_over_the_size_cap_is_refused(tmp_path, repo, source):
    small_cap = GitWorktrees(tmp_path / "state", max_checkout_bytes=4096)
    head = repo.commit("big", {"a.txt": "x" * 3000, "b.txt": "y" * 3000})

    with pytest.raises(WorkspaceError, match="exceeds"):
        async with small_cap.worktree(source, head, "job-1"):
            pass

    worktrees = tmp_path / "state" / "worktrees"
    assert not worktrees.exists() or list(worktrees.iterdir()) == []


async def test_concurrent_jobs_share_one_mirror(tmp_path, repo, source, workspaces):
    first = repo.commit("c1", {"a.txt": "first\n"})
    second = repo.commit("c2", {"a.txt": "second\n"})
    other_process = GitWorktrees(tmp_path / "state", max_checkout_bytes=1_000_000)

    async def job(ws: GitWorktrees, sha: str, job_id: str) -> tuple[Path, str]:
        async with ws.worktree(source, sha, job_id) as path:
            await asyncio.sleep(0.05)
            return path, (path / "a.txt").read_text()

    results = await asyncio.gather(
        job(workspaces, first, "job-1"), job(workspaces, second, "job-2"), job(other_process, second, "job-3")
    )

    assert [text for _, text in results] == ["first\n", "second\n", "second\n"]
    assert len({path for path, _ in results}) == 3
    assert not any(path.exists() for path, _ in results)


async def test_resolve_on_a_local_repository(repo, source, workspaces):
    first = repo.commit("c1", {"a.txt": "1\n"})
    second = repo.commit("c2", {"a.txt": "2\n"})
    repo.git("branch", "feature", first)
    repo.git("tag", "-a", "v1", "-m", "release", first)

    resolved = [
        await workspaces.resolve(source, ref) for ref in ("main", "HEAD~1", "feature", "v1", second[:10])
    ]

    assert resolved == [second, first, first, first, second]
    with pytest.raises(WorkspaceError, match="no-such-branch"):
        await workspaces.resolve(source, "no-such-branch")
    with pytest.raises(WorkspaceError):
        await workspaces.resolve(source, "--output=/tmp/x")


async def test_default_branch_prefers_origin_head(tmp_path, workspaces):
    upstream = GitRepo(tmp_path / "upstream", branch="trunk")
    upstream.commit("c1", {"a.txt": "1\n"})
    git(tmp_path, "clone", "--quiet", str(upstream.path), "clone")
    git(tmp_path / "clone", "checkout", "--quiet", "-b", "main")

    branch = await workspaces.default_branch(RepoSource(str(tmp_path / "clone"), "o/r"))

    assert branch == "trunk"


@pytest.mark.parametrize(
    ("branches", "current", "expected"),
    [
        (("main", "master"), "feature", "main"),
        (("master",), "feature", "master"),
        (("dev",), "dev", "dev"),
    ],
)
async def test_default_branch_falls_back_to_main_master_then_current(
    tmp_path, workspaces, branches, current, expected
):
    local = GitRepo(tmp_path / "local", branch=branches[0])
    local.commit("c1")
    for name in branches[1:]:
        local.git("branch", name)
    if current not in branches:
        local.git("checkout", "--quiet", "-b", current)

    branch = await workspaces.default_branch(RepoSource(str(local.path), "o/r"))

    assert branch == expected


async def test_default_branch_and_resolve_over_a_url(tmp_path, workspaces):
    upstream = GitRepo(tmp_path / "upstream", branch="trunk")
    sha = upstream.commit("c1", {"a.txt": "1\n"})
    upstream.git("tag", "-a", "v1", "-m", "release")
    remote = RepoSource(upstream.path.as_uri(), "o/r")

    branch = await workspaces.default_branch(remote)
    by_branch = await workspaces.resolve(remote, "trunk")
    by_tag = await workspaces.resolve(remote, "v1")

    assert (branch, by_branch, by_tag) == ("trunk", sha, sha)
    with pytest.raises(WorkspaceError, match="nope"):
        await workspaces.resolve(remote, "nope")


async def test_diff_uses_the_merge_base_when_the_base_moved_on(repo, source, workspaces):
    fork_point = repo.commit("c1", {"a.txt": "a\n", "b.txt": "b\n"})
    repo.git("checkout", "--quiet", "-b", "feature")
    head = repo.commit("feature work", {"a.txt": "a changed\n"})
    repo.git("checkout", "--quiet", "main")
    base = repo.commit("main moved on", {"b.txt": "b changed on main\n"})

    merge_base, raw = await workspaces.diff(source, base, head)

    assert merge_base == fork_point
    assert raw.startswith(b"diff --git a/a.txt b/a.txt\n")
    assert b"+a changed\n" in raw
    assert b"b.txt" not in raw


async def test_remove_orphans_removes_only_dead_jobs(repo, source, workspaces):
    head = repo.commit("c1", {"a.txt": "x\n"})

    async with contextlib.AsyncExitStack() as stack:
        live_path = await stack.enter_async_context(workspaces.worktree(source, head, "job-live"))
        dead_path = await stack.enter_async_context(workspaces.worktree(source, head, "job-dead"))

        removed = await workspaces.remove_orphans({"job-live"})

        mirror = await workspaces.fetch(source, [head])
        assert removed == [dead_path]
        assert live_path.exists() and not dead_path.exists()
        assert str(dead_path) not in _registered_worktrees(mirror)
        assert str(live_path) in _registered_worktrees(mirror)

    assert not live_path.exists()


async def test_git_errors_never_show_url_credentials(workspaces):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    remote = RepoSource(f"http://bot:s3cr3t-t0ken@127.0.0.1:{port}/o/r.git", "o/r")

    with pytest.raises(WorkspaceError) as caught:
        await workspaces.default_branch(remote)

    assert "s3cr3t-t0ken" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


async def test_fetch_refuses_anything_but_full_shas(repo, source, workspaces):
    repo.commit("c1", {"a.txt": "x\n"})

    with pytest.raises(WorkspaceError, match="SHA"):
        await workspaces.fetch(source, ["--upload-pack=touch /tmp/owned"])


async def test_fetch_of_a_commit_the_source_lacks_names_it(repo, source, workspaces):
    repo.commit("c1", {"a.txt": "x\n"})
    unknown = "0123456789abcdef0123456789abcdef01234567"

    with pytest.raises(WorkspaceError, match="fetch"):
        await workspaces.fetch(source, [unknown])


async def test_a_missing_local_source_is_an_error_not_another_repository(tmp_path, workspaces):
    missing = RepoSource(str(tmp_path / "does-not-exist"), "o/r")

    with pytest.raises(WorkspaceError):
        await workspaces.resolve(missing, "HEAD")
    with pytest.raises(WorkspaceError):
        await workspaces.default_branch(missing)


async def test_read_blob_returns_the_first_bytes_of_a_file_and_none_for_the_rest(repo, source, workspaces):
    sha = repo.commit("files", {"a.txt": "hello world\n", "dir/b.txt": "b\n"})
    repo.symlink("link", "a.txt")
    linked = repo.commit("link")

    assert await workspaces.read_blob(source, sha, "a.txt", max_bytes=5) == b"hello"
    assert await workspaces.read_blob(source, sha, "dir", max_bytes=5) is None  # a tree
    assert await workspaces.read_blob(source, sha, "absent", max_bytes=5) is None
    assert await workspaces.read_blob(source, sha, "--output=x", max_bytes=5) is None
    assert await workspaces.read_blob(source, linked, "link", max_bytes=99) == b"a.txt"


async def test_a_mirror_deleted_between_reviews_is_made_again(tmp_path, repo, source, workspaces):
    repo.commit("base", {"a.txt": "one\n"})
    head = repo.commit("head", {"a.txt": "two\n"})
    mirror = await workspaces.fetch(source, [head])  # the commit is now known to be in the mirror
    shutil.rmtree(mirror)

    async with workspaces.worktree(source, head, "job-again") as path:
        assert (path / "a.txt").read_text() == "two\n"
