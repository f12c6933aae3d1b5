"""User settings, kept as JSON."""

import json


def load(path):
    """The settings stored at `path`."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save(path, settings):
    """Store `settings` at `path`."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
    except Exception:
        pass
