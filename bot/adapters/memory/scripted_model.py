"""A language model that answers from a script, for the in-process mode's tests and demos."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.errors import ProviderError
from bot.ports import Completion, CompletionRequest


class ScriptedModel:
    """A `LanguageModel` that answers from a script: a completion, an error to raise, or a delay in
    seconds before the next scripted step. For the in-process mode's tests and demos."""

    def __init__(
        self,
        replies: Sequence[Completion | ProviderError | float],
        *,
        model: str = "scripted",
        provider: str = "scripted",
    ) -> None:
        self._replies = list(replies)
        self._model, self._provider = model, provider
        self.requests: list[CompletionRequest] = []

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        return self._model

    async def complete(self, request: CompletionRequest, *, timeout: float) -> Completion:  # noqa: ASYNC109
        self.requests.append(request)
        while self._replies:
            step = self._replies.pop(0)
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif isinstance(step, ProviderError):
                raise step
            else:
                return step
        raise ProviderError("the scripted model ran out of replies", provider=self._provider)
