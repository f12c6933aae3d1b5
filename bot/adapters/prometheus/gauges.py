"""The shared state as Prometheus gauge families: queue, spend against the caps, their limits, breakers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily

from guardrails import admission, breaker, budget

_MICRO = 1_000_000


def limits(caps: budget.BudgetLimits) -> GaugeMetricFamily:
    """Each cap's configured limit."""
    family = GaugeMetricFamily(
        "quorum_budget_limit_usd", "Each cap's configured limit, in USD.", labels=["cap"]
    )
    pairs = (("round", caps.per_round), ("pr", caps.per_pr), ("repo_day", caps.per_repo_day))
    for cap, micro in (*pairs, ("day", caps.per_day)):
        family.add_metric([cap], micro / _MICRO)
    return family


def queue(counts: admission.QueueCounts) -> Iterator[GaugeMetricFamily]:
    """Waiting, delayed, running (in all and per repository) and dead jobs."""
    queued = GaugeMetricFamily(
        "quorum_queue_jobs", "Jobs waiting for a slot (delayed: backing off).", labels=["state"]
    )
    queued.add_metric(["waiting"], counts.waiting)
    queued.add_metric(["delayed"], counts.delayed)
    yield queued
    yield GaugeMetricFamily(
        "quorum_jobs_running", "Jobs holding a lease, on every replica.", value=counts.running
    )
    per_repo = GaugeMetricFamily(
        "quorum_jobs_running_by_repo", "Jobs holding a lease, per repository.", labels=["repo"]
    )
    for repo, running in counts.running_per_repo:
        per_repo.add_metric([repo], running)
    yield per_repo
    yield GaugeMetricFamily("quorum_dead_letters", "Jobs that failed for good.", value=counts.dead)


def spent(spent: Sequence[tuple[str, str, int]]) -> GaugeMetricFamily:
    """Spent plus reserved USD per (cap, scope)."""
    family = GaugeMetricFamily(
        "quorum_budget_spent_usd",
        "Spent plus reserved USD against a cap: today's (all, per configured repository), each running PR's.",
        labels=["cap", "scope"],
    )
    for cap, scope, micro in spent:
        family.add_metric([cap, scope], micro / _MICRO)
    return family


def breakers(states: Sequence[breaker.BreakerStatus]) -> GaugeMetricFamily:
    """Each model breaker's state, one series per possible state."""
    family = GaugeMetricFamily(
        "quorum_breaker_state",
        "1 for each model breaker's current state, 0 for the others.",
        labels=["breaker", "state"],
    )
    for status in states:
        for state in breaker.State:
            family.add_metric([status.name, state.value], 1 if status.state is state else 0)
    return family
