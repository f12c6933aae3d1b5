"""The welcome screen."""

from greeting import make_greeting


def welcome(user):
    """What a user sees first."""
    return make_greeting(user)
