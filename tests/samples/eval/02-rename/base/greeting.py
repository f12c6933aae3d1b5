"""Greetings."""


def greet(name):
    """A friendly greeting."""
    return f"Hello, {name}!"
