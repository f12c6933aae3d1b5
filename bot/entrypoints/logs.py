"""Logging for the CLI and the daemon: JSON lines in service mode, text on a terminal, context on every line.

Every line carries the job context of `bot.daemon.job_context` (repo, PR, delivery, job, head, round);
`extra={"delivery_id": ...}` on one call works too. Configured secrets and
recognisable credentials are masked in every line, message and traceback alike.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TextIO

from bot import version
from bot.daemon import job_context
from guardrails.text import redaction

Format = Literal["auto", "json", "text"]

# The context keys, in the order text mode prints them; JSON names them `quorum.<key>`.
CONTEXT_KEYS = ("repo", "pr", "delivery_id", "job_id", "head_sha", "round")

_HANDLER_MARK = "_quorum_handler"
# Loggers that tell Quorum's own story; every other library's INFO chatter (transitions' callbacks,
# httpx's request lines, aiohttp's access log) is kept out of INFO and shown only at DEBUG.
OWN_LOGGERS = ("bot", "guardrails", "statemachine", "config", "quorum")


class ContextFilter(logging.Filter):
    """Attach the context (contextvar, then `extra=` fields) and mask secrets in the record, once."""

    def __init__(self, redactor: redaction.Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "quorum_context", None) is not None:
            return True  # already prepared by another of our handlers
        context: dict[str, str | int] = dict(job_context.fields())
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None and value != "":
                context[key] = value
        record.quorum_context = {k: self._mask_value(v) for k, v in context.items()}
        record.msg, record.args = self._mask(_message(record)), None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.quorum_error = (type(exc).__qualname__, self._mask(str(exc)))
            record.exc_text = self._mask("".join(traceback.format_exception(exc)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True

    def _mask(self, text: str) -> str:
        return self._redactor.redact(text)[0]

    def _mask_value(self, value: object) -> str | int:
        return value if isinstance(value, int) else self._mask(str(value))


class LibraryFilter(logging.Filter):
    """Pass other libraries' records only from WARNING up (from DEBUG up when debugging)."""

    def __init__(self, floor: int) -> None:
        super().__init__()
        self._floor = floor

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self._floor or is_own(record.name)


def is_own(name: str) -> bool:
    """Whether a logger name belongs to Quorum's packages."""
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


def _message(record: logging.LogRecord) -> str:
    # A filter that raised would raise at the logging call site: a bad format string must not.
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!r} (arguments did not match the format)"


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line with ECS names: `@timestamp`, `log.level`, `log.logger`, `message`,
    `error.*` for exceptions and `quorum.<key>` for the context."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "@timestamp": _timestamp(record),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
            "service.version": version.VERSION,
        }
        for key, value in (getattr(record, "quorum_context", None) or {}).items():
            doc[f"quorum.{key}"] = value
        error = getattr(record, "quorum_error", None)
        if error is not None:
            doc["error.type"], doc["error.message"] = error
            doc["error.stack_trace"] = record.exc_text or ""
        if record.stack_info:
            doc["log.origin.stack_trace"] = record.stack_info
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`12:00:01.234 INFO  quorum.daemon [owner/repo#12] message` and the traceback below it."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "quorum_context", None) or {}
        line = (
            f"{self.formatTime(record, self.datefmt)}.{int(record.msecs):03d} "
            f"{record.levelname:<7} {record.name} {_prefix(context)}{record.getMessage()}"
        )
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


def _prefix(context: Mapping[str, str | int]) -> str:
    repo, pr = context.get("repo"), context.get("pr")
    if repo is not None:
        where = f"{repo}#{pr}" if pr is not None else str(repo)
    elif "delivery_id" in context:
        where = f"delivery {context['delivery_id']}"
    elif "job_id" in context:
        where = f"job {context['job_id']}"
    else:
        return ""
    return f"[{where}] "


def use_json(fmt: Format, stream: TextIO) -> bool:
    """JSON unless asked for text, or `auto` on a terminal."""
    if fmt != "auto":
        return fmt == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure(
    level: str, fmt: Format = "auto", stream: TextIO | None = None, secrets: Sequence[str] = ()
) -> logging.Handler:
    """Route every log record to `stream` (stderr by default) in `fmt`, replacing an earlier `configure`."""
    out = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if use_json(fmt, out) else TextFormatter())
    debugging = logging.getLevelName(level.upper()) == logging.DEBUG
    handler.addFilter(LibraryFilter(logging.DEBUG if debugging else logging.WARNING))
    handler.addFilter(ContextFilter(redaction.Redactor(secrets)))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    # Ours from an earlier call, and a plain stream handler from `logging.basicConfig` (the CLI's, before
    # the settings were read): either would print every line a second time.
    earlier = [
        h for h in root.handlers if getattr(h, _HANDLER_MARK, False) or type(h) is logging.StreamHandler
    ]
    for old in earlier:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
