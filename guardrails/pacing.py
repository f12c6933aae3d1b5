"""GitHub's write pacing for one credential: writes one at a time, `interval_s` apart, at most `per_minute`.

GitHub asks content-creating requests (POST, PATCH, PUT, DELETE) of one credential to go serially, at least
one second apart, and caps them at 80 a minute (https://docs.github.com/en/rest/using-the-rest-api/
rate-limits-for-the-rest-api#about-secondary-rate-limits). Every replica using the credential shares one
`Pace`: a write claims it, and releases it once GitHub answered; the next may start `interval_s` after that.
A holder that never releases (a crashed replica) holds it for `hold_s` at most. The minute cap is a sliding
window over the claims of the last 60 s. `bot/adapters/redis/pacer.py` runs the same rule in one Lua script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    interval_s: float = 1.0
    per_minute: int = 80
    hold_s: float = 75.0  # longer than one write can take (its request and an installation token's)


@dataclass(slots=True)
class Pace:
    """The shared record of one credential: when the next write may start, who holds it, recent claims."""

    next_at: float = 0.0
    holder: str = ""
    claims: list[float] = field(default_factory=list)


def claim(pace: Pace, token: str, now: float, policy: PacingPolicy) -> float:
    """Claim the next write for `token`: 0 when it is ours (held until `release`), else seconds to wait."""
    pace.claims = [at for at in pace.claims if at > now - WINDOW_S]
    if now < pace.next_at:
        return pace.next_at - now
    if len(pace.claims) >= policy.per_minute:
        return pace.claims[0] + WINDOW_S - now
    pace.next_at, pace.holder = now + policy.hold_s, token
    pace.claims.append(now)
    return 0.0


def release(pace: Pace, token: str, now: float, policy: PacingPolicy) -> None:
    """The write of `token` was answered: the next may start `interval_s` from now. A release by a write
    that is no longer the holder (its hold ran out) only ever moves the next start later."""
    if pace.holder == token:
        pace.next_at, pace.holder = now + policy.interval_s, ""
    else:
        pace.next_at = max(pace.next_at, now + policy.interval_s)


class WritePacer(Protocol):
    """The pace of one credential's writes, shared by every replica using it."""

    async def claim(self, token: str) -> float:
        """0 when the next write is `token`'s, else seconds to wait before asking again."""
        ...

    async def release(self, token: str) -> None:
        """The write of `token` was answered (or failed): start the interval."""
        ...
