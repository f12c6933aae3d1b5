"""`quorum doctor`'s rows on what the merge gate reads: branch protection and the activity log.

Without the right to read branch protection (an App without "Administration: read", a token of a user who
is not an admin of the repository) a branch's protected checks are unknown, and Quorum then requires every
check on a head to pass: safe, but stricter than the repository's own rules. Without the repository
activity log, no `/quorum merge` can be ordered after the head's push, so none approves anything: only
approving reviews do. Either way the operator should know.
"""

from __future__ import annotations

from bot import errors
from bot.bootstrap import doctor as doctor_root
from bot.entrypoints.doctor.checks import Check
from config.settings import Settings

SAMPLE = 5  # repositories looked at: enough to tell whether the credentials may, without using the quota
NO_CREDENTIALS = "no credentials (see github credentials)"


async def protection(settings: Settings, timeout_s: float) -> Check:
    """ok when the default branches' protection is readable, warn (optional) naming the repositories where
    it is not."""
    try:
        async with doctor_root.github(settings, timeout_s) as client:
            if client is None:
                return Check("branch protection", "skip", NO_CREDENTIALS, required=False)
            repos = (await client.repositories())[:SAMPLE]
            hidden = [
                r
                for r in repos
                if not (await client.required_checks(r, await client.default_branch(r))).complete
            ]
    except errors.GitHubError as exc:
        return Check("branch protection", "warn", f"could not look: {exc.message}", required=False)
    if not repos:
        return Check("branch protection", "skip", "no repositories to look at", required=False)
    if not hidden:
        return Check(
            "branch protection",
            "ok",
            f"required checks readable on {len(repos)} repositories",
            required=False,
        )
    hint = (
        "grant the App the Administration: read permission"
        if settings.github.app_id is not None
        else "use a token of a repository admin, or a GitHub App with Administration: read"
    )
    detail = (
        f"may not read the branch protection of {', '.join(hidden)}: its required checks are unknown, so "
        "Quorum requires every check on a head to pass"
    )
    return Check("branch protection", "warn", detail, hint, required=False)


async def activity(settings: Settings, timeout_s: float) -> Check:
    """ok when the activity log of the first repository's default branch can be read, else warn."""
    try:
        async with doctor_root.github(settings, timeout_s) as client:
            if client is None:
                return Check("activity log", "skip", NO_CREDENTIALS, required=False)
            repos = (await client.repositories())[:1]
            pushes = [await client.head_pushes(r, await client.default_branch(r)) for r in repos]
    except errors.GitHubError as exc:
        return Check("activity log", "warn", f"could not look: {exc.message}", required=False)
    if not repos:
        return Check("activity log", "skip", "no repositories to look at", required=False)
    if pushes[0] is not None:
        return Check("activity log", "ok", f"branch updates of {repos[0]} readable", required=False)
    detail = (
        f"may not read the activity log of {repos[0]}: `/quorum merge` approves nothing, reviews still do"
    )
    return Check(
        "activity log", "warn", detail, "grant Contents: read (GET /repos/{o}/{r}/activity)", required=False
    )
