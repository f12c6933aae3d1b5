"""Checkout totals."""

FREE_SHIPPING_FROM = 50


def shipping_fee(subtotal):
    """What shipping costs for an order of `subtotal`."""
    return 0 if subtotal >= FREE_SHIPPING_FROM else 4.90


def total(items):
    """The amount to pay for `items`, shipping included."""
    subtotal = sum(i.price * i.quantity for i in items)
    return subtotal + shipping_fee(subtotal)
