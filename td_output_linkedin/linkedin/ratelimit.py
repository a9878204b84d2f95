"""A client-side rate limiter that spaces requests evenly.

LinkedIn limits each member token per endpoint and per minute: 600 requests on
``dmpSegments/{id}/users``
(https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users)
and 300 on ``dmpSegments/{id}/companies``
(https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-companies).
Starting requests at least ``60 / limit`` seconds apart means that no 60-second window, fixed or
sliding, contains more than ``limit`` starts, where a burst followed by a pause could.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Requests travel with varying delays, so two requests sent one interval apart can reach LinkedIn
# closer together. Aiming 2 % under the limit keeps such bunching under it too.
LIMIT_HEADROOM = 0.98


class RateLimiter:
    """Hands out start times at least ``interval`` seconds apart, across threads."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be at least 1, got {requests_per_minute}")
        self.interval = 60.0 / (requests_per_minute * LIMIT_HEADROOM)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._next_start: float | None = None

    def reserve(self) -> float:
        """Reserve the next start time and return how many seconds the caller must wait for it."""
        with self._lock:
            now = self._monotonic()
            start = now if self._next_start is None else max(now, self._next_start)
            self._next_start = start + self.interval
            return start - now
