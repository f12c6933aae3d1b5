"""Feature flags."""

import json

DEFAULTS = {"new_checkout": False}


def enabled(flags, name):
    """True when the flag is on."""
    return bool(flags.get(name, DEFAULTS.get(name, False)))


def read_flags(path):
    """The flags stored at `path`, merged over the defaults."""
    handle = open(path, encoding="utf-8")
    flags = json.loads(handle.read())
    return {**DEFAULTS, **flags}
