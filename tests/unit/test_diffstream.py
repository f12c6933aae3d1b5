"""The streamed diff path against the whole-text one on a varied real diff: same files, filters, chunks
and errors, however git's output is cut into pieces."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import domain, errors
from bot.pipeline import _shown
from bot.review import chunking, diffparse, diffstream, filters
from tests.support import diffparse_git, varied_diff

Status = domain.FileStatus
SIZES = (1, 2, 3, 7, 12, 13, 64, 997, 4096, 1 << 16)
BLOCKS = (1, 13, 200, 4096, 1 << 16)  # the smallest block parsed: a boundary per file, up to one block


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    base, head = varied_diff.trees()
    return diffparse_git.diff(tmp_path_factory.mktemp("varied") / "repo", base, head)


def cut(raw: bytes, sizes: list[int]) -> list[bytes]:
    """`raw` in consecutive pieces of the given sizes (cycled), as a pipe might deliver it."""
    pieces, at, n = [], 0, 0
    while at < len(raw):
        pieces.append(raw[at : at + sizes[n % len(sizes)]])
        at += sizes[n % len(sizes)]
        n += 1
    return pieces


def splits(raw: bytes) -> list[list[bytes]]:
    rng = random.Random(7)
    fixed = [cut(raw, [size]) for size in SIZES]
    uneven = [cut(raw, [rng.randint(1, 300) for _ in range(50)]) for _ in range(20)]
    return [[raw], [b"", raw, b""], *fixed, *uneven]


def test_the_varied_diff_holds_every_kind_of_section(raw: bytes) -> None:
    files = diffparse.parse(raw)

    statuses = {f.status for f in files}
    texts = [ln.text for f in files for h in f.hunks for ln in h.lines]
    assert {Status.RENAMED, Status.COPIED, Status.DELETED, Status.ADDED, Status.MODE_CHANGED} <= statuses
    assert {f.path for f in files if f.is_binary} == {"image.bin", "text_with_nul.py"}
    assert any(filters.is_submodule(f) for f in files)
    assert any(f.new_mode == filters.SYMLINK_MODE for f in files)
    assert any(t.endswith("\r") for t in texts)
    assert any("\udce9" in t for t in texts)  # a latin-1 byte kept losslessly
    assert any(h.new_no_newline_at_eof for f in files for h in f.hunks)
    assert varied_diff.QUOTED_PATH in {f.path for f in files}
    assert len(next(f for f in files if f.path == "big.py").hunks) > 10


def test_every_split_parses_to_the_same_files(raw: bytes) -> None:
    whole = diffparse.parse(raw)

    for pieces in splits(raw):
        for block_bytes in BLOCKS:
            streamed = list(diffstream.parse_stream(pieces, block_bytes))
            assert streamed == whole, (block_bytes, [len(p) for p in pieces[:5]])


def test_filters_coverage_and_chunks_agree_with_the_whole_text_path(raw: bytes) -> None:
    whole = diffparse.parse(raw)
    policy = filters.FilterPolicy(max_files=12, max_file_lines=400)
    base = filters.BaseFacts(textual=frozenset({"image.bin"}))

    for pieces in splits(raw)[::4]:
        streamed = list(diffstream.parse_stream(pieces, block_bytes=1))
        kept, skipped = filters.apply(streamed, policy, base)

        assert (kept, skipped) == filters.apply(whole, policy, base)
        assert _shown(kept, streamed) == _shown(kept, whole)
        for budget in (60, 400, 6000):
            assert chunking.build_chunks(kept, budget) == chunking.build_chunks(
                filters.apply(whole, policy, base)[0], budget
            )


def test_chunks_are_the_rendered_files_packed_in_order(raw: bytes) -> None:
    kept, _ = filters.apply(diffparse.parse(raw), filters.FilterPolicy(max_files=100, max_file_lines=10**6))

    for budget in (60, 400, 6000):
        chunks, skipped = chunking.build_chunks(kept, budget)

        assert [c.index for c in chunks] == list(range(len(chunks)))
        for chunk in chunks:
            assert chunk.text == "\n\n".join(chunking.render_file(f) for f in chunk.files)
            assert chunk.tokens == chunking.estimate_tokens(chunk.text)
        split = [f for c in chunks for f in c.files]
        assert [f.path for f in split] == [
            f.path for f in kept for _ in range(sum(1 for s in split if s.path == f.path))
        ]
        reviewed = {f.path for f in split} | {s.path for s in skipped}
        assert reviewed == {f.path for f in kept}
    assert len([f for f in chunking.build_chunks(kept, 400)[0][0].files]) >= 1
    assert any(len(c.files) > 1 for c in chunking.build_chunks(kept, 6000)[0])
    big = [f for c in chunking.build_chunks(kept, 400)[0] for f in c.files if f.path == "big.py"]
    assert len(big) > 1  # the large file was split by hunks


def _rendered(line: domain.DiffLine) -> str:
    text = chunking.printable(line.text)
    if line.kind is domain.LineKind.REMOVED:
        return f"L{line.old_no} - {text}"
    return f"R{line.new_no} {'+' if line.kind is domain.LineKind.ADDED else ' '} {text}"


def test_hunks_render_each_line_as_its_handle_and_printable_text(raw: bytes) -> None:
    hunks = [h for f in diffparse.parse(raw) for h in f.hunks]

    for hunk in hunks:
        lines = chunking.render_hunk(hunk).split("\n")

        assert lines[0].startswith(f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},")
        assert lines[1:] == [_rendered(ln) for ln in hunk.lines]
    assert any("\ufffd" in chunking.render_hunk(h) for h in hunks)  # latin-1 bytes shown replaced
    assert any(ln.old_no != ln.new_no for h in hunks for ln in h.lines if ln.kind is domain.LineKind.CONTEXT)


def _malformed(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\n")
    at_plus = next(i for i, line in enumerate(lines) if line.startswith(b"+++ "))
    inside = raw.index(b"\n+edited big 9") + 5
    return [
        b"preamble\n" + raw,
        raw[:inside],  # cut inside a hunk
        raw[: raw.index(b"\n", inside) + 1],  # cut after a whole line inside a hunk
        b"\n".join([*lines[:at_plus], *lines[at_plus + 1 :]]),  # a '---' without its '+++'
        raw + b"+one line too many\n",
        raw.replace(b"\n@@ -1,", b"\n@@ -1,9", 1),  # counts that do not match the lines
        raw.replace(b"\ndiff --git", b"\nstray line\ndiff --git", 1),
        raw.replace(b"\n@@ ", b"\nnonsense header\n@@ ", 1),
    ]


def test_a_malformed_diff_fails_with_the_same_error_however_it_arrives(raw: bytes) -> None:
    for number, bad in enumerate(_malformed(raw)):
        with pytest.raises(errors.InputError) as whole:
            diffparse.parse(bad)
            pytest.fail(f"malformed diff {number} parsed")

        for pieces in (cut(bad, [size]) for size in (1, 13, 4096, len(bad))):
            for block_bytes in BLOCKS:
                with pytest.raises(errors.InputError) as streamed:
                    list(diffstream.parse_stream(pieces, block_bytes))
                assert str(streamed.value) == str(whole.value)


def test_files_are_yielded_before_the_stream_ends(raw: bytes) -> None:
    pieces = cut(raw, [500])
    delivered: list[int] = []

    def source() -> Iterator[bytes]:
        for n, piece in enumerate(pieces):
            delivered.append(n)
            yield piece

    first = next(diffstream.parse_stream(source(), block_bytes=1000))

    assert first == diffparse.parse(raw)[0]
    assert len(delivered) < len(pieces) // 2


def test_parsed_lines_equal_lines_built_the_ordinary_way(tmp_path: Path) -> None:
    raw = diffparse_git.diff(tmp_path / "repo", {"a.txt": b"one\ntwo\n"}, {"a.txt": b"one\n2\n"})

    lines = diffparse.parse(raw)[0].hunks[0].lines

    C, R, A = domain.LineKind.CONTEXT, domain.LineKind.REMOVED, domain.LineKind.ADDED
    assert lines == (
        domain.DiffLine(C, 1, 1, "one"),
        domain.DiffLine(R, 2, None, "two"),
        domain.DiffLine(A, None, 2, "2"),
    )
    assert hash(lines[0]) == hash(domain.DiffLine(C, 1, 1, "one"))
