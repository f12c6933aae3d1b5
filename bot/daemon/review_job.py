"""The review a job runs: the pipeline on the PR's clone under its repository's effective policy.

The daemon calls a `ReviewJob` for each head it decides on. Everything it passes the pipeline comes from
the code host and the default branch: the clone URL, the heads, the PR text (the author's words, fenced
and redacted by the pipeline) and the repository's review instructions (its maintainers' words).
"""

from __future__ import annotations

import dataclasses

from bot import forge, pipeline
from bot.domain import OpenFinding, ReviewOutcome
from config import repo_policy
from config.settings import Settings
from guardrails import consensus, workspace

# The part of the PR lease a review leaves for publishing its outcome.
PUBLISH_MARGIN_S = 120.0


class ReviewJob:
    """Reviews one PR head under the effective policy of its repository (a `ReviewFn`)."""

    def __init__(self, settings: Settings, deps: pipeline.ReviewDeps) -> None:
        self._deps = deps
        self._template = settings.github.clone_url_template
        self._max_rounds = settings.consensus.max_rounds
        self._full_coverage = settings.review.require_full_coverage
        timeouts = settings.timeouts
        self._job_s = min(timeouts.review_job_s, max(60.0, timeouts.pr_lock_ttl_s - PUBLISH_MARGIN_S))

    async def __call__(
        self,
        pr: forge.PullRequest,
        policy: repo_policy.EffectivePolicy,
        open_blockers: tuple[OpenFinding, ...] = (),
    ) -> ReviewOutcome:
        prep = self._deps.prep
        fp = dataclasses.replace(prep.filter_policy, exclude=(*prep.filter_policy.exclude, *policy.exclude))
        gate = consensus.ConsensusPolicy(policy.min_approvals, self._max_rounds, self._full_coverage)
        bound = dataclasses.replace(
            self._deps,
            prep=dataclasses.replace(prep, filter_policy=fp),
            policy=gate,
            job_timeout_s=self._job_s,
        )
        request = pipeline.ReviewRequest(
            workspace.RepoSource(self._template.format(repo=pr.repo), pr.repo),
            pr.head_sha,
            pr.base_sha,
            job_id=pr.job_id,
            pr_text=pr_text(pr),
            instructions=instructions(policy),
            open_blockers=open_blockers,
        )
        return await pipeline.decide(request, bound)


def pr_text(pr: forge.PullRequest) -> str:
    """The PR's title and description: the author's words, shown to the model as untrusted data."""
    return "\n\n".join(p for p in (pr.title, pr.body) if p)


def instructions(policy: repo_policy.EffectivePolicy) -> str:
    """The repository's review instructions: its maintainers' words, not the PR author's."""
    parts = []
    if policy.instructions:
        parts.append("Repository review instructions (from its default branch):\n" + policy.instructions)
    for glob, text in policy.path_instructions:
        parts.append(f"For files matching {glob}: {text}")
    return "\n\n".join(p for p in parts if p)
