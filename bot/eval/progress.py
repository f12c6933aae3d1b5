"""Where `quorum eval` shows how far it is: a bar redrawn in place on a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import Protocol, TextIO

_WIDTH = 24


class EvalProgress(Protocol):
    """Told before each run of a case, and once at the end."""

    def run(self, case_number: int, case_count: int, repeat: int, repeats: int, name: str) -> None: ...

    def done(self) -> None: ...


def describe(case_number: int, case_count: int, repeat: int, repeats: int) -> str:
    return f"case {case_number}/{case_count} repeat {repeat}/{repeats}"


class BarProgress:
    """A one-line bar on a terminal's stderr, redrawn with a carriage return."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0

    def run(self, case_number: int, case_count: int, repeat: int, repeats: int, name: str) -> None:
        done = (case_number - 1) * repeats + repeat - 1
        filled = _WIDTH * done // max(1, case_count * repeats)
        bar = "#" * filled + "." * (_WIDTH - filled)
        line = f"[{bar}] {describe(case_number, case_count, repeat, repeats)} {name}"
        # Pad over what is left of a longer previous line.
        self._stream.write("\r" + line.ljust(self._last))
        self._stream.flush()
        self._last = len(line)

    def done(self) -> None:
        self._stream.write("\r" + " " * self._last + "\r")
        self._stream.flush()


class LineProgress:
    """One plain line per run, for logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def run(self, case_number: int, case_count: int, repeat: int, repeats: int, name: str) -> None:
        self._stream.write(f"quorum eval: {describe(case_number, case_count, repeat, repeats)} {name}\n")
        self._stream.flush()

    def done(self) -> None:
        self._stream.flush()


def for_stream(stream: TextIO) -> EvalProgress:
    """The bar on a terminal, lines otherwise."""
    return BarProgress(stream) if stream.isatty() else LineProgress(stream)
