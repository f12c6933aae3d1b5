"""A language model started on its first call, so a run that never calls one never starts one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.ports import Completion, CompletionRequest, LanguageModel


class LazyModel:
    """Wraps a factory that starts a model (a child server, say) and is awaited once, on first use."""

    def __init__(self, provider: str, model: str, start: Callable[[], Awaitable[LanguageModel]]) -> None:
        self._provider, self._model, self._start = provider, model, start
        self._started: LanguageModel | None = None
        self._lock = asyncio.Lock()

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        return self._model

    @property
    def started(self) -> bool:
        return self._started is not None

    async def complete(self, request: CompletionRequest, *, timeout: float) -> Completion:  # noqa: ASYNC109
        async with self._lock:
            if self._started is None:
                self._started = await self._start()
        return await self._started.complete(request, timeout=timeout)
