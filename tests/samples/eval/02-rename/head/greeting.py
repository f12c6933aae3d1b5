"""Greetings."""


def make_greeting(name):
    """A friendly greeting."""
    return f"Hello, {name}!"
