"""Redaction stays cheap: 100k lines of ordinary code with a few secrets, well under a second or two."""

from __future__ import annotations

import time

from guardrails.text.redaction import Redactor

_CODE = [
    "def handle(self, request: Request) -> Response:",
    '    """Serve one request; see https://example.com/docs/handlers for the contract."""',
    "    token = request.headers.get('Authorization', '')",
    "    if not token.startswith('Bearer '):",
    "        raise PermissionError(f'missing token for {request.path}')",
    "    user = await self._users.by_token(token.removeprefix('Bearer '))",
    "    return Response(status=200, body=json.dumps({'id': user.id, 'name': user.name}))",
    "",
    "# ---------------------------------------------------------------------------",
    "class UserProfileSettingsRepository(BaseRepository[UserProfileSettings]):",
    "    max_tokens: int = 4096",
    "    commit = '3f786850e387550fdab836ed7e6dc881de23001b'",
]
_SECRETS = ['    password = "hunter2!x"', "AWS_KEY=AKIA" + "ABCDEFGHIJKLMNOP", "k = ghp_" + "a1B2" * 9]


def test_redacts_100k_lines_quickly():
    lines = [_CODE[i % len(_CODE)] for i in range(100_000)]
    for i, secret in enumerate(_SECRETS):
        lines[(i + 1) * 30_000] = secret
    redactor = Redactor(["configured-secret-1", "configured-secret-2"])

    started = time.perf_counter()
    redacted, count = redactor.redact_lines(lines)
    elapsed = time.perf_counter() - started

    print(f"redacted 100k lines in {elapsed:.3f}s")
    assert count == len(_SECRETS)
    assert len(redacted) == len(lines)
    assert elapsed < 3.0, f"100k lines took {elapsed:.2f}s"
