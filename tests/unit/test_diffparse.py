"""Table tests of the diff parser over real `git diff` output, plus hand-written malformed diffs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot import domain, errors
from bot.review import diffparse
from tests.support import diffparse_git
from tests.support.diffparse_git import Entry

A, R, C = domain.LineKind.ADDED, domain.LineKind.REMOVED, domain.LineKind.CONTEXT
Status = domain.FileStatus
SAMPLES = Path(__file__).parent.parent / "samples" / "diffs"


def parse_change(tmp_path: Path, base: diffparse_git.Tree, head: diffparse_git.Tree) -> list[domain.FileDiff]:
    return diffparse.parse(diffparse_git.diff(tmp_path / "repo", base, head))


def only(files: list[domain.FileDiff]) -> domain.FileDiff:
    assert len(files) == 1, files
    return files[0]


def triples(hunk: domain.Hunk) -> list[tuple[domain.LineKind, int | None, int | None, str]]:
    return [(ln.kind, ln.old_no, ln.new_no, ln.text) for ln in hunk.lines]


def numbered(count: int) -> bytes:
    return b"".join(b"line %d\n" % n for n in range(1, count + 1))


def test_maps_every_line_of_a_modified_file_and_keeps_the_section(tmp_path: Path) -> None:
    base = b"def handler():\n" + b"".join(b"    n%d\n" % n for n in range(1, 11))
    head = base.replace(b"    n7\n", b"    seven\n    n7b\n")

    fd = only(parse_change(tmp_path, {"m.py": base}, {"m.py": head}))

    assert (fd.status, fd.old_path, fd.new_path, fd.old_mode, fd.new_mode) == (
        Status.MODIFIED, "m.py", "m.py", "100644", "100644",
    )  # fmt: skip
    (hunk,) = fd.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (5, 7, 5, 8)
    assert hunk.section == "def handler():"
    assert triples(hunk) == [
        (C, 5, 5, "    n4"),
        (C, 6, 6, "    n5"),
        (C, 7, 7, "    n6"),
        (R, 8, None, "    n7"),
        (A, None, 8, "    seven"),
        (A, None, 9, "    n7b"),
        (C, 9, 10, "    n8"),
        (C, 10, 11, "    n9"),
        (C, 11, 12, "    n10"),
    ]
    assert (fd.added, fd.removed) == (2, 1)
    assert not hunk.old_no_newline_at_eof and not hunk.new_no_newline_at_eof


def test_counts_default_to_one_when_the_header_omits_them(tmp_path: Path) -> None:
    fd = only(parse_change(tmp_path, {"one": b"old\n"}, {"one": b"new\n"}))

    (hunk,) = fd.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count, hunk.section) == (1, 1, 1, 1, "")
    assert triples(hunk) == [(R, 1, None, "old"), (A, None, 1, "new")]


def test_numbers_each_of_several_hunks_from_its_own_header(tmp_path: Path) -> None:
    base = numbered(40)
    head = base.replace(b"line 3\n", b"").replace(b"line 30\n", b"line 30\nextra\n")

    fd = only(parse_change(tmp_path, {"f": base}, {"f": head}))

    first, second = fd.hunks
    assert (first.old_start, first.old_count, first.new_start, first.new_count) == (1, 6, 1, 5)
    assert (R, 3, None, "line 3") in triples(first)
    assert (second.old_start, second.new_start) == (28, 27)
    assert (A, None, 30, "extra") in triples(second)
    assert (C, 31, 31, "line 31") in triples(second)


def test_added_and_deleted_files(tmp_path: Path) -> None:
    files = parse_change(
        tmp_path, {"gone.txt": b"a\nb\n"}, {"new.txt": b"x\ny\nz\n", "dir/exe": Entry(b"#!\n", "100755")}
    )

    by_path = {fd.path: fd for fd in files}
    exe, new, gone = by_path["dir/exe"], by_path["new.txt"], by_path["gone.txt"]
    assert (new.status, new.old_path, new.new_path, new.old_mode, new.new_mode) == (
        Status.ADDED, None, "new.txt", None, "100644",
    )  # fmt: skip
    assert triples(new.hunks[0]) == [(A, None, 1, "x"), (A, None, 2, "y"), (A, None, 3, "z")]
    assert (new.hunks[0].old_start, new.hunks[0].old_count) == (0, 0)
    assert (exe.status, exe.new_mode) == (Status.ADDED, "100755")
    assert (gone.status, gone.old_path, gone.new_path, gone.old_mode, gone.new_mode) == (
        Status.DELETED, "gone.txt", None, "100644", None,
    )  # fmt: skip
    assert triples(gone.hunks[0]) == [(R, 1, None, "a"), (R, 2, None, "b")]


def test_empty_added_file_has_no_hunks(tmp_path: Path) -> None:
    fd = only(parse_change(tmp_path, {}, {"dir b/empty": b""}))

    assert (fd.status, fd.old_path, fd.new_path, fd.hunks, fd.new_mode) == (
        Status.ADDED, None, "dir b/empty", (), "100644",
    )  # fmt: skip


def test_rename_with_edits_maps_lines_between_both_names(tmp_path: Path) -> None:
    base = numbered(20)

    fd = only(
        parse_change(tmp_path, {"old/name.txt": base}, {"new name.txt": base.replace(b"line 10\n", b"ten\n")})
    )

    assert (fd.status, fd.old_path, fd.new_path) == (Status.RENAMED, "old/name.txt", "new name.txt")
    assert fd.similarity is not None and 50 <= fd.similarity < 100
    assert (R, 10, None, "line 10") in triples(fd.hunks[0])
    assert (A, None, 10, "ten") in triples(fd.hunks[0])


def test_pure_rename_has_full_similarity_and_no_hunks(tmp_path: Path) -> None:
    fd = only(parse_change(tmp_path, {"a b/x": numbered(5)}, {"c b/y": numbered(5)}))

    assert (fd.status, fd.old_path, fd.new_path, fd.similarity, fd.hunks) == (
        Status.RENAMED, "a b/x", "c b/y", 100, (),
    )  # fmt: skip


def test_copy_of_a_modified_file(tmp_path: Path) -> None:
    base = numbered(30)
    head = {
        "src.txt": base.replace(b"line 1\n", b"first\n"),
        "copy.txt": base.replace(b"line 30\n", b"last\n"),
    }

    files = parse_change(tmp_path, {"src.txt": base}, head)

    by_status = {fd.status: fd for fd in files}
    assert set(by_status) == {Status.MODIFIED, Status.COPIED}
    copied = by_status[Status.COPIED]
    assert (copied.old_path, copied.new_path) == ("src.txt", "copy.txt")
    assert copied.similarity is not None and copied.similarity < 100
    assert (A, None, 30, "last") in triples(copied.hunks[-1])
    assert by_status[Status.MODIFIED].path == "src.txt"


def test_mode_only_change_and_mode_with_content_change(tmp_path: Path) -> None:
    base = {"run.sh": b"echo\n", "tool.sh": b"echo\n"}
    head = {"run.sh": Entry(b"echo\n", "100755"), "tool.sh": Entry(b"echo hi\n", "100755")}

    by_path = {fd.path: fd for fd in parse_change(tmp_path, base, head)}

    run, tool = by_path["run.sh"], by_path["tool.sh"]
    assert (run.status, run.old_mode, run.new_mode, run.hunks) == (
        Status.MODE_CHANGED,
        "100644",
        "100755",
        (),
    )
    assert (tool.status, tool.old_mode, tool.new_mode, len(tool.hunks)) == (
        Status.MODIFIED,
        "100644",
        "100755",
        1,
    )


@pytest.mark.parametrize("extra", [(), ("--binary",)], ids=["summary", "binary-patch"])
def test_binary_files_have_no_hunks(tmp_path: Path, extra: tuple[str, ...]) -> None:
    base = {"img.bin": b"\x00\x01\x02" * 50, "keep.txt": b"a\n"}
    head = {"img.bin": b"\x00\x09\x02" * 60, "new.bin": b"\x00\xff", "keep.txt": b"b\n"}

    raw = diffparse_git.diff(tmp_path / "repo", base, head, *extra)
    by_path = {fd.path: fd for fd in diffparse.parse(raw)}

    assert (b"GIT binary patch" in raw) == bool(extra)
    assert (by_path["img.bin"].status, by_path["img.bin"].is_binary, by_path["img.bin"].hunks) == (
        Status.MODIFIED, True, (),
    )  # fmt: skip
    assert (by_path["new.bin"].status, by_path["new.bin"].is_binary) == (Status.ADDED, True)
    assert triples(by_path["keep.txt"].hunks[0]) == [(R, 1, None, "a"), (A, None, 1, "b")]


@pytest.mark.parametrize(
    ("base", "head", "old_flag", "new_flag"),
    [
        (b"a\nb", b"a\nb\n", True, False),
        (b"a\nb\n", b"a\nc", False, True),
        (b"a\nb", b"a\nc", True, True),
        (b"a\nb\nc\nd", b"A\nb\nc\nd", True, True),  # the marker follows a context line
    ],
    ids=["old-only", "new-only", "both", "context"],
)
def test_no_newline_at_end_of_file_flags(
    tmp_path: Path, base: bytes, head: bytes, old_flag: bool, new_flag: bool
) -> None:
    fd = only(parse_change(tmp_path, {"f": base}, {"f": head}))

    (hunk,) = fd.hunks
    assert (hunk.old_no_newline_at_eof, hunk.new_no_newline_at_eof) == (old_flag, new_flag)
    assert all("No newline" not in ln.text for ln in hunk.lines)


def test_crlf_lines_keep_their_carriage_return(tmp_path: Path) -> None:
    fd = only(parse_change(tmp_path, {"w.txt": b"one\r\ntwo\r\n"}, {"w.txt": b"one\r\nTWO\r\n"}))

    assert triples(fd.hunks[0]) == [(C, 1, 1, "one\r"), (R, 2, None, "two\r"), (A, None, 2, "TWO\r")]


def test_non_utf8_bytes_round_trip(tmp_path: Path) -> None:
    base, head = b"caf\xe9\n\xff\xfe ok\n", b"caf\xe9\n\xc3\x28 bad\n"

    fd = only(parse_change(tmp_path, {"latin1.txt": base}, {"latin1.txt": head}))

    texts = [ln.text.encode("utf-8", "surrogateescape") for ln in fd.hunks[0].lines]
    assert texts == [b"caf\xe9", b"\xff\xfe ok", b"\xc3\x28 bad"]


@pytest.mark.parametrize(
    "path",
    [
        "with space.txt",
        "dir with space/x b/y.txt",
        "unicodé/файл.txt",
        'quote"d.txt',
        "tab\there.txt",
        "new\nline.txt",
        "back\\slash.txt",
        "a b/c b/d",
        "\x01ctrl\x7f.txt",
        "trailing space ",
    ],
)
def test_unusual_paths_survive_quoting(tmp_path: Path, path: str) -> None:
    base = {path: b"1\n", path + ".mode": b"m\n", path + ".bin": b"\x00"}
    head: diffparse_git.Tree = {
        path: b"2\n",
        path + ".mode": Entry(b"m\n", "100755"),
        path + ".bin": b"\x00\x01",
    }

    by_path = {fd.path: fd for fd in parse_change(tmp_path, base, head)}

    assert set(by_path) == set(head)
    assert (by_path[path].old_path, by_path[path].new_path) == (path, path)
    assert by_path[path + ".mode"].status is Status.MODE_CHANGED
    assert by_path[path + ".bin"].is_binary


def test_rename_between_quoted_paths(tmp_path: Path) -> None:
    fd = only(parse_change(tmp_path, {'q"1\t.txt': numbered(9)}, {"é b/\\n.txt": numbered(9)}))

    assert (fd.status, fd.old_path, fd.new_path) == (Status.RENAMED, 'q"1\t.txt', "é b/\\n.txt")


def test_symlink_diff_is_its_target_text(tmp_path: Path) -> None:
    base: diffparse_git.Tree = {"link": Entry(b"target/one", "120000"), "plain": b"x\n"}
    head = {"link": Entry(b"target/two", "120000"), "plain": Entry(b"elsewhere", "120000")}

    by_path = {(fd.path, fd.status): fd for fd in parse_change(tmp_path, base, head)}

    link = by_path[("link", Status.MODIFIED)]
    assert (link.old_mode, link.new_mode) == ("120000", "120000")
    assert triples(link.hunks[0]) == [(R, 1, None, "target/one"), (A, None, 1, "target/two")]
    assert link.hunks[0].old_no_newline_at_eof and link.hunks[0].new_no_newline_at_eof
    # A file that becomes a symlink is reported as a deletion and an addition.
    assert by_path[("plain", Status.DELETED)].old_mode == "100644"
    assert by_path[("plain", Status.ADDED)].new_mode == "120000"


def test_submodule_commit_change_is_a_one_line_hunk(tmp_path: Path) -> None:
    old, new = "1" * 40, "2" * 40

    fd = only(
        parse_change(tmp_path, {"sub": Entry(old.encode(), "160000")}, {"sub": Entry(new.encode(), "160000")})
    )

    assert (fd.status, fd.new_mode) == (Status.MODIFIED, "160000")
    assert triples(fd.hunks[0]) == [
        (R, 1, None, f"Subproject commit {old}"),
        (A, None, 1, f"Subproject commit {new}"),
    ]


def test_large_file_parses_quickly_with_exact_numbers(tmp_path: Path) -> None:
    base = numbered(50_000)
    head = b"".join(b"line %d\n" % n if n % 100 else b"changed %d\n" % n for n in range(1, 50_001))
    raw = diffparse_git.diff(tmp_path / "repo", {"big.txt": base}, {"big.txt": head})

    started = time.perf_counter()
    fd = only(diffparse.parse(raw))
    elapsed = time.perf_counter() - started

    assert len(fd.hunks) == 500
    assert (fd.added, fd.removed) == (500, 500)
    assert all(ln.text == f"changed {ln.new_no}" for h in fd.hunks for ln in h.lines if ln.kind is A)
    assert all(ln.text == f"line {ln.old_no}" for h in fd.hunks for ln in h.lines if ln.kind is not A)
    assert elapsed < 2.0


def test_empty_diff_is_no_files() -> None:
    assert diffparse.parse(b"") == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"hello world\n", r"line 1, before any file: .*diff --git"),
        (
            b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n x\n-y\n",
            r"line 4, in 'diff --git a/f b/f': the diff ends inside this hunk",
        ),
        (
            b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n+z\n",
            r"line 7, .*unexpected line starting '\+' after the hunks",
        ),
        (b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +x @@\n-x\n", r"line 4, .*bad hunk header"),
        (
            b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1 @@\n-x\n+y\nzz\n",
            r"line 7, .*unexpected line starting 'z' inside a hunk",
        ),
        (b"diff --git a/f b/f\n--- a/f\n@@ -1 +1 @@\n", r"line 3, .*not followed by a '\+\+\+'"),
        (b'diff --git "a/f b/f\nold mode 100644\nnew mode 100755\n', r"line 1, .*unterminated quoted path"),
        (b"diff --git a/f b/g\nold mode 100644\nnew mode 100755\n", r"line 1, .*cannot tell the paths"),
        (b"diff --git a/f b/f\nsomething odd\n", r"line 2, .*unknown header line"),
        (b"diff --git a/f b/f\n--- f\n+++ b/f\n", r"line 2, .*lacks the 'a/' prefix"),
    ],
    ids=[
        "garbage",
        "truncated",
        "extra-line",
        "bad-header",
        "junk-in-hunk",
        "no-plus",
        "quote",
        "split",
        "header",
        "prefix",
    ],
)
def test_malformed_diff_raises_input_error_naming_the_line(raw: bytes, message: str) -> None:
    with pytest.raises(errors.InputError, match=message):
        diffparse.parse(raw)


def test_truncated_sample_diff_names_its_file_and_line() -> None:
    raw = (SAMPLES / "truncated.diff").read_bytes()

    with pytest.raises(errors.InputError, match=r"line 12, in 'diff --git a/src/app.py b/src/app.py'"):
        diffparse.parse(raw)


def test_malformed_diff_error_never_echoes_file_content() -> None:
    raw = b"diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-TOKEN=a\n+TOKEN=s3cr3t\n+TOKEN\n"

    with pytest.raises(errors.InputError) as caught:
        diffparse.parse(raw)

    assert "line 7" in caught.value.message and ".env" in caught.value.message
    assert "s3cr3t" not in caught.value.message and "TOKEN" not in caught.value.message
