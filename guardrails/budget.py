"""Budget guardrail: reserve an upper bound against every cap at once, call, settle to actual usage.

All amounts are integer micro-USD. The policy here is pure; a `BudgetLedger` (in memory, or on Redis)
holds the counters and makes reserve atomic across all caps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.errors import BudgetExceeded
from guardrails.pricing import Price

# Per-message framing tokens added by chat templates; generous on purpose.
_MESSAGE_OVERHEAD_TOKENS = 16
_REQUEST_OVERHEAD_TOKENS = 32
# A request offering tools also pays for the provider's hidden tool-use system prompt: Anthropic documents
# 313-530 tokens depending on model and tool_choice (docs.anthropic.com, tool use pricing).
TOOL_PROMPT_TOKENS = 600


@dataclass(frozen=True, slots=True)
class Cap:
    """One limit a reservation must fit under. `key` names the ledger counter, day included."""

    name: str  # "round" | "pr" | "repo_day" | "day"
    key: str
    limit_micro: int


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """The configured caps, in micro-USD."""

    per_round: int
    per_pr: int
    per_repo_day: int
    per_day: int


@dataclass(frozen=True, slots=True)
class BudgetScope:
    """Whose money a call spends: a repository, one PR's pipeline (job), one round of it on one head."""

    repo: str
    job: str
    round_index: int
    head: str = ""


@dataclass(frozen=True, slots=True)
class Reservation:
    """An upper-bound charge held against `caps` until settled; `ttl_s` bounds a crashed holder."""

    id: str
    amount_micro: int
    caps: tuple[Cap, ...]
    ttl_s: float


# The caps whose utilisation is announced at thresholds (a round is too short-lived to be worth it).
ALERT_CAPS = frozenset({"pr", "repo_day", "day"})
DEFAULT_ALERT_PERCENTS = (50, 80, 100)


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """A cap's spend (with what is reserved) reached `percent` of its limit; said once per period."""

    cap: str
    key: str
    percent: int
    used_micro: int
    limit_micro: int

    def text(self) -> str:
        return (
            f"{self.cap} cap {self.key} reached {self.percent}%: {self.used_micro / 1e6:.4f} of "
            f"{self.limit_micro / 1e6:.2f} USD"
        )


def crossed(used: int, limit: int, percents: tuple[int, ...]) -> list[int]:
    """The thresholds `used` has reached (integer arithmetic, as the ledgers compare)."""
    return [p for p in percents if limit > 0 and used * 100 >= p * limit]


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    """Whether a reservation fits; when not, the first cap that refused it and its state."""

    allowed: bool
    cap: str | None = None
    used_micro: int = 0
    limit_micro: int = 0


class BudgetLedger(Protocol):
    """Counters of spent + reserved micro-USD per cap key."""

    async def reserve(self, reservation: Reservation) -> BudgetDecision:
        """Add the amount to every cap's counter if all fit, else to none. Idempotent by id."""
        ...

    async def settle(self, reservation_id: str, actual_micro: int) -> bool:
        """Replace the reserved amount by the actual cost; False if unknown or already settled."""
        ...

    async def used(self, key: str) -> int:
        """Spent plus still-reserved micro-USD on one counter."""
        ...

    async def counters(self, prefix: str, limit: int = 1000) -> dict[str, int]:
        """Every counter whose key starts with `prefix` (`repo_day:`, `pr:`), at most `limit` of them."""
        ...


class BudgetReaper(BudgetLedger, Protocol):
    """A ledger whose reservations left by a crashed caller can be charged in full."""

    async def reap_expired(self) -> int:
        """Charge every reservation past its `ttl_s` at its full estimate; return how many."""
        ...


def pipeline_key(job: str) -> str:
    """The counter of one PR's review pipeline."""
    return f"pr:{job}"


def round_key(scope: BudgetScope) -> str:
    """The counter of one round on one head: round 1 of a new push is a new round, not the old one's."""
    on = f"@{scope.head[:16]}" if scope.head else ""
    return f"round:{scope.job}{on}:{scope.round_index}"


def caps_for(scope: BudgetScope, limits: BudgetLimits, day: str) -> tuple[Cap, ...]:
    """The four caps a call in `scope` on UTC `day` is charged against."""
    return (
        Cap("round", round_key(scope), limits.per_round),
        Cap("pr", pipeline_key(scope.job), limits.per_pr),
        Cap("repo_day", f"repo_day:{scope.repo}:{day}", limits.per_repo_day),
        Cap("day", f"day:{day}", limits.per_day),
    )


def input_tokens_upper_bound(texts: list[str], *, tools: bool = False) -> int:
    """An upper bound on input tokens: byte-level tokenizers never emit more tokens than bytes."""
    body = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    hidden = TOOL_PROMPT_TOKENS if tools else 0
    return body + _MESSAGE_OVERHEAD_TOKENS * len(texts) + _REQUEST_OVERHEAD_TOKENS + hidden


@dataclass(frozen=True, slots=True)
class Bound:
    """What a reservation assumed about one call: at most these tokens, at most this cost."""

    input_tokens: int
    max_tokens: int
    estimate_micro: int


def over_reservation(bound: Bound, input_tokens: int, output_tokens: int, billed_micro: int) -> str | None:
    """Why the reported usage broke the reservation's bound, or None when it stayed inside it."""
    problems = []
    if output_tokens > bound.max_tokens:
        problems.append(f"output {output_tokens} tokens > max_tokens {bound.max_tokens}")
    if input_tokens > bound.input_tokens:
        problems.append(f"input {input_tokens} tokens > counted bound {bound.input_tokens}")
    if billed_micro > bound.estimate_micro:
        problems.append(f"billed {billed_micro} > reserved {bound.estimate_micro} micro-USD")
    return "; ".join(problems) or None


def upper_bound_micro(input_tokens: int, max_tokens: int | None, price: Price | None, model: str) -> int:
    """The most a call can cost; raises `BudgetExceeded` when it cannot be bounded."""
    if price is None:
        raise BudgetExceeded(
            f"no price is known for model {model!r}, so its cost cannot be bounded; set "
            "QUORUM_LLM__PRICE_INPUT_PER_MTOK and QUORUM_LLM__PRICE_OUTPUT_PER_MTOK",
            cap="unbounded",
        )
    if max_tokens is None or max_tokens <= 0:
        raise BudgetExceeded(f"a call to {model!r} without max_tokens has no cost bound", cap="unbounded")
    return price.cost_micro(input_tokens, max_tokens)


def refusal(decision: BudgetDecision, needed_micro: int) -> BudgetExceeded:
    """The error that terminates an operation whose reservation was refused."""
    return BudgetExceeded(
        f"budget cap {decision.cap!r} would be exceeded: {decision.used_micro} used + {needed_micro} "
        f"needed > {decision.limit_micro} micro-USD",
        cap=decision.cap or "unknown",
        limit_micro=decision.limit_micro,
        needed_micro=needed_micro,
    )


def check(used: dict[str, int], reservation: Reservation) -> BudgetDecision:
    """Pure admission rule shared by ledgers: every cap must hold used + amount <= limit."""
    for cap in reservation.caps:
        now = used.get(cap.key, 0)
        if now + reservation.amount_micro > cap.limit_micro:
            return BudgetDecision(False, cap.name, now, cap.limit_micro)
    return BudgetDecision(True)
