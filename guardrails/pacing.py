"""GitHub's write pacing for one credential: writes one at a time, `interval_s` apart, at most `per_minute`
and `per_hour`; and a rate limit GitHub answered, held for every replica using the credential.

GitHub asks content-creating requests (POST, PATCH, PUT, DELETE) of one credential to go serially, at least
one second apart, and caps them at 80 a minute and 500 an hour (https://docs.github.com/en/rest/using-the-
rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits). Every replica using the credential
shares one `Pace`: a write claims it, and releases it once GitHub answered; the next may start `interval_s`
after that. A holder that never releases (a crashed replica) holds it for `hold_s` at most. The caps are
sliding windows over the claims of the last minute and hour. A limit GitHub answered (403/429) holds every
request of the credential, reads too, until it ends. `bot/adapters/redis/pacer.py` runs the same rule in Lua.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

WINDOW_S = 60.0
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    """The defaults are github.com's secondary limits (`GITHUB_COM`)."""

    interval_s: float = 1.0
    per_minute: int = 80
    hold_s: float = 75.0  # longer than one write can take (its request and an installation token's)
    per_hour: int = 500

    @property
    def longest_pace_s(self) -> float:
        """The longest wait the pace imposes short of the hourly cap (a hold, then the minute window); a
        longer wait is the hourly cap's, and a write is deferred rather than held that long."""
        return max(self.hold_s, WINDOW_S) + self.interval_s


GITHUB_COM = PacingPolicy()  # what github.com allows one credential; stricter is allowed, looser is not


def looser_than(policy: PacingPolicy, limit: PacingPolicy) -> bool:
    """Whether `policy` lets writes go faster than `limit` in any of its three bounds."""
    return (
        policy.interval_s < limit.interval_s
        or policy.per_minute > limit.per_minute
        or policy.per_hour > limit.per_hour
    )


@dataclass(slots=True)
class Pace:
    """The shared record of one credential: when the next write may start, who holds it, the last hour's
    claims (oldest first), and until when GitHub's last rate limit lasts."""

    next_at: float = 0.0
    holder: str = ""
    claims: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


def claim(pace: Pace, token: str, now: float, policy: PacingPolicy) -> float:
    """Claim the next write for `token`: 0 when it is ours (held until `release`), else seconds to wait."""
    pace.claims = [at for at in pace.claims if at > now - HOUR_S]
    if now < pace.next_at:
        return pace.next_at - now
    minute = [at for at in pace.claims if at > now - WINDOW_S]
    if len(minute) >= policy.per_minute:
        return minute[len(minute) - policy.per_minute] + WINDOW_S - now
    if len(pace.claims) >= policy.per_hour:
        return pace.claims[len(pace.claims) - policy.per_hour] + HOUR_S - now
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


def block(pace: Pace, seconds: float, now: float) -> None:
    """GitHub answered a rate limit: hold every request for `seconds` (a shorter one never shortens it)."""
    pace.blocked_until = max(pace.blocked_until, now + seconds)


def blocked(pace: Pace, now: float) -> float:
    """Seconds the last rate limit still lasts (0 when none)."""
    return max(pace.blocked_until - now, 0.0)


class WritePacer(Protocol):
    """The pace of one credential's writes, and its rate limits, shared by every replica using it."""

    async def claim(self, token: str) -> float:
        """0 when the next write is `token`'s, else seconds to wait before asking again."""
        ...

    async def release(self, token: str) -> None:
        """The write of `token` was answered (or failed): start the interval."""
        ...

    async def block(self, seconds: float) -> None:
        """GitHub answered a rate limit lasting `seconds`: hold every replica's requests that long."""
        ...

    async def blocked(self) -> float:
        """Seconds a rate limit still holds the credential's requests (0 when none)."""
        ...
