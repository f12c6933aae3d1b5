"""Pagination helpers."""


def page(items, number, size):
    """Items of page `number` (1-based), `size` per page."""
    start = (number - 1) * size
    return items[start : start + size]
