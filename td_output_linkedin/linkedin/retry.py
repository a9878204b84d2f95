"""Retries of transient failures: which errors retry, how long to wait, and when to give up.

LinkedIn's guidance: back off and retry on 429 and 5xx, never on other 4xx
(https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling).
"""

from __future__ import annotations

import email.utils
import random
import threading
from collections.abc import Callable
from typing import Any

from td_output_linkedin.errors import DeliveryError

INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0


class TransientError(DeliveryError):
    """A failure that a later attempt may not meet: 429, 5xx, a timeout or a broken connection.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        super().__init__(message, transient=True, **kwargs)


class Stopped(Exception):
    """The job's stop event was set while a request waited for its turn or for a retry."""


class StopSignal:
    """Events that end a wait: ``wakes`` wakes a sleeping wait, and any of ``also`` ends it afterwards.

    An upload waits on its own halt event, which the generator sets when the job's stop event is
    set or a batch fails. Checking the job's stop event as well ends the wait even when a test's
    fake sleep returns at once.
    """

    def __init__(self, wakes: threading.Event, *also: threading.Event | None):
        self.wakes = wakes
        self.events = [wakes, *(event for event in also if event is not None)]

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)

    def wait(self, seconds: float) -> bool:
        return self.wakes.wait(seconds)


class RetryPolicy:
    """Counts one request's attempts and waits, and chooses the next wait or gives up.

    A wait is the server's ``Retry-After`` when present, else an exponential backoff with jitter:
    half of ``min(1 s * 2^(attempt-1), 60 s)`` plus a random part up to the other half, so that
    several workers that failed together do not retry together.
    """

    def __init__(self, *, max_attempts: int, max_total_wait: float, rng: random.Random):
        self.max_attempts = max_attempts
        self.max_total_wait = max_total_wait
        self.rng = rng

    def backoff(self, attempt: int) -> float:
        ceiling = min(INITIAL_BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def next_wait(self, error: TransientError, *, attempt: int, waited: float) -> float | None:
        """Return the seconds to wait before attempt ``attempt + 1``, or None when the bound is reached."""
        if attempt >= self.max_attempts:
            return None
        wait = error.retry_after if error.retry_after is not None else self.backoff(attempt)
        if waited + wait > self.max_total_wait:
            return None
        return wait

    def run(
        self,
        operation: Callable[[], Any],
        *,
        on_retry: Callable[[TransientError, int, float], None],
        pause: Callable[[float], None],
    ) -> Any:
        """Call ``operation`` until it returns, raises a permanent error, or the bounds run out.

        ``on_retry(error, attempt, wait)`` is called before each wait (for the log line). When the
        bounds run out, it raises a ``DeliveryError`` with the last error and the attempts counted
        in its message.
        """
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            try:
                return operation()
            except TransientError as error:
                wait = self.next_wait(error, attempt=attempt, waited=waited)
                if wait is None:
                    # A plain DeliveryError, not a TransientError, so that an outer retry loop (an API
                    # call that first needs a token) does not start the whole series again.
                    raise DeliveryError(
                        f"{error} (gave up after {attempt} attempts and {waited:.1f} s of waiting; "
                        f"api.max_attempts is {self.max_attempts}, api.max_retry_wait_seconds is "
                        f"{self.max_total_wait:g})",
                        transient=True,
                        status=error.status,
                        code=error.code,
                        service_error_code=error.service_error_code,
                    ) from None
                on_retry(error, attempt, wait)
                pause(wait)
                waited += wait


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Read ``Retry-After`` as seconds, from either delta-seconds or an HTTP date (RFC 9110, 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - now)
