"""What every LLM adapter shares: one POST under a deadline, errors as `ProviderError`, JSON read safely.

Billing rule: `billed=True` only when the provider may have done the work and the answer was lost or
unreadable (a read timeout, a connection broken after the request was sent, a malformed body). An HTTP
error answer and a refused connection are never billed.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bot import errors, ports
from bot.adapters.llm import pause as llm_pause
from bot.ports import ToolCall

MESSAGE_LIMIT = 300
RETRYABLE_STATUS = frozenset({408, 409, 429})
INSTALL_LOCAL = "pip install 'quorum-review[local]'"
OTHER_PROVIDERS = (
    "or choose another provider with QUORUM_LLM__PROVIDER=openai|ollama|anthropic plus "
    "QUORUM_LLM__BASE_URL, QUORUM_LLM__MODEL and QUORUM_LLM__API_KEY"
)
_HINTS = {
    "ollama": "is `ollama serve` running? Otherwise set QUORUM_LLM__BASE_URL to where Ollama listens",
    "local": (
        "the local llama.cpp server started by Quorum is not answering (see its log); "
        f"QUORUM_LLM__PROVIDER=local needs `{INSTALL_LOCAL}`"
    ),
}


def unavailable_hint(provider: str) -> str:
    """What to start or set when `provider` cannot be reached."""
    return _HINTS.get(provider, "set QUORUM_LLM__BASE_URL to the provider's URL (and QUORUM_LLM__API_KEY)")


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    """`text` with every secret replaced, then cut to the length an error message may quote."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:MESSAGE_LIMIT]


def plain(value: object) -> object:
    """`value` with every mapping and sequence turned into dict and list, so it serialises as JSON."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date); None if absent."""
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def error_text(response: httpx.Response) -> str:
    """The provider's own error message from its envelope, else the raw body."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text.strip() or response.reason_phrase
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return response.text.strip()


def error_from_response(
    response: httpx.Response, *, provider: str, secrets: Sequence[str | None] = ()
) -> errors.ProviderError:
    """The `ProviderError` for a non-2xx answer: retryable on 408/409/429/5xx, never billed."""
    status = response.status_code
    return errors.ProviderError(
        f"{provider} answered HTTP {status}: {scrub(error_text(response), secrets)}",
        provider=provider,
        status_code=status,
        retry_after=parse_retry_after(response.headers),
        retryable=status in RETRYABLE_STATUS or status >= 500,
        billed=False,
    )


def error_from_exception(
    exc: httpx.HTTPError | TimeoutError, *, provider: str, url: str, secrets: Sequence[str | None] = ()
) -> errors.ProviderError:
    """The `ProviderError` for a transport failure; `ProviderUnavailable` when nothing answers at `url`."""
    detail = scrub(f"{type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, httpx.ConnectError):
        # Refused connection or failed DNS lookup: the request never left, so nothing was billed.
        return errors.ProviderUnavailable(
            f"cannot reach {provider} at {url} ({detail}); {unavailable_hint(provider)}",
            provider=provider,
            retryable=True,
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return errors.ProviderUnavailable(
            f"{url} is not an http(s) URL; set QUORUM_LLM__BASE_URL", provider=provider, retryable=False
        )
    # A timeout or broken connection after the request was written: the provider may have run it.
    sent = isinstance(exc, TimeoutError | httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError)
    return errors.ProviderError(
        f"{provider} request to {url} failed: {detail}", provider=provider, retryable=True, billed=sent
    )


def parse_body(response: httpx.Response, *, provider: str) -> dict[str, Any]:
    """The JSON object in a 2xx answer; a malformed or truncated body is a billed, final error."""
    try:
        data = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise malformed(provider, f"body is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict):
        raise malformed(provider, "body is not a JSON object")
    return data


def malformed(provider: str, what: str) -> errors.ProviderError:
    """The error for an answer the provider produced but Quorum cannot read (so it was billed)."""
    return errors.ProviderError(
        f"{provider} sent a malformed answer: {what}", provider=provider, retryable=False, billed=True
    )


def dig(data: object, *path: str | int, provider: str) -> object:
    """`data[path[0]][path[1]]...`, raising `malformed` when a step is missing."""
    node = data
    for step in path:
        in_list = isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node)
        in_dict = isinstance(step, str) and isinstance(node, dict) and step in node
        if in_list or in_dict:
            node = node[step]  # type: ignore[index]
        else:
            raise malformed(provider, f"missing {'.'.join(str(p) for p in path)}")
    return node


def optional_int(value: object) -> int | None:
    """An integer token count, or None when absent or not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def tool_arguments(raw: object) -> dict[str, Any]:
    """A model's tool arguments as an object. Unreadable arguments (not JSON, not an object) are not an
    error: they become `{INVALID_ARGUMENTS: why}`, which the loop answers without running the tool."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, RecursionError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            return {ports.INVALID_ARGUMENTS: f"the arguments are not valid JSON ({why})"}
    if not isinstance(raw, dict):
        return {ports.INVALID_ARGUMENTS: f"the arguments are a JSON {type(raw).__name__}, not an object"}
    return raw


def tool_call(raw_id: object, name: object, raw_arguments: object, index: int) -> ToolCall:
    """One tool call as the domain sees it; an id a provider would refuse later is replaced."""
    fresh = f"call_{index}_{uuid.uuid4().hex[:8]}"
    call_id = raw_id if isinstance(raw_id, str) and _CALL_ID.fullmatch(raw_id) else fresh
    return ToolCall(call_id, name if isinstance(name, str) else "", tool_arguments(raw_arguments))


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 bytes a token), for servers that cost nothing and report no usage."""
    return len(text.encode()) // 4 + 1


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, object],
    *,
    provider: str,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    secrets: Sequence[str | None] = (),
) -> dict[str, Any]:
    """POST `body` once, within `timeout_s` seconds in all, and return the JSON object of a 2xx answer.
    Not sent while the endpoint is paused by a `Retry-After` (see `pause`)."""
    gate = llm_pause.endpoint(url, headers or {})
    llm_pause.PAUSES.check(gate, provider)
    try:
        # httpx timeouts bound each phase; asyncio.timeout bounds the whole exchange (a trickling body).
        async with asyncio.timeout(timeout_s):
            response = await client.post(
                url, json=plain(body), headers=dict(headers or {}), timeout=httpx.Timeout(timeout_s)
            )
    except httpx.InvalidURL as exc:
        raise errors.ProviderUnavailable(
            f"{provider} base URL is invalid ({exc}); set QUORUM_LLM__BASE_URL", provider=provider
        ) from exc
    except (httpx.HTTPError, TimeoutError) as exc:
        raise error_from_exception(exc, provider=provider, url=url, secrets=secrets) from exc
    if not response.is_success:
        error = error_from_response(response, provider=provider, secrets=secrets)
        if error.status_code == 429 and error.retry_after:
            llm_pause.PAUSES.hold(gate, error.retry_after)
        raise error
    return parse_body(response, provider=provider)
