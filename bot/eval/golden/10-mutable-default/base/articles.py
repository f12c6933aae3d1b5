"""Articles and their metadata."""


def slug(title):
    """The URL slug of a title."""
    return "-".join(title.lower().split())
