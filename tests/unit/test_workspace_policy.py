"""Workspace policy: confined paths and reads, size caps, argument checks, the isolation settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import WorkspaceError
from guardrails import workspace
from guardrails.workspace import RepoSource


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "worktree"
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "app.py").write_text("print('hi')\n")
    (tmp_path / "outside.txt").write_text("secret outside\n")
    return tree


def test_safe_path_resolves_a_path_inside_the_root(root):
    resolved = workspace.safe_path(root, "src/../src/app.py")

    assert resolved == (root / "src" / "app.py").resolve()


@pytest.mark.parametrize(
    "relative", ["../outside.txt", "src/../../outside.txt", "/etc/passwd", "src/\0app.py", "../worktree2/x"]
)
def test_safe_path_refuses_escapes_absolute_paths_and_nul_bytes(root, relative):
    with pytest.raises(WorkspaceError):
        workspace.safe_path(root, relative)


def test_safe_path_refuses_a_symlink_component_pointing_outside(root):
    (root / "etc_link").symlink_to("/etc")
    (root / "src" / "up").symlink_to("../..")

    for relative in ("etc_link/passwd", "etc_link", "src/up/outside.txt"):
        with pytest.raises(WorkspaceError, match="leaves the worktree"):
            workspace.safe_path(root, relative)


def test_safe_path_follows_a_symlink_chain_to_its_real_end(root, tmp_path):
    (root / "hop2").symlink_to(tmp_path)
    (root / "hop1").symlink_to("hop2")
    (root / "alias.py").symlink_to("src/app.py")

    assert workspace.safe_path(root, "alias.py") == (root / "src" / "app.py").resolve()
    with pytest.raises(WorkspaceError):
        workspace.safe_path(root, "hop1/outside.txt")


def test_safe_path_refuses_a_symlink_loop(root):
    (root / "loop_a").symlink_to("loop_b")
    (root / "loop_b").symlink_to("loop_a")

    with pytest.raises(WorkspaceError):
        workspace.read_text(root, "loop_a", max_bytes=100)


def test_read_text_reads_utf8_and_replaces_invalid_bytes(root):
    (root / "latin1.txt").write_bytes(b"caf\xe9 ok\n")

    assert workspace.read_text(root, "src/app.py", max_bytes=1000) == "print('hi')\n"
    assert workspace.read_text(root, "latin1.txt", max_bytes=1000) == "caf\ufffd ok\n"


def test_read_text_accepts_exactly_max_bytes_and_refuses_one_more(root):
    (root / "exact.txt").write_text("x" * 100)

    assert len(workspace.read_text(root, "exact.txt", max_bytes=100)) == 100
    with pytest.raises(WorkspaceError, match="cap"):
        workspace.read_text(root, "exact.txt", max_bytes=99)


def test_read_text_refuses_binary_files_by_a_nul_in_the_first_8_kib(root):
    (root / "early.bin").write_bytes(b"abc" + b"\0" + b"def")
    (root / "late.txt").write_bytes(b"a" * 9000 + b"\0")

    with pytest.raises(WorkspaceError, match="binary"):
        workspace.read_text(root, "early.bin", max_bytes=100_000)
    assert workspace.read_text(root, "late.txt", max_bytes=100_000).startswith("aaa")


def test_read_text_refuses_directories_and_fifos(root):
    os.mkfifo(root / "pipe")

    with pytest.raises(WorkspaceError, match="directory"):
        workspace.read_text(root, "src", max_bytes=1000)
    with pytest.raises(WorkspaceError, match="not a regular file"):
        workspace.read_text(root, "pipe", max_bytes=1000)


def test_read_text_refuses_a_symlink_to_a_file_outside(root, tmp_path):
    (root / "leak.txt").symlink_to(tmp_path / "outside.txt")

    with pytest.raises(WorkspaceError):
        workspace.read_text(root, "leak.txt", max_bytes=1000)


def test_read_text_reports_a_missing_file_as_a_workspace_error(root):
    with pytest.raises(WorkspaceError, match="cannot open"):
        workspace.read_text(root, "src/missing.py", max_bytes=1000)


def test_check_checkout_size_refuses_only_above_the_limit():
    workspace.check_checkout_size(1000, 1000)

    with pytest.raises(WorkspaceError, match="1001"):
        workspace.check_checkout_size(1001, 1000)


@pytest.mark.parametrize("sha", ["a" * 40, "0123456789abcdef" * 4])
def test_check_sha_accepts_full_object_names(sha):
    assert workspace.check_sha(sha) == sha


@pytest.mark.parametrize("sha", ["abc123", "A" * 40, "--upload-pack=x", "a" * 41, "HEAD", "a" * 40 + "\n"])
def test_check_sha_refuses_anything_else(sha):
    with pytest.raises(WorkspaceError):
        workspace.check_sha(sha)


def test_check_location_refuses_option_lookalikes():
    with pytest.raises(WorkspaceError):
        workspace.check_location("--upload-pack=touch /tmp/x")
    assert workspace.check_location("/srv/repo") == "/srv/repo"


@pytest.mark.parametrize(
    ("location", "remote"),
    [
        ("https://github.com/o/r.git", True),
        ("file:///srv/repo", True),
        ("git@github.com:o/r.git", True),
        ("/srv/repos/r", False),
        ("relative/dir", False),
        (".", False),
    ],
)
def test_is_remote_follows_gits_own_rule(location, remote):
    assert workspace.is_remote(location) is remote


def test_scrub_credentials_removes_userinfo_from_urls():
    text = "fatal: unable to access 'https://x-access-token:ghs_abc@github.com/o/r.git/': 403"

    scrubbed = workspace.scrub_credentials(text)

    assert scrubbed == "fatal: unable to access 'https://***@github.com/o/r.git/': 403"


def test_scrub_credentials_handles_an_at_sign_inside_the_password():
    scrubbed = workspace.scrub_credentials("https://bot:p@ss@host.example/x and mail@example.com")

    assert scrubbed == "https://***@host.example/x and mail@example.com"


@pytest.mark.parametrize(
    ("name", "expected"), [("owner/repo", "owner-repo"), ("../..", "x"), ("job 1:rerun", "job-1-rerun")]
)
def test_sanitise_keeps_names_file_safe(name, expected):
    assert workspace.sanitise(name) == expected


def test_mirror_dir_name_ignores_credentials_but_not_the_location():
    with_token = RepoSource("https://bot:one@github.com/o/r.git", "o/r")
    with_other_token = RepoSource("https://bot:two@github.com/o/r.git", "o/r")
    fork = RepoSource("https://github.com/fork/r.git", "o/r")

    name = workspace.mirror_dir_name(with_token)

    assert name == workspace.mirror_dir_name(with_other_token)
    assert name != workspace.mirror_dir_name(fork)
    assert name.startswith("o-r-") and name.endswith(".git")


def test_isolation_config_is_a_flat_list_of_c_pairs():
    pairs = workspace.ISOLATION_CONFIG

    flags, settings = pairs[0::2], pairs[1::2]

    assert set(flags) == {"-c"} and len(flags) == len(settings)
    assert all("=" in setting for setting in settings)
    for required in ("core.hooksPath=/dev/null", "core.fsmonitor=false", "protocol.ext.allow=never"):
        assert required in settings


def test_isolation_env_shuts_out_foreign_config_prompts_and_protocols():
    env = workspace.ISOLATION_ENV

    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_LFS_SKIP_SMUDGE"] == "1"
    assert "ext" not in env["GIT_ALLOW_PROTOCOL"].split(":")
