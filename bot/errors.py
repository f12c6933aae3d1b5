"""The one exception tree of Quorum. Expected outcomes are values; these are failures.

QuorumError                      retryable: may the same operation succeed if tried again?
├── ConfigError                  bad settings; never retryable
├── InputError                   bad input from a user, a webhook or a repository
│   └── WorkspaceError           git or worktree trouble, an unsafe path
├── CoordinationUnavailable      the shared store (Redis) failed; guarded work fails closed
├── ProvisionError               setting up Elasticsearch or Kibana failed (`quorum provision`)
├── GuardrailError               a guardrail stopped the operation
│   ├── BudgetExceeded           no reservation fits under a cap, or the cost is unbounded
│   ├── UsageOverReservation     a provider billed more than the call's reservation allowed
│   ├── DeadlineExceeded         a call, round or job ran past its deadline
│   ├── IllegalTransition        a state change the lifecycle does not allow
│   ├── LeaseLost                a PR's lease could not be kept; its job was cancelled
│   └── PublishRefused           the publish gate said no (lease gone, head moved): nothing posted
├── ProviderError                an LLM provider failed (status, retry_after)
│   ├── ProviderUnavailable      it cannot be reached at all; says what to start or set
│   └── BreakerOpen              its circuit breaker is open: no call was made
└── GitHubError                  the code host refused or failed (status, retry_after)
    └── RateLimited              a primary or secondary rate limit; retry after `retry_after`
"""

from __future__ import annotations


class QuorumError(Exception):
    """Root of every error Quorum raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class ConfigError(QuorumError):
    """The configuration is invalid; `problems` names every bad field (never a secret's value)."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message, retryable=False)
        self.problems = problems


class InputError(QuorumError):
    """Input Quorum refuses to work on (a bad ref, a malformed payload, a broken repository)."""


class WorkspaceError(InputError):
    """A git operation failed, a checkout is too large, or a path would leave the worktree."""


class CoordinationUnavailable(QuorumError):
    """The coordination store cannot be reached or failed: every guarded operation fails closed.

    Retryable by default (connection lost, timeout, a replica or a loading server); a script error or a
    corrupt record is not.
    """

    retryable = True


class ProvisionError(QuorumError):
    """A step of provisioning Elasticsearch or Kibana failed; the message names the step and what to check."""


class GuardrailError(QuorumError):
    """A guardrail refused or stopped the operation."""

    guardrail: str = "guardrail"


class BudgetExceeded(GuardrailError):
    """A reservation does not fit under a cap, or the call's cost cannot be bounded."""

    guardrail = "budget"

    def __init__(self, message: str, *, cap: str, limit_micro: int = 0, needed_micro: int = 0) -> None:
        super().__init__(message, retryable=False)
        self.cap = cap
        self.limit_micro = limit_micro
        self.needed_micro = needed_micro


class UsageOverReservation(GuardrailError):
    """A provider reported more usage than the call's reservation bounded (output past `max_tokens`, input
    past the counted bound, or a cost above the estimate). The billed cost was settled as reported; the
    model's breaker is open and the review stops."""

    guardrail = "budget"

    def __init__(
        self, message: str, *, provider: str, model: str, call_id: str, reserved_micro: int, billed_micro: int
    ) -> None:
        super().__init__(message, retryable=False)
        self.provider = provider
        self.model = model
        self.call_id = call_id
        self.reserved_micro = reserved_micro
        self.billed_micro = billed_micro


class DeadlineExceeded(GuardrailError):
    """A call, round or job passed its deadline and was cancelled."""

    guardrail = "deadline"

    def __init__(self, message: str, *, scope: str, seconds: float) -> None:
        super().__init__(message, retryable=False)
        self.scope = scope
        self.seconds = seconds


class IllegalTransition(GuardrailError):
    """The lifecycle refused a state change; it is escalated and never reaches GitHub."""

    guardrail = "state_machine"

    def __init__(self, message: str, *, state: str, trigger: str) -> None:
        super().__init__(message, retryable=False)
        self.state = state
        self.trigger = trigger


class LeaseLost(GuardrailError):
    """The lease could not be kept; the job was cancelled and must cause no further side effect."""

    guardrail = "lease"

    def __init__(self, message: str, *, job_id: str, reason: str) -> None:
        super().__init__(message, retryable=False)
        self.job_id = job_id
        self.reason = reason


class PublishRefused(GuardrailError):
    """The publish gate said no: the lease is gone or the head moved (`reason`, a `lease.GateRefusal`
    value). Nothing was posted; the job handler turns it into a finished job or a lost lease."""

    guardrail = "publish_gate"

    def __init__(self, reason: str) -> None:
        super().__init__(reason or "refused", retryable=False)
        self.reason = reason


class ProviderError(QuorumError):
    """An LLM provider answered with an error or could not be read."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
        billed: bool = False,
        sent: bool = True,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after
        # True when the provider may have charged for the attempt (the answer was lost mid-way).
        self.billed = billed
        # False when the request never left this process (a pause held it back): no news of the provider.
        self.sent = sent


class ProviderUnavailable(ProviderError):
    """The provider cannot be reached; the message says what to start or which setting to change."""


class GitHubError(QuorumError):
    """The code host answered with an error or could not be reached. Reads may be retried when
    `retryable`; writes are commands and are never retried blindly."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.status_code = status_code
        self.retry_after = retry_after


class RateLimited(GitHubError):
    """A primary or secondary rate limit: nothing may be sent before `retry_after` seconds."""

    def __init__(self, message: str, *, status_code: int | None, retry_after: float) -> None:
        super().__init__(message, status_code=status_code, retry_after=retry_after, retryable=True)


class BreakerOpen(ProviderError):
    """The model's circuit breaker is open (or another caller holds its half-open probe): not called."""

    def __init__(self, message: str, *, provider: str, retry_at: float) -> None:
        super().__init__(message, provider=provider, retryable=False)
        self.retry_at = retry_at
