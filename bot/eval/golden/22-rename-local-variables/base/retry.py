"""Retry a flaky call with exponential backoff."""

import time


def retry(fn, n=3, d=0.5):
    """Call `fn` up to `n` times, doubling the delay `d` after each failure."""
    for i in range(n):
        try:
            return fn()
        except ConnectionError:
            if i == n - 1:
                raise
            time.sleep(d * 2**i)
