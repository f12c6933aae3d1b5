"""Git plumbing on the fake GitHub's bare repositories: commits without a work tree, diffs, merges.

Everything goes through the git command line with the machine's configuration, hooks and GIT_* variables
shut out, so the repositories are the same on every machine and `git clone` of them works offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}
IDENTITY = ("-c", "user.name=Fake GitHub", "-c", "user.email=noreply@fake-github.invalid")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    env.update(extra or {})
    return env


def run(git_dir: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    """Run git against the bare repository `git_dir`; return stdout without the trailing newline."""
    done = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false", *IDENTITY, *args],
        cwd=git_dir,
        env=_env({"GIT_DIR": str(git_dir), **(env or {})}),
        input=stdin,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8", "replace").rstrip("\n")


def try_run(git_dir: Path, *args: str) -> str | None:
    """Like `run`, but None when git fails (an unknown ref, a missing path)."""
    try:
        return run(git_dir, *args)
    except subprocess.CalledProcessError:
        return None


def init_bare(git_dir: Path, default_branch: str) -> None:
    """Create an empty bare repository whose HEAD names `default_branch`."""
    git_dir.mkdir(parents=True, exist_ok=True)
    run(git_dir, "init", "--quiet", "--bare", f"--initial-branch={default_branch}")


@dataclass(frozen=True)
class Symlink:
    """A tree entry of mode 120000: a symbolic link whose blob is `target`."""

    target: str


@dataclass(frozen=True)
class Submodule:
    """A tree entry of mode 160000: a submodule pointer to `sha` (a commit of another repository)."""

    sha: str


Content = str | bytes | Symlink | Submodule | None


def _entry(git_dir: Path, content: str | bytes | Symlink | Submodule) -> tuple[str, str]:
    """(mode, object SHA) of one tree entry, writing its blob when it has one."""
    if isinstance(content, Submodule):
        return "160000", content.sha
    mode = "120000" if isinstance(content, Symlink) else "100644"
    data = content.target if isinstance(content, Symlink) else content
    blob = run(
        git_dir, "hash-object", "-w", "--stdin", stdin=data.encode() if isinstance(data, str) else data
    )
    return mode, blob


def commit_files(
    git_dir: Path, parent: str | None, files: dict[str, Content], message: str, author: str
) -> str:
    """Commit `files` (None deletes one) on top of `parent` (None: a root commit); return the new SHA."""
    with tempfile.TemporaryDirectory() as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if parent is None:
            run(git_dir, "read-tree", "--empty", env=index)
        else:
            run(git_dir, "read-tree", f"{parent}^{{tree}}", env=index)
        for path, content in files.items():
            if content is None:
                # mode 0 removes the entry; --force-remove would want a work tree
                run(
                    git_dir,
                    "update-index",
                    "--index-info",
                    stdin=f"0 {'0' * 40}\t{path}\n".encode(),
                    env=index,
                )
                continue
            mode, sha = _entry(git_dir, content)
            run(git_dir, "update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}", env=index)
        tree = run(git_dir, "write-tree", env=index)
    return commit_tree(git_dir, tree, [parent] if parent else [], message, author)


def commit_tree(git_dir: Path, tree: str, parents: list[str], message: str, author: str = "") -> str:
    """Write a commit object for `tree` with `parents`; `author` is a login (its e-mail is made up)."""
    who = author or "Fake GitHub"
    env = {"GIT_AUTHOR_NAME": who, "GIT_AUTHOR_EMAIL": f"{who}@users.noreply.fake-github.invalid"}
    args = [arg for p in parents for arg in ("-p", p)]
    return run(git_dir, "commit-tree", tree, *args, "-m", message, env=env)


def rev(git_dir: Path, ref: str) -> str | None:
    """The commit SHA `ref` names, or None."""
    return try_run(git_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def update_ref(git_dir: Path, branch: str, sha: str) -> None:
    run(git_dir, "update-ref", f"refs/heads/{branch}", sha)


def merge_base(git_dir: Path, a: str, b: str) -> str | None:
    return try_run(git_dir, "merge-base", a, b)


def is_ancestor(git_dir: Path, a: str, b: str) -> bool:
    return try_run(git_dir, "merge-base", "--is-ancestor", a, b) is not None


def merged_tree(git_dir: Path, base: str, head: str) -> str | None:
    """The tree of merging `head` into `base`, or None on a conflict (no commit is written)."""
    try:
        return run(git_dir, "merge-tree", "--write-tree", "--no-messages", base, head).splitlines()[0]
    except subprocess.CalledProcessError:
        return None


def replay(git_dir: Path, base: str, head: str) -> str | None:
    """Cherry-pick the commits of `base..head` onto `base` in a scratch worktree; the new tip, or None on
    a conflict. The new objects land in the bare repository itself; no ref moves."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "wt"
        run(git_dir, "worktree", "add", "--quiet", "--detach", str(tree), base)
        env = _env(
            {"GIT_COMMITTER_NAME": "Fake GitHub", "GIT_COMMITTER_EMAIL": "noreply@fake-github.invalid"}
        )
        base_args = ["git", "-c", "core.hooksPath=/dev/null", *IDENTITY, "-C", str(tree)]
        try:
            picked = subprocess.run(
                [*base_args, "cherry-pick", "--allow-empty", f"{base}..{head}"],
                env=env,
                capture_output=True,
                timeout=60,
                check=False,
            )
            if picked.returncode != 0:
                return None
            tip = subprocess.run(
                [*base_args, "rev-parse", "HEAD"], env=env, capture_output=True, text=True, check=True
            )
            return tip.stdout.strip()
        finally:
            run(git_dir, "worktree", "remove", "--force", str(tree))


def read_file(git_dir: Path, ref: str, path: str) -> bytes | None:
    """The bytes of `path` at `ref`, or None when absent or not a file."""
    kind = try_run(git_dir, "cat-file", "-t", f"{ref}:{path}")
    if kind != "blob":
        return None
    done = subprocess.run(
        ["git", "cat-file", "blob", f"{ref}:{path}"],
        env=_env({"GIT_DIR": str(git_dir)}),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def list_dir(git_dir: Path, ref: str, path: str) -> list[tuple[str, str, str]] | None:
    """(kind, sha, path) of a directory's entries at `ref`; None when `path` is not a directory."""
    spec = f"{ref}:{path}" if path else f"{ref}^{{tree}}"
    if try_run(git_dir, "cat-file", "-t", spec) != "tree":
        return None
    out = run(git_dir, "ls-tree", spec)
    entries = []
    for line in out.splitlines():
        meta, name = line.split("\t", 1)
        _, kind, sha = meta.split()
        entries.append((kind, sha, f"{path}/{name}" if path else name))
    return entries


@dataclass
class FileDiff:
    """One file of a PR's diff, as GitHub's `…/pulls/{n}/files` describes it."""

    filename: str
    status: str
    sha: str
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    previous_filename: str | None = None
    right_lines: dict[int, int] = field(default_factory=dict)  # line -> hunk index
    left_lines: dict[int, int] = field(default_factory=dict)
    positions: int = 0  # how many lines the patch has below its first hunk header


def diff_files(git_dir: Path, base: str, head: str) -> list[FileDiff]:
    """The files changed between the merge base of `base` and `head`, and `head` (three-dot diff)."""
    opts = ["--no-color", "--no-ext-diff", "-M", "--full-index", f"{base}...{head}"]
    names = run(git_dir, "diff", "--name-status", "-z", *opts).split("\0")
    raw = run(git_dir, "diff", "--raw", "-z", "--abbrev=40", *opts).split("\0")
    blobs = [entry.split()[3] for entry in raw if entry.startswith(":")]
    files: list[FileDiff] = []
    i = 0
    while i < len(names) and names[i]:
        code = names[i][0]
        if code in "RC":
            old, new, i = names[i + 1], names[i + 2], i + 3
        else:
            old, new, i = names[i + 1], names[i + 1], i + 2
        status = _STATUS.get(code, "modified")
        files.append(
            FileDiff(new, status, blobs[len(files)], previous_filename=old if code in "RC" else None)
        )
    patches = _split_patches(run(git_dir, "diff", *opts))
    for diff, patch in zip(files, patches, strict=False):
        _fill_patch(diff, patch)
    return files


def _split_patches(text: str) -> list[list[str]]:
    """One list of lines per file, from a full `git diff` output."""
    chunks: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            chunks.append([])
        elif chunks:
            chunks[-1].append(line)
    return chunks


def _fill_patch(diff: FileDiff, lines: list[str]) -> None:
    """Set the patch text, counts and the commentable lines of each side from a file's diff lines."""
    start = next((n for n, line in enumerate(lines) if line.startswith("@@")), None)
    if start is None:
        return  # binary, or a pure rename / mode change: GitHub sends no patch
    body = lines[start:]
    while body and body[-1] == "":
        body.pop()
    diff.patch = "\n".join(body)
    diff.positions = len(body) - 1
    hunk, left, right = -1, 0, 0
    for line in body:
        match = _HUNK.match(line)
        if match:
            hunk, left, right = hunk + 1, int(match[1]), int(match[3])
        elif line.startswith("+"):
            diff.additions += 1
            diff.right_lines[right], right = hunk, right + 1
        elif line.startswith("-"):
            diff.deletions += 1
            diff.left_lines[left], left = hunk, left + 1
        elif line.startswith(" "):
            diff.left_lines[left], diff.right_lines[right] = hunk, hunk
            left, right = left + 1, right + 1
