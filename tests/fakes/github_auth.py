"""Who is calling the fake GitHub: personal tokens, App JWTs, installation tokens, and per-token rate limits.

As strict as GitHub: no or unknown credentials → 401 "Bad credentials"; a JWT must be RS256, signed with
the App's key, issued by its id and expire within ten minutes; an installation token stops working at its
`expires_at`.
"""

from __future__ import annotations

import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github_state import ApiError

Kind = Literal["personal", "installation", "app"]
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
ACTIONS_LOGIN = "github-actions[bot]"


@dataclass
class Token:
    value: str
    login: str
    kind: Kind
    installation_id: int | None = None
    expires_at: float | None = None
    limit: int = 5000
    read_only: bool = False  # a fork's `GITHUB_TOKEN`: GitHub answers every write with 403
    used: int = 0
    reset_at: float = field(default_factory=lambda: time.time() + 3600)


@dataclass(frozen=True)
class Caller:
    """The identity a request authenticated as."""

    login: str
    kind: Kind
    token: Token


class Auth:
    """Tokens and the App's key pair; thread-safe."""

    def __init__(self, app_id: int, app_slug: str) -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.lock = threading.Lock()
        self.tokens: dict[str, Token] = {}
        self.installation_token_ttl_s = 3600.0
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self._public_key = key.public_key()
        self._app_token = Token("", f"{app_slug}[bot]", "app", limit=5000)

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    def add_token(self, value: str, login: str, *, limit: int = 5000) -> Token:
        with self.lock:
            token = Token(value, login, "personal", limit=limit)
            self.tokens[value] = token
            return token

    def add_actions_token(self, value: str, *, read_only: bool = False) -> Token:
        """A workflow run's `GITHUB_TOKEN`: the `github-actions` App's installation token."""
        with self.lock:
            token = Token(value, ACTIONS_LOGIN, "installation", read_only=read_only, limit=1000)
            self.tokens[value] = token
            return token

    def issue_installation_token(self, installation_id: int) -> Token:
        """A fresh `ghs_` token for the installation, valid for `installation_token_ttl_s`."""
        with self.lock:
            value = "ghs_" + secrets.token_hex(18)
            expires = time.time() + self.installation_token_ttl_s
            token = Token(value, self.bot_login, "installation", installation_id, expires_at=expires)
            self.tokens[value] = token
            return token

    def authenticate(self, header: str | None, *, wants_app: bool) -> Caller:
        """The caller behind an Authorization header; raises 401 like GitHub when it is not valid."""
        if not header or " " not in header:
            if wants_app:
                raise ApiError(401, "A JSON web token could not be decoded")
            raise ApiError(401, "Requires authentication")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential.count(".") == 2:
            return Caller(self.bot_login, "app", self._app_token_checked(credential))
        if scheme.lower() not in ("token", "bearer"):
            raise ApiError(401, "Bad credentials")
        with self.lock:
            token = self.tokens.get(credential)
        if token is None or (token.expires_at is not None and token.expires_at <= time.time()):
            raise ApiError(401, "Bad credentials")
        if wants_app:
            raise ApiError(401, "A JSON web token could not be decoded")
        return Caller(token.login, token.kind, token)

    def _app_token_checked(self, credential: str) -> Token:
        try:
            claims: dict[str, Any] = jwt.decode(
                credential,
                self._public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"], "verify_iat": False},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires",
            ) from None
        except jwt.PyJWTError:
            raise ApiError(401, "A JSON web token could not be decoded") from None
        if str(claims["iss"]) != str(self.app_id):
            raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
        if int(claims["iat"]) > time.time() + 60:
            raise ApiError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
                "was issued",
            )
        if int(claims["exp"]) > time.time() + 600 + 30:  # GitHub allows for a little clock drift
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        return self._app_token

    def check(self, token: Token) -> None:
        """403 with GitHub's primary-limit message once the token's budget for this hour is spent."""
        with self.lock:
            if time.time() >= token.reset_at:
                token.used, token.reset_at = 0, time.time() + 3600
            if token.used < token.limit:
                return
            headers = rate_headers(token)
        message = f"API rate limit exceeded for user ID {zlib.crc32(token.login.encode()) % 10**7}."
        raise ApiError(403, message, headers=headers)

    def charge(self, token: Token, *, free: bool) -> dict[str, str]:
        """Count one request against the token (unless `free`); the rate-limit headers to send."""
        with self.lock:
            if not free:
                token.used = min(token.used + 1, token.limit)
            return rate_headers(token)

    def set_remaining(self, value: str | None, remaining: int, reset_in_s: float = 3600.0) -> None:
        with self.lock:
            token = self._app_token if value is None else self.tokens[value]
            token.used = max(token.limit - remaining, 0)
            token.reset_at = time.time() + reset_in_s


def rate_headers(token: Token) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(token.limit),
        "X-RateLimit-Remaining": str(max(token.limit - token.used, 0)),
        "X-RateLimit-Reset": str(int(token.reset_at)),
        "X-RateLimit-Used": str(token.used),
        "X-RateLimit-Resource": "core",
    }
