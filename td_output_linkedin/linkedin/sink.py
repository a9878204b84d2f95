"""``LinkedInSink``: the pipeline's destination for LinkedIn, and the checks behind ``td-output-linkedin check``."""

from __future__ import annotations

import datetime
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from td_output_linkedin.config import Settings
from td_output_linkedin.errors import JobInterrupted, LinkedInError, SegmentError
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin.auth import TokenGrant
from td_output_linkedin.linkedin.client import (
    VERSION_RETIRED_AGE_MONTHS,
    VERSION_WARNING_AGE_MONTHS,
    ApiClient,
    version_age_months,
)
from td_output_linkedin.linkedin.segments import (
    SegmentSearch,
    destination_status,
    find_segments,
    missing_segment_message,
    pick_segment,
    resolve_segment,
)
from td_output_linkedin.linkedin.retry import Stopped
from td_output_linkedin.linkedin.upload import Uploader
from td_output_linkedin.sink import Batch, BatchResult, Segment


class CheckLine(NamedTuple):
    """One line of ``td-output-linkedin check``: what was checked, whether it passed, and the detail."""

    name: str
    ok: bool
    detail: str


class LinkedInSink:
    """Writes batches into a LinkedIn DMP segment; implements the ``Sink`` protocol.

    Injectable for tests and hosts:

    - ``clock``: the wall clock, for token expiry and ``Retry-After`` dates.
    - ``sleep``: replaces every wait (retries, rate limit, new-segment delay).
    - ``today``: dates the API version for the age warning.
    - ``random``: the source of retry jitter.
    - ``on_tokens``: receives each new token grant, so a stored connection can keep it.
    - ``monotonic``: times the rate limiter and the new-segment delay; a fake ``sleep`` advances it.
    """

    def __init__(
        self,
        settings: Settings,
        log: JobLog,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        today: Callable[[], datetime.date] = datetime.date.today,
        random: random.Random | None = None,
        on_tokens: Callable[[TokenGrant], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.log = log
        log.add_secret(settings.auth.client_secret)
        log.add_secret(settings.auth.refresh_token)
        log.add_secret(settings.auth.access_token)

        self.version_age_months = version_age_months(settings.api.version, today())
        if self.version_age_months > VERSION_WARNING_AGE_MONTHS:
            log.warning(
                "api.version %s is %d months old and LinkedIn retires each version about a year after its "
                "release; set api.version to a newer YYYYMM before calls fail with HTTP 426",
                settings.api.version,
                self.version_age_months,
            )

        self.client = ApiClient(settings, log, clock=clock, sleep=sleep, rng=random, on_tokens=on_tokens)
        self.uploader = Uploader(self.client, settings, log, monotonic=monotonic)
        self._monotonic = monotonic
        self._created_at: dict[str, float] = {}
        self._search = SegmentSearch()

    @property
    def requests_sent(self) -> int:
        """HTTP requests made so far, to every endpoint including the token endpoint."""
        return self.client.requests_sent

    def resolve_segment(self, *, create: bool, stop: threading.Event | None = None) -> Segment:
        self.client.job_stop = stop
        try:
            self._announce_token()
            segment = resolve_segment(self.client, self.settings, self.log, create=create, halt=stop)
        except Stopped:
            signal_name = getattr(stop, "signal_name", None) or "a stop request"
            raise JobInterrupted(signal_name, getattr(stop, "exit_code", 130)) from None
        if segment.created:
            self._created_at[segment.id] = self._monotonic()
        return segment

    def upload(
        self, segment: Segment, batches: Iterable[Batch], stop: threading.Event | None = None
    ) -> Iterator[BatchResult]:
        return self.uploader.upload(segment, batches, stop, new_segment_wait=self._new_segment_wait(segment))

    def check(self, *, create: bool) -> list[CheckLine]:
        """Obtain a token, query the ad account's segments and find the segment; upload nothing.

        Checks after a failed one are listed as not run, so the output always has the same lines.
        A failed version check does not stop the others, because LinkedIn may still serve it.
        """
        lines = [self._version_line()]
        checks: list[tuple[str, Callable[[], str]]] = [
            ("access token", self._check_token),
            ("ad account", self._check_account),
            ("segment", lambda: self._check_segment(create)),
        ]
        failed: str | None = None
        for name, run_check in checks:
            if failed is not None:
                lines.append(CheckLine(name, False, f"not checked because the {failed} check failed"))
                continue
            try:
                lines.append(CheckLine(name, True, run_check()))
            except LinkedInError as error:
                lines.append(CheckLine(name, False, str(error)))
                failed = name
        return lines

    def close(self) -> None:
        self.client.close()

    # -- helpers ----------------------------------------------------------------------------

    def _announce_token(self) -> None:
        if not self.client.tokens.can_refresh:
            self.log.info("using the configured access token; without a refresh token it cannot be renewed")
        self.client.tokens.current()

    def _new_segment_wait(self, segment: Segment) -> float:
        """Return the seconds still to wait before the first write to a segment this job created.

        LinkedIn requires at least 5 seconds between creating a segment and adding members to it
        (https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users).
        """
        if not segment.created:
            return 0.0
        created_at = self._created_at.pop(segment.id, None)
        elapsed = 0.0 if created_at is None else self._monotonic() - created_at
        return max(0.0, self.settings.api.new_segment_wait_seconds - elapsed)

    def _version_line(self) -> CheckLine:
        version = self.settings.api.version
        age = self.version_age_months
        if age < 0:
            return CheckLine("api version", False, f"{version} is a future month; set api.version to a released version (YYYYMM)")
        if age > VERSION_RETIRED_AGE_MONTHS:
            return CheckLine(
                "api version",
                False,
                f"{version} was released {_count(age, 'month')} ago and LinkedIn retires versions after about a "
                "year; set a newer api.version",
            )
        detail = f"{version}, released {_count(age, 'month')} ago"
        if age > VERSION_WARNING_AGE_MONTHS:
            detail += "; LinkedIn retires versions after about a year, so set a newer api.version soon"
        return CheckLine("api version", True, detail)

    def _check_token(self) -> str:
        if not self.client.tokens.can_refresh:
            return "configured access token (LinkedIn verifies it with the next call)"
        requests_before = self.client.requests_sent
        self.client.tokens.current()
        if self.client.requests_sent == requests_before:
            return "stored access token still valid; the refresh token renews it when it expires"
        return "obtained an access token from the refresh token"

    def _check_account(self) -> str:
        self._search = find_segments(self.client, self.settings)
        segments = _count(self._search.segments_seen, "segment")
        return f"ad account {self.settings.ad_account_id} is reachable and contains {segments}"

    def _check_segment(self, create: bool) -> str:
        found = pick_segment(self._search, self.settings)
        if found is not None:
            status = destination_status(found) or "unknown"
            return f"segment {self.settings.segment_name!r} found: id {found.get('id')}, status {status}"
        if not create:
            raise SegmentError(missing_segment_message(self.settings, self._search))
        return (
            f"segment {self.settings.segment_name!r} of type {self.settings.segment_type} not found; "
            "the job will create it"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
