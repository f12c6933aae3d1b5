"""User settings, kept as JSON."""

import json


def load(path):
    """The settings stored at `path`."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
