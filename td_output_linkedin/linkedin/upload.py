"""Send batches to ``/rest/dmpSegments/{id}/users`` or ``/companies``, several in flight, and read each element's status.

Both endpoints take a Rest.li BATCH_CREATE body ``{"elements": [...]}`` and return HTTP 200 with one
status per element, in request order. An HTTP 200 therefore proves nothing about any single element
(https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users and
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-companies).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import orjson
import requests

from td_output_linkedin.config import MAX_BATCH_SIZE, Settings
from td_output_linkedin.errors import LinkedInError, SegmentError
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin.client import ApiClient, ApiRequest, NotFoundError, Tally, json_body
from td_output_linkedin.linkedin.ratelimit import RateLimiter
from td_output_linkedin.linkedin.retry import Stopped, StopSignal
from td_output_linkedin.sink import Batch, BatchResult, ElementFailure, Segment

ENDPOINT_FOR_SEGMENT_TYPE = {"USER": "users", "COMPANY": "companies"}
# How often the generator looks at the caller's stop event while requests are in flight.
STOP_POLL_SECONDS = 0.2
# Shortest pause between retries of a 404 on a new segment, so that new_segment_wait_seconds = 0
# (fast tests) still moves the wait towards its bound.
MIN_NOT_FOUND_RETRY_SECONDS = 0.05


class Uploader:
    """Delivers batches for one job: rate limits per endpoint, up to ``api.max_in_flight`` at once."""

    def __init__(
        self, client: ApiClient, settings: Settings, log: JobLog, *, monotonic: Callable[[], float] = time.monotonic
    ):
        self.client = client
        self.api = settings.api
        self.log = log
        self.limiters = {
            "USER": RateLimiter(self.api.users_requests_per_minute, monotonic=monotonic),
            "COMPANY": RateLimiter(self.api.companies_requests_per_minute, monotonic=monotonic),
        }

    def upload(
        self,
        segment: Segment,
        batches: Iterable[Batch],
        stop: threading.Event | None,
        *,
        new_segment_wait: float,
    ) -> Iterator[BatchResult]:
        """Yield one ``BatchResult`` per batch read, in the order the requests complete.

        Reads a batch only when a request slot is free, so at most ``max_in_flight`` batches are in
        memory. After the first batch fails for good, or once ``stop`` is set, no new batch is read.
        The requests in flight finish, and a request waiting to retry gives up and yields
        ``sent=False``. Then the failure is raised with its ``batch`` attribute set.
        """
        halt_event = threading.Event()
        halt = StopSignal(halt_event, stop)
        try:
            self.client.pause(new_segment_wait, stop if stop is not None else halt)
        except Stopped:
            return

        max_in_flight = max(self.api.max_in_flight, 1)
        source = iter(batches)
        pending: dict[Future[BatchResult], Batch] = {}
        failure: LinkedInError | None = None
        exhausted = False
        with ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="linkedin-upload") as executor:
            try:
                while True:
                    if stop is not None and stop.is_set():
                        halt_event.set()
                    while failure is None and not halt.is_set() and not exhausted and len(pending) < max_in_flight:
                        batch = next(source, None)
                        if batch is None:
                            exhausted = True
                            break
                        pending[executor.submit(self._deliver, segment, batch, halt)] = batch
                    if not pending:
                        break

                    done, _ = wait(pending, timeout=STOP_POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = pending.pop(future)
                        try:
                            result = future.result()
                        except LinkedInError as error:
                            error.batch = batch  # type: ignore[attr-defined]
                            partial = getattr(error, "partial", None)
                            if partial is not None:
                                # LinkedIn applied part of this batch, and those elements still count.
                                yield partial
                            elif failure is not None:
                                yield BatchResult(batch, sent=False, requests=0)
                            if failure is None:
                                failure = error
                                halt_event.set()
                            continue
                        yield result
            finally:
                halt_event.set()
        if failure is not None:
            raise failure

    def _deliver(self, segment: Segment, batch: Batch, halt: StopSignal) -> BatchResult:
        if len(batch.elements) > MAX_BATCH_SIZE:
            raise LinkedInError(
                f"batch {batch.number} contains {len(batch.elements)} elements, but LinkedIn accepts at most "
                f"{MAX_BATCH_SIZE} per request"
            )
        endpoint = ENDPOINT_FOR_SEGMENT_TYPE[segment.type]
        request = ApiRequest(
            "POST",
            f"/rest/dmpSegments/{segment.id}/{endpoint}",
            f"batch {batch.number}",
            body=orjson.dumps({"elements": batch.elements}),
            batch_create=True,
            limiter=self.limiters[segment.type],
            show_linkedin_message=False,
        )
        tally = Tally()
        try:
            response = self._send_until_available(segment, request, batch, halt, tally)
        except Stopped:
            return BatchResult(batch, sent=False, requests=tally.requests)
        result = read_batch_response(batch, response, tally.requests)
        return self._resend_transient_elements(segment, request, result, halt)

    def _resend_transient_elements(
        self, segment: Segment, request: ApiRequest, result: BatchResult, halt: StopSignal
    ) -> BatchResult:
        """Send again the elements whose own status was 429 or 5xx, within the retry bounds.

        Such a status inside an HTTP 200 means the element was not applied for a temporary reason,
        unlike a 4xx, which means the element itself is invalid. ADD and REMOVE are idempotent, so
        sending an element twice is harmless. Elements still failing after the last attempt keep
        their last status and are reported as failed, with their rows.
        """
        batch = result.batch
        attempt = 1
        waited = 0.0
        while True:
            transient = [failure for failure in result.failures if _is_transient_status(failure.status)]
            if not transient:
                return result
            wait_seconds = self.client.policy.backoff(attempt)
            if attempt >= self.api.max_attempts or waited + wait_seconds > self.api.max_retry_wait_seconds:
                return result
            self.log.warning(
                "batch %d: LinkedIn returned a temporary status for %d elements (first: HTTP %d); "
                "attempt %d of %d failed, sending them again in %.1f s",
                batch.number,
                len(transient),
                transient[0].status,
                attempt,
                self.api.max_attempts,
                wait_seconds,
            )
            try:
                self.client.pause(wait_seconds, halt)
            except Stopped:
                return result
            waited += wait_seconds
            attempt += 1

            indexes = [failure.index for failure in transient]
            retry_batch = Batch(batch.number, [batch.rows[i] for i in indexes], [batch.elements[i] for i in indexes])
            retry_request = dataclasses.replace(request, body=orjson.dumps({"elements": retry_batch.elements}))
            tally = Tally()
            try:
                response = self._send_until_available(segment, retry_request, retry_batch, halt, tally)
                retried = read_batch_response(retry_batch, response, tally.requests)
            except Stopped:
                return result
            except LinkedInError as error:
                # LinkedIn applied the rest of the batch: the error carries that result so that
                # those elements are counted as accepted, and the resent ones as failed.
                error.partial = result  # type: ignore[attr-defined]
                raise

            # Map the retry's element indexes back onto the original batch.
            kept = [failure for failure in result.failures if not _is_transient_status(failure.status)]
            kept += [dataclasses.replace(failure, index=indexes[failure.index]) for failure in retried.failures]
            kept.sort(key=lambda failure: failure.index)
            result = BatchResult(
                batch,
                sent=True,
                accepted=result.accepted + retried.accepted,
                failures=kept,
                requests=result.requests + retried.requests,
            )

    def _send_until_available(
        self, segment: Segment, request: ApiRequest, batch: Batch, halt: StopSignal, tally: Tally
    ) -> requests.Response:
        """Send the batch, and retry a 404 within the configured bound when this job created the segment.

        LinkedIn can return 404 for a while after a segment is created (other connectors report one
        to two minutes). A 404 on an older segment means it was deleted, which no retry repairs.
        """
        bound = self.api.new_segment_not_found_timeout_seconds
        interval = max(self.api.new_segment_wait_seconds, MIN_NOT_FOUND_RETRY_SECONDS)
        waited = 0.0
        while True:
            try:
                return self.client.send(request, halt=halt, tally=tally).response
            except NotFoundError as error:
                if not segment.created:
                    raise SegmentError(
                        f"batch {batch.number}: segment {segment.id} not found (HTTP 404); it may have been "
                        "deleted while the job ran",
                        status=error.status,
                        code=error.code,
                    ) from None
                if waited >= bound:
                    raise SegmentError(
                        f"batch {batch.number}: segment {segment.id}, created by this job, still returned "
                        f"HTTP 404 after {waited:.0f} s (api.new_segment_not_found_timeout_seconds is {bound:g}); "
                        "run the job again later",
                        status=error.status,
                        code=error.code,
                    ) from None
                pause = min(interval, bound - waited)
                self.log.warning(
                    "batch %d: segment %s, created by this job, is not available yet (HTTP 404); retrying in %.1f s",
                    batch.number,
                    segment.id,
                    pause,
                )
                self.client.pause(pause, halt)
                waited += pause


def _is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def read_batch_response(batch: Batch, response: requests.Response, requests_made: int) -> BatchResult:
    """Map LinkedIn's per-element statuses onto the batch; any 2xx status is an accepted element.

    A failed element keeps LinkedIn's status and code but not its message, which can echo the
    element's values.
    """
    description = f"batch {batch.number}"
    body = json_body(response, description)
    entries = body.get("elements") if isinstance(body, dict) else None
    if not isinstance(entries, list) or len(entries) != len(batch.elements):
        found = len(entries) if isinstance(entries, list) else "no"
        raise LinkedInError(
            f"{description}: LinkedIn returned {found} element statuses for {len(batch.elements)} elements "
            "sent, so the statuses cannot be matched to rows; the job stops rather than guess",
            status=response.status_code,
        )

    accepted = 0
    failures: list[ElementFailure] = []
    for index, entry in enumerate(entries):
        status = entry.get("status") if isinstance(entry, dict) else None
        if not isinstance(status, int) or isinstance(status, bool):
            raise LinkedInError(
                f"{description}: LinkedIn's status for element {index} is missing or not a number",
                status=response.status_code,
            )
        if 200 <= status < 300:
            accepted += 1
        else:
            failures.append(_element_failure(index, status, entry))
    return BatchResult(batch, sent=True, accepted=accepted, failures=failures, requests=requests_made)


def _element_failure(index: int, status: int, entry: dict[str, Any]) -> ElementFailure:
    error = entry.get("error")
    code = error.get("code") if isinstance(error, dict) else entry.get("code")
    code = code if isinstance(code, str) else None
    described = f"HTTP {status} {code}" if code else f"HTTP {status}"
    return ElementFailure(index=index, status=status, code=code, message=f"LinkedIn rejected the element ({described})")
