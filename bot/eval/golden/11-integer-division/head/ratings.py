"""Product ratings (1 to 5 stars)."""


def count(ratings):
    """How many ratings there are."""
    return len(ratings)


def average(ratings):
    """The mean rating, e.g. 4.5, or None without ratings."""
    if not ratings:
        return None
    return sum(ratings) // len(ratings)
