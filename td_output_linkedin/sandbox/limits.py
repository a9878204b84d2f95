"""Per-member rate limits and random fault injection."""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from typing import Callable

from td_output_linkedin.sandbox.options import FAULT_KINDS

WINDOW_SECONDS = 60.0


class RateLimiter:
    """Count requests per (member, endpoint) in a sliding 60-second window.

    LinkedIn counts per member and per minute. Whether its window slides or resets on the minute is
    not published, so the sandbox uses a sliding window because it is the stricter of the two.
    """

    def __init__(self, limits: dict[str, int], clock: Callable[[], float]):
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)

    def allow(self, member: str, endpoint: str) -> bool:
        """Record one request and return True, or return False when the member is over the limit."""
        limit = self._limits.get(endpoint)
        if limit is None:
            return True
        now = self._clock()
        with self._lock:
            calls = self._calls[(member, endpoint)]
            while calls and calls[0] <= now - WINDOW_SECONDS:
                calls.popleft()
            if len(calls) >= limit:
                return False
            calls.append(now)
            return True


class FaultInjector:
    """Draw at most one fault kind per request, reproducibly for a given seed."""

    def __init__(self, faults: dict[str, float], paths: tuple[str, ...], seed: int | None):
        self._table = [(kind, faults[kind]) for kind in FAULT_KINDS if faults.get(kind)]
        self._paths = paths
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self, path: str) -> str | None:
        """Return the fault kind for a request to ``path``, or None for a normal response."""
        if not self._table or (self._paths and not path.endswith(self._paths)):
            return None
        with self._lock:
            point = self._random.random()
        for kind, probability in self._table:
            if point < probability:
                return kind
            point -= probability
        return None
