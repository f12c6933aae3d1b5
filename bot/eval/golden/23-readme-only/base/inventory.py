"""Stock levels."""


def in_stock(levels, sku):
    """True when at least one item of `sku` is left."""
    return levels.get(sku, 0) > 0
