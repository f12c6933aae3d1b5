"""Maintenance mode."""

ENABLED = False


def banner():
    """The banner shown during maintenance, or None."""
    return "We are down for maintenance." if ENABLED else None
