"""The welcome screen."""

from greeting import greet


def welcome(user):
    """What a user sees first."""
    return greet(user)
