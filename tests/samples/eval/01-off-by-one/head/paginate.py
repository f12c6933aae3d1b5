"""Pagination helpers."""


def page(items, number, size):
    """Items of page `number` (1-based), `size` per page."""
    start = (number - 1) * size
    return items[start : start + size]


def page_count(total, size):
    """How many pages `total` items fill."""
    return total // size + 1
