"""Credentials for the GitHub adapter: a personal token, or a GitHub App with per-installation tokens.

PyGithub's connection object keeps the pending request in attributes, so one requester must never serve
two threads at once: each credential keeps a pool and every call leases a requester of its own. Every
requester is built with `retry=None` (no blind retry of a write) and without PyGithub's sleeping throttle
(the adapter's rate gate spaces writes across all threads).
"""

from __future__ import annotations

import contextlib
import datetime
import math
import threading
import time
from collections.abc import Callable, Iterator

from github import Auth
from github.Requester import Requester

from bot import errors, version
from bot.adapters.github import http as github_http

USER_AGENT = version.USER_AGENT
REFRESH_MARGIN_S = 60.0  # renew an installation token this long before GitHub's `expires_at`


class RequesterPool:
    """Idle requesters for one credential; `lease()` hands one to the calling thread alone."""

    def __init__(self, make: Callable[[], Requester]) -> None:
        self._make = make
        self._idle: list[Requester] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def lease(self) -> Iterator[Requester]:
        with self._lock:
            requester = self._idle.pop() if self._idle else None
        if requester is None:
            requester = self._make()
        try:
            yield requester
        finally:
            with self._lock:
                self._idle.append(requester)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for requester in idle:
            requester.close()


def make_requester(base_url: str, auth: Auth.Auth, timeout_s: float) -> Requester:
    """A PyGithub requester that never retries and never sleeps on its own."""
    return Requester(
        auth,
        base_url.rstrip("/"),
        max(1, math.ceil(timeout_s)),
        USER_AGENT,
        100,
        True,
        None,
        None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,
    )


class TokenCredentials:
    """A personal access token: one identity for every repository."""

    is_app = False

    def __init__(self, base_url: str, token: str, *, timeout_s: float) -> None:
        auth = Auth.Token(token)
        self._pool = RequesterPool(lambda: make_requester(base_url, auth, timeout_s))

    def lease(self, repo: str | None) -> contextlib.AbstractContextManager[Requester]:
        """A requester for `repo` (any repository, or user-level calls when None)."""
        return self._pool.lease()

    def close(self) -> None:
        self._pool.close()


class _InstallationToken(Auth.Auth):
    """Authenticates as one installation with the shared, refreshed token of `AppCredentials`."""

    def __init__(self, credentials: AppCredentials, installation_id: int) -> None:
        self._credentials = credentials
        self._installation_id = installation_id

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._credentials.installation_token(self._installation_id)

    @property
    def _masked_token(self) -> str:
        return "token (removed)"


class AppCredentials:
    """A GitHub App: a JWT for `/app` calls, and per repository the token of the installation holding it.

    Tokens live an hour; one per installation is shared by all threads and renewed `refresh_margin_s`
    before it expires. PyGithub's `AppInstallationAuth` renews too, but it rebinds itself to whichever
    requester adopts it last, which a pool of requesters cannot share safely.
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
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._margin = datetime.timedelta(seconds=refresh_margin_s)
        jwt = Auth.AppAuth(app_id, private_key_pem)
        self._app_pool = RequesterPool(lambda: make_requester(base_url, jwt, timeout_s))
        self._pools: dict[int, RequesterPool] = {}
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, tuple[str, datetime.datetime]] = {}
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()

    def lease(self, repo: str | None) -> contextlib.AbstractContextManager[Requester]:
        """A requester for `repo`'s installation, or an App (JWT) requester when `repo` is None."""
        if repo is None:
            return self._app_pool.lease()
        return self.lease_installation(self.installation_of(repo))

    def lease_installation(self, installation_id: int) -> contextlib.AbstractContextManager[Requester]:
        with self._lock:
            pool = self._pools.get(installation_id)
            if pool is None:
                auth = _InstallationToken(self, installation_id)
                pool = RequesterPool(lambda: make_requester(self._base_url, auth, self._timeout_s))
                self._pools[installation_id] = pool
        return pool.lease()

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
        with self._app_pool.lease() as requester:
            reply = github_http.send(requester, "GET", f"/repos/{repo}/installation", what=what)
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
            with self._app_pool.lease() as requester:
                # Minting a token changes nothing on GitHub, so a failed attempt may be repeated like a read.
                data = github_http.send(requester, "POST", url, what=what).check(what, write=False).data
            expires = datetime.datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
            self._tokens[installation_id] = (str(data["token"]), expires)
            return str(data["token"])

    def close(self) -> None:
        self._app_pool.close()
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()


Credentials = TokenCredentials | AppCredentials
