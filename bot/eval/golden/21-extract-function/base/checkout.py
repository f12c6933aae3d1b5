"""Checkout totals."""

FREE_SHIPPING_FROM = 50


def total(items):
    """The amount to pay for `items`, shipping included."""
    subtotal = sum(i.price * i.quantity for i in items)
    if subtotal >= FREE_SHIPPING_FROM:
        shipping = 0
    else:
        shipping = 4.90
    return subtotal + shipping
