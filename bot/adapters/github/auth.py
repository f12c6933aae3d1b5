"""Credentials for the GitHub adapter: a personal token, or a GitHub App with per-installation tokens.

Every credential sends through one `github_http.Transport`, shared by all worker threads. From PyGithub,
Quorum uses only what it documents as public: `github.Auth.AppAuth`, which signs the App's JWT.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable

from github import Auth

from bot import errors
from bot.adapters.github import http as github_http

REFRESH_MARGIN_S = 60.0  # renew an installation token this long before GitHub's `expires_at`


class TokenCredentials:
    """A personal access token: one identity for every repository."""

    is_app = False

    def __init__(self, base_url: str, token: str, *, timeout_s: float) -> None:
        self._transport = github_http.Transport(base_url, timeout_s=timeout_s)
        header = f"token {token}"
        self._session = github_http.Session(self._transport, lambda: header)

    def session(self, repo: str | None) -> github_http.Session:
        """The session for `repo` (any repository, or user-level calls when None)."""
        return self._session

    def close(self) -> None:
        self._transport.close()


class AppCredentials:
    """A GitHub App: a JWT for `/app` calls, and per repository the token of the installation holding it.

    Tokens live an hour; one per installation is shared by all threads and renewed `refresh_margin_s`
    before it expires (checked before each request, with the injectable clock `now`).
    """

    is_app = True

    def __init__(
        self,
        base_url: str,
        app_id: int,
        private_key_pem: str,
        *,
        timeout_s: float,
        refresh_margin_s: float = REFRESH_MARGIN_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self._now = now  # seconds since the epoch; injectable so expiry is tested without waiting
        self._margin = datetime.timedelta(seconds=refresh_margin_s)
        self._transport = github_http.Transport(base_url, timeout_s=timeout_s)
        jwt = Auth.AppAuth(app_id, private_key_pem)  # a fresh JWT, valid minutes, for each request
        self._app = github_http.Session(self._transport, lambda: f"Bearer {jwt.token}")
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, tuple[str, datetime.datetime]] = {}
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()

    def session(self, repo: str | None) -> github_http.Session:
        """The session of `repo`'s installation, or the App's own (its JWT) when `repo` is None."""
        if repo is None:
            return self._app
        return self.installation_session(self.installation_of(repo))

    def installation_session(self, installation_id: int) -> github_http.Session:
        return github_http.Session(
            self._transport, lambda: f"token {self.installation_token(installation_id)}"
        )

    def remember(self, repo: str, installation_id: int) -> None:
        """Record which installation holds `repo` (learnt while listing repositories)."""
        with self._lock:
            self._installations[repo.lower()] = installation_id

    def installation_of(self, repo: str) -> int:
        """The installation holding `repo`, looked up once with the App's JWT."""
        with self._lock:
            known = self._installations.get(repo.lower())
        if known is not None:
            return known
        what = f"installation of {repo}"
        reply = github_http.send(self._app, "GET", f"/repos/{repo}/installation", what=what)
        if reply.status == 404:
            raise errors.GitHubError(f"the GitHub App is not installed on {repo}", status_code=404)
        installation_id = int(reply.check(what, write=False).data["id"])
        self.remember(repo, installation_id)
        return installation_id

    def installation_token(self, installation_id: int) -> str:
        """A valid token for the installation, minted with the JWT when absent or about to expire."""
        with self._token_lock:
            cached = self._tokens.get(installation_id)
            now = datetime.datetime.fromtimestamp(self._now(), datetime.UTC)
            if cached is not None and cached[1] - self._margin > now:
                return cached[0]
            what = "installation token"
            url = f"/app/installations/{installation_id}/access_tokens"
            # Minting a token changes nothing on GitHub, so a failed attempt may be repeated like a read.
            data = github_http.send(self._app, "POST", url, what=what).check(what, write=False).data
            expires = datetime.datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
            self._tokens[installation_id] = (str(data["token"]), expires)
            return str(data["token"])

    def close(self) -> None:
        self._transport.close()


Credentials = TokenCredentials | AppCredentials
