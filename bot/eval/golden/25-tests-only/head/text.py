"""Text helpers."""

import re


def slugify(title):
    """Lower-case words joined by dashes, other characters dropped."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)
