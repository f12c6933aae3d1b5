"""`quorum eval` progress: a bar redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from bot.eval import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_redrawn_with_carriage_returns():
    stream = Terminal()
    bar = progress.for_stream(stream)

    bar.run(1, 2, 1, 2, "01-long-case-name")
    bar.run(2, 2, 2, 2, "02-b")
    bar.done()

    text = stream.getvalue()
    assert "\n" not in text and text.count("\r") == 4
    frames = text.split("\r")[1:3]
    assert frames[0].startswith("[" + "." * 24 + "] case 1/2 repeat 1/2 01-long-case-name")
    assert frames[1].startswith("[" + "#" * 18 + "." * 6 + "] case 2/2 repeat 2/2 02-b")
    assert len(frames[1]) == len(frames[0])  # padded over the longer line before it


def test_a_pipe_gets_one_line_per_run():
    stream = io.StringIO()
    lines = progress.for_stream(stream)

    lines.run(7, 32, 2, 3, "07-race")
    lines.done()

    assert stream.getvalue() == "quorum eval: case 7/32 repeat 2/3 07-race\n"
