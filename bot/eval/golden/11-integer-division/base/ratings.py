"""Product ratings (1 to 5 stars)."""


def count(ratings):
    """How many ratings there are."""
    return len(ratings)
