"""Retry a flaky call with exponential backoff."""

import time


def retry(fn, attempts=3, delay_s=0.5):
    """Call `fn` up to `attempts` times, doubling the delay after each failure."""
    for attempt in range(attempts):
        try:
            return fn()
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay_s * 2**attempt)
