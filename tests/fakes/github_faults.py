"""Faults of the fake GitHub as a whole: an outage (every request answered 503, as during a GitHub
incident) and held writes (a request that arrives, waits until the test releases it, then takes effect:
a slow network or a slow GitHub, so the write lands late)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

OUTAGE_BODY = {"message": "Service Unavailable", "documentation_url": "https://www.githubstatus.com"}


@dataclass
class Hold:
    """One held request: `arrived` is set when it comes in; it takes effect after `release()`."""

    method: str
    pattern: re.Pattern[str]
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class Faults:
    """What the server consults before answering; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: list[Hold] = []
        self.unavailable = False

    def hold_next(self, method: str, path_regex: str) -> Hold:
        hold = Hold(method.upper(), re.compile(path_regex))
        with self._lock:
            self._holds.append(hold)
        return hold

    def take_hold(self, method: str, path: str) -> Hold | None:
        """The first waiting hold matching this request (used up by it), or None."""
        with self._lock:
            for hold in self._holds:
                if hold.method == method and hold.pattern.search(path):
                    self._holds.remove(hold)
                    return hold
        return None
