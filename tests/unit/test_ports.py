"""The null objects beside the ports: what a run without a terminal, metrics or notifications gets."""

from __future__ import annotations

import logging

import pytest

from bot import ports


def test_no_progress_leaves_each_step_as_a_debug_line_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="quorum")

    ports.NO_PROGRESS.step("cloning acme/app")

    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("quorum", logging.DEBUG, "cloning acme/app")
    ]


def test_the_null_notifier_tells_nobody_and_never_raises() -> None:
    note = ports.Notification(ports.NotificationKind.FAILURES, "o/r#1 failed", "boom", "o/r", 1)

    assert ports.NULL_NOTIFIER.notify(note) is None
