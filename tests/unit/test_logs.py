"""Log lines: JSON shape, context from contextvars and `extra=`, exceptions, secret masking, text mode."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.daemon import job_context
from bot.entrypoints import logs
from guardrails.clock import SystemClock
from statemachine.lifecycle import Lifecycle

SECRET = "hunter2-configured-secret"
Configure = Callable[..., io.StringIO]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def configure() -> Iterator[Configure]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def setup(
        fmt: logs.Format = "json", level: str = "INFO", stream: io.StringIO | None = None
    ) -> io.StringIO:
        out = stream if stream is not None else io.StringIO()
        logs.configure(level, fmt, stream=out, secrets=[SECRET])
        return out

    yield setup
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_have_the_ecs_shape(configure: Configure) -> None:
    out = configure("json")

    logging.getLogger("quorum.test").info("claimed %s", "job-1")

    (doc,) = lines(out)
    assert doc["message"] == "claimed job-1"
    assert doc["log.level"] == "info"
    assert doc["log.logger"] == "quorum.test"
    assert doc["@timestamp"].endswith("Z") and "T" in doc["@timestamp"]


def test_level_filters_lines_and_reconfiguring_replaces_the_handler(configure: Configure) -> None:
    configure("json")
    out = configure("json", level="warning")

    logging.getLogger("quorum.test").info("quiet")
    logging.getLogger("quorum.test").warning("loud")

    assert [d["message"] for d in lines(out)] == ["loud"]


def test_context_is_on_every_line_inside_and_gone_outside(configure: Configure) -> None:
    out = configure("json")
    log = logging.getLogger("quorum.test")

    with job_context.scoped(repo="acme/app", pr=12, delivery_id="d-1"):
        log.info("inside")
        with job_context.scoped(job_id="job-9", head_sha="abc123"):
            log.info("nested")
    log.info("outside")

    inside, nested, outside = lines(out)
    assert inside["quorum.repo"] == "acme/app" and inside["quorum.pr"] == 12
    assert inside["quorum.delivery_id"] == "d-1" and "quorum.job_id" not in inside
    assert nested["quorum.job_id"] == "job-9" and nested["quorum.head_sha"] == "abc123"
    assert nested["quorum.repo"] == "acme/app"
    assert not any(key.startswith("quorum.") for key in outside)


async def test_context_follows_awaits_and_tasks_created_inside(configure: Configure) -> None:
    out = configure("json")
    log = logging.getLogger("quorum.test")

    async def work(name: str) -> None:
        await asyncio.sleep(0.01)
        log.info(name)

    async def review(pr: int) -> None:
        with job_context.scoped(repo="acme/app", pr=pr):
            await asyncio.sleep(0.01)
            await asyncio.create_task(work(f"task-{pr}"))
            log.info(f"after-{pr}")

    await asyncio.gather(review(1), review(2))

    by_message = {d["message"]: d.get("quorum.pr") for d in lines(out)}
    assert by_message == {"task-1": 1, "task-2": 2, "after-1": 1, "after-2": 2}


def test_extra_fields_join_and_override_the_context(configure: Configure) -> None:
    out = configure("json")

    with job_context.scoped(repo="acme/app", pr=3):
        logging.getLogger("quorum.test").info("delivery", extra={"delivery_id": "gh-42", "pr": 4})

    (doc,) = lines(out)
    assert doc["quorum.delivery_id"] == "gh-42"
    assert doc["quorum.pr"] == 4 and doc["quorum.repo"] == "acme/app"


def test_exceptions_become_error_fields(configure: Configure) -> None:
    out = configure("json")

    try:
        raise ValueError("bad verdict")
    except ValueError:
        logging.getLogger("quorum.test").exception("round failed")

    (doc,) = lines(out)
    assert doc["message"] == "round failed"
    assert doc["error.type"] == "ValueError"
    assert doc["error.message"] == "bad verdict"
    assert "Traceback" in doc["error.stack_trace"] and "raise ValueError" in doc["error.stack_trace"]


def test_configured_secrets_never_reach_a_line(configure: Configure) -> None:
    out = configure("json")
    log = logging.getLogger("quorum.test")

    with job_context.scoped(repo="acme/app", job_id=f"job-{SECRET}"):
        log.warning("token is %s", SECRET)
        try:
            raise RuntimeError(f"auth failed with {SECRET}")
        except RuntimeError:
            log.exception("call failed: %s", SECRET)
    log.info("pat ghp_" + "a1B2" * 9)

    text = out.getvalue()
    assert SECRET not in text
    assert "ghp_a1B2" not in text
    assert text.count("[REDACTED:") >= 5
    assert lines(out)[1]["error.message"] == "auth failed with [REDACTED:known_secret]"


def test_a_bad_format_call_does_not_raise(configure: Configure) -> None:
    out = configure("json")
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is out]
    # Straight to our handler: pytest's own capture handler would raise on this record first.
    record = logging.LogRecord("quorum.test", logging.INFO, __file__, 1, "two %s %s", ("one",), None)

    handler.handle(record)

    (doc,) = lines(out)
    assert "two %s %s" in doc["message"]


def test_text_mode_is_readable_with_a_pr_prefix(configure: Configure) -> None:
    out = configure("text")
    log = logging.getLogger("quorum.test")

    with job_context.scoped(repo="acme/app", pr=7):
        log.info("approved")
    with job_context.scoped(delivery_id="d-9"):
        try:
            raise KeyError("x")
        except KeyError:
            log.error("dropped", exc_info=True)

    first, second, *trace = out.getvalue().splitlines()
    assert first.endswith("INFO    quorum.test [acme/app#7] approved")
    assert "[delivery d-9] dropped" in second
    assert trace[0].startswith("Traceback") and trace[-1] == "KeyError: 'x'"
    assert not first.startswith("{")


def test_auto_is_text_on_a_terminal_and_json_elsewhere(configure: Configure) -> None:
    tty = configure("auto", stream=Terminal())
    logging.getLogger("quorum.test").info("hello")
    pipe = configure("auto")
    logging.getLogger("quorum.test").info("hello")

    assert "INFO" in tty.getvalue() and not tty.getvalue().startswith("{")
    assert lines(pipe)[0]["message"] == "hello"


def test_other_libraries_info_chatter_stays_out_of_info_but_not_their_warnings(configure: Configure) -> None:
    out = configure("json")

    Lifecycle(SystemClock()).fire("start_review", actor="quorum", reason="opened")  # transitions logs INFO
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/x")
    logging.getLogger("httpx").warning("a library's warning")
    logging.getLogger("bot.daemon.worker").info("claimed acme/app#1")

    assert [(d["log.logger"], d["message"]) for d in lines(out)] == [
        ("httpx", "a library's warning"),
        ("bot.daemon.worker", "claimed acme/app#1"),
    ]


def test_debug_shows_other_libraries_too(configure: Configure) -> None:
    out = configure("json", level="DEBUG")

    Lifecycle(SystemClock()).fire("start_review", actor="quorum", reason="opened")

    assert any(d["log.logger"].startswith("transitions") for d in lines(out))


def test_configuring_after_basic_config_prints_each_line_once(configure: Configure) -> None:
    root = logging.getLogger()
    before = io.StringIO()
    root.addHandler(logging.StreamHandler(before))  # what the CLI's logging.basicConfig installs
    out = configure("json")

    logging.getLogger("bot.test").warning("once")

    assert [d["message"] for d in lines(out)] == ["once"]
    assert before.getvalue() == ""
