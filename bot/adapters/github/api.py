"""The GitHub adapter: `PullRequestReader` and `PullRequestWriter` over GitHub's REST API.

Built from plain values (`from_token`, `from_app`); every blocking call runs in a worker thread through
`github_calls.Calls` (rate gate, bounded read retries, writes sent once). Only `bot.forge` values leave.
"""

from __future__ import annotations

import base64
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from bot import forge
from bot.adapters.github import access as github_access
from bot.adapters.github import auth as github_auth
from bot.adapters.github import calls as github_calls
from bot.adapters.github import convert as github_convert
from bot.adapters.github import http as github_http
from bot.adapters.github import rate as github_rate
from bot.adapters.github import write as github_write


class GitHubClient(github_write.PullRequestWrites):
    """Reads and writes one GitHub (or GitHub Enterprise: `https://HOST/api/v3`) for Quorum; the writes
    come from `github_write.PullRequestWrites`."""

    def __init__(
        self,
        credentials: github_auth.Credentials,
        *,
        check_name: str = "quorum",
        repositories: Sequence[str] = (),
        gate: github_rate.RateGate | None = None,
        read_attempts: int = 3,
        backoff_s: float = 0.5,
        identity: forge.Identity | None = None,
    ) -> None:
        gate = gate or github_rate.RateGate()
        calls = github_calls.Calls(credentials, gate, read_attempts=read_attempts, backoff_s=backoff_s)
        super().__init__(calls, credentials, check_name)
        self._repositories = list(repositories)
        # Known up front for a workflow's `GITHUB_TOKEN`, which may not ask `GET /user` who it is.
        self._identity: forge.Identity | None = identity
        self._listings: dict[str, tuple[str, tuple[forge.PullRequest, ...]]] = {}

    @classmethod
    def from_token(
        cls,
        base_url: str,
        token: str,
        *,
        timeout_s: float,
        check_name: str = "quorum",
        repositories: Sequence[str] = (),
        gate: github_rate.RateGate | None = None,
        read_attempts: int = 3,
        backoff_s: float = 0.5,
        identity: forge.Identity | None = None,
    ) -> GitHubClient:
        """A client acting as the token's user (or as `identity` when given: a workflow's token); it
        watches the configured `repositories`."""
        credentials = github_auth.TokenCredentials(base_url, token, timeout_s=timeout_s)
        return cls(
            credentials,
            check_name=check_name,
            repositories=repositories,
            gate=gate,
            read_attempts=read_attempts,
            backoff_s=backoff_s,
            identity=identity,
        )

    @classmethod
    def from_app(
        cls,
        base_url: str,
        app_id: int,
        private_key_pem: str,
        *,
        timeout_s: float,
        check_name: str = "quorum",
        gate: github_rate.RateGate | None = None,
        read_attempts: int = 3,
        backoff_s: float = 0.5,
        refresh_margin_s: float = github_auth.REFRESH_MARGIN_S,
        now: Callable[[], float] = time.time,
    ) -> GitHubClient:
        """A client acting as a GitHub App, with an installation token per repository's installation; it
        watches every repository of every installation."""
        credentials = github_auth.AppCredentials(
            base_url, app_id, private_key_pem, timeout_s=timeout_s, refresh_margin_s=refresh_margin_s, now=now
        )
        return cls(
            credentials, check_name=check_name, gate=gate, read_attempts=read_attempts, backoff_s=backoff_s
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._calls.close()

    # Identity and access

    async def identity(self) -> forge.Identity:
        """Who Quorum is: the App's bot login (`slug[bot]`) or the token's user and scopes."""
        if self._identity is None:
            self._identity = (await self.access_report()).identity
        return self._identity

    async def access_report(self, *, merge: bool = True) -> github_access.AccessReport:
        """Who Quorum is, what it may do, and what is missing (contents write is needed to `merge`)."""
        if self._credentials.is_app:
            app = (await self._calls.get(None, "/app", "GitHub App")).data
            identity = forge.Identity(login=f"{app['slug']}[bot]", is_app=True)
            permissions = {str(k): str(v) for k, v in (app.get("permissions") or {}).items()}
            events = tuple(str(e) for e in app.get("events") or ())
            missing = github_access.app_missing(permissions, events, merge=merge)
            return github_access.AccessReport(identity, permissions, events, missing=missing)
        reply = await self._calls.get(None, "/user", "authenticated user")
        header = reply.headers.get("x-oauth-scopes")
        scopes = None if header is None else tuple(s.strip() for s in header.split(",") if s.strip())
        identity = forge.Identity(login=str(reply.data["login"]), is_app=False, scopes=scopes or ())
        return github_access.AccessReport(
            identity,
            scopes=scopes or (),
            scopes_known=scopes is not None,
            missing=github_access.token_missing(scopes),
        )

    # PullRequestReader

    async def pull(self, repo: str, number: int) -> forge.PullRequest:
        return github_convert.pull(
            repo, (await self._calls.get(repo, f"/repos/{repo}/pulls/{number}", "pull")).data
        )

    async def open_pulls(self, repo: str) -> forge.OpenPulls:
        cached = self._listings.get(repo)
        headers = {"If-None-Match": cached[0]} if cached else {}
        what = f"open pulls of {repo}"

        def work(session: github_http.Session) -> tuple[str, list[Any]] | None:
            url = f"/repos/{repo}/pulls"
            params = {"state": "open", "per_page": 100}
            first = github_http.send(session, "GET", url, what=what, params=params, headers=headers)
            if first.status == 304:
                return None
            found = list(first.check(what, write=False).data or ())
            if (next_url := first.next_url()) is not None:
                for page in github_http.pages(session, next_url, what=what):
                    found.extend(page.data or ())
            return first.headers.get("etag", ""), found

        fetched = await self._calls.read(repo, what, work)
        if fetched is None and cached is not None:
            return forge.OpenPulls(repo, cached[1], changed=False)
        etag, items = fetched or ("", [])
        pulls = tuple(github_convert.pull(repo, item) for item in items)
        if etag:
            self._listings[repo] = (etag, pulls)
        return forge.OpenPulls(repo, pulls)

    async def repositories(self) -> list[str]:
        credentials = self._credentials
        if not isinstance(credentials, github_auth.AppCredentials):
            return list(self._repositories)

        def work(session: github_http.Session) -> list[str]:
            names: list[str] = []
            for installation in github_http.items(session, "/app/installations", what="installations"):
                inner = credentials.installation_session(int(installation["id"]))
                url, what = "/installation/repositories", "installation repositories"
                for item in github_http.items(inner, url, what=what, key="repositories"):
                    credentials.remember(str(item["full_name"]), int(installation["id"]))
                    names.append(str(item["full_name"]))
            return names

        return await self._calls.read(None, "repositories", work)

    async def reviews(self, repo: str, number: int) -> list[forge.PostedReview]:
        me = (await self.identity()).login
        items = await self._calls.list(repo, f"/repos/{repo}/pulls/{number}/reviews", "reviews")
        return [github_convert.review(item, me) for item in items]

    async def comment_bodies(self, repo: str, number: int, *, author: str) -> list[str]:
        """The bodies of `author`'s comments in the PR's conversation, oldest first."""
        items = await self._calls.list(repo, f"/repos/{repo}/issues/{number}/comments", "comments")
        return [
            str(item.get("body") or "")
            for item in items
            if str((item.get("user") or {}).get("login") or "").lower() == author.lower()
        ]

    async def changed_files(self, repo: str, number: int) -> list[forge.ChangedFile]:
        files = await self._calls.list(repo, f"/repos/{repo}/pulls/{number}/files", "changed files")
        return [github_convert.changed_file(f) for f in files]

    async def commit_checks(self, repo: str, sha: str) -> tuple[forge.CheckResult, ...]:
        runs = await self._calls.list(
            repo, f"/repos/{repo}/commits/{sha}/check-runs", "check runs", key="check_runs"
        )
        statuses = await self._calls.list(repo, f"/repos/{repo}/commits/{sha}/statuses", "statuses")
        me = (await self.identity()).login
        return github_convert.check_results(runs, statuses, own_name=self._check_name, own_login=me)

    async def required_checks(self, repo: str, branch: str) -> forge.RequiredChecks:
        quoted = urllib.parse.quote(branch, safe="")
        url = f"/repos/{repo}/branches/{quoted}/protection/required_status_checks"
        reply = await self._calls.get(repo, url, "required status checks", allow=(403, 404))
        protection = github_convert.protection_checks(reply.status, reply.data)
        # Rulesets need only read access; a repository's own and its organisation's come together.
        url = f"/repos/{repo}/rules/branches/{quoted}"
        rules = await self._calls.get(repo, url, "branch rules", params={"per_page": 100}, allow=(403, 404))
        names = protection.names + (github_convert.ruleset_checks(rules.data) if rules.status == 200 else ())
        complete = protection.complete and rules.status == 200
        return forge.RequiredChecks(tuple(dict.fromkeys(names)), complete)

    async def default_branch(self, repo: str) -> str:
        """The repository's default branch."""
        return str((await self._calls.get(repo, f"/repos/{repo}", "repository")).data["default_branch"])

    async def head_pushes(self, repo: str, branch: str) -> tuple[forge.HeadPush, ...] | None:
        params = {"ref": f"refs/heads/{branch}", "direction": "desc", "per_page": 10}
        url, what = f"/repos/{repo}/activity", "branch activity"
        reply = await self._calls.get(repo, url, what, params=params, allow=(403, 404, 422))
        return github_convert.head_pushes(reply.data) if reply.status == 200 else None

    async def permission(self, repo: str, user: str) -> forge.Permission:
        url = f"/repos/{repo}/collaborators/{urllib.parse.quote(user)}/permission"
        reply = await self._calls.get(repo, url, "permission", allow=(404,))
        return forge.Permission.NONE if reply.status == 404 else github_convert.permission(reply.data)

    async def contributors(self, repo: str, *, cap: int) -> int:
        def work(session: github_http.Session) -> int:
            count = 0
            # The generator fetches pages lazily: paging stops once the count passes the cap.
            for _ in github_http.items(session, f"/repos/{repo}/contributors", what="contributors"):
                count += 1
                if count > cap:
                    break
            return count

        return await self._calls.read(repo, "contributors", work)

    async def file_text(self, repo: str, path: str, ref: str) -> str | None:
        url = f"/repos/{repo}/contents/{urllib.parse.quote(path)}"
        reply = await self._calls.get(repo, url, "file", params={"ref": ref}, allow=(404,))
        data = reply.data
        if reply.status == 404 or not isinstance(data, dict) or data.get("type") != "file":
            return None
        if data.get("encoding") == "none":  # over 1 MB: the contents API leaves it out, the blob API does not
            data = (await self._calls.get(repo, f"/repos/{repo}/git/blobs/{data['sha']}", "blob")).data
        return base64.b64decode(str(data.get("content") or "")).decode("utf-8", errors="replace")
