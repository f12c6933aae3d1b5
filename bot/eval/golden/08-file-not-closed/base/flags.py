"""Feature flags."""

DEFAULTS = {"new_checkout": False}


def enabled(flags, name):
    """True when the flag is on."""
    return bool(flags.get(name, DEFAULTS.get(name, False)))
