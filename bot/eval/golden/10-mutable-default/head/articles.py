"""Articles and their metadata."""


def slug(title):
    """The URL slug of a title."""
    return "-".join(title.lower().split())


def with_tag(tag, tags=[]):
    """The tag list with `tag` added."""
    tags.append(tag)
    return tags
