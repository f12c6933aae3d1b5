"""Password reset tokens."""

import secrets

TOKENS = {}


def issue(user_id):
    """A one-time reset token for the user."""
    token = secrets.token_urlsafe(32)
    TOKENS[token] = user_id
    return token
