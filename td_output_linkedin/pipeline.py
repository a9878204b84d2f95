"""The job's middle: rows -> members -> unique members -> batches -> sink -> counts.

Stop mode (``ignore_invalid_records: false``) reads and validates the whole input first, spooling
the unique members to a temporary file, and sends nothing when any row is invalid. Skip mode sends
while it reads. In both modes memory does not grow with the number of rows: the spool is on disk
and duplicates are found with compact fingerprints.
"""

from __future__ import annotations

import gc
import pickle
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, compress, islice
from operator import itemgetter
from typing import Any

import orjson

from .dedupe import Deduplicator
from .errors import InputError, InvalidRecordsError, JobInterrupted
from .joblog import JobLog
from .parallel import BuiltChunk, ParallelBuilder
from .records import Member, Rejection
from .sink import Batch, BatchResult, Segment, Sink

MAX_REPORTED_REJECTIONS = 1000
PROGRESS_INTERVAL_SECONDS = 10.0
# Rows read between two looks at the clock and the stop flag; also the unit of deduplication.
# The per-row loop only builds and sorts outcomes, and the rest works on whole chunks in C
# (numpy, itertools, pickle), which keeps the per-row cost of this module low.
CHUNK_ROWS = 4096

RowItem = tuple[int, Mapping[str, Any]] | Rejection
Builder = Callable[[int, Mapping[str, Any]], Member | Rejection]
# Input row numbers and elements of the distinct members of one chunk, at the same index. An
# element is a dict, or its JSON text when parallel.py built it.
MemberChunk = tuple[list[int], list[dict[str, Any]] | list[bytes]]

# The cyclic garbage collector's generation-0 threshold during a job (Python's default is 700).
# Rows make only acyclic objects that reference counting frees, but the members waiting in a chunk
# or a batch survive many default collections, which then cost about 15% of a dry run's time.
GC_THRESHOLD = 50_000

_row_of = itemgetter(0)
_element_of = itemgetter(1)
_fingerprint_of = itemgetter(2)
_dropped_of = itemgetter(3)


@dataclass
class JobResult:
    """Counts of one job. ``rows_read = members_valid + rows_invalid + duplicates`` is true at every
    step, and ``elements_sent = elements_accepted + elements_failed`` is true once the job ends."""

    rows_read: int = 0
    members_valid: int = 0
    rows_invalid: int = 0
    duplicates: int = 0
    elements_sent: int = 0
    elements_accepted: int = 0
    elements_failed: int = 0
    elements_not_sent: int = 0
    batches: int = 0
    requests: int = 0
    segment_id: str | None = None
    segment_name: str | None = None
    segment_created: bool = False
    segment_status: str | None = None
    segment_member_count: int | None = None
    dry_run: bool = False
    sandbox: bool = False
    mode: str | None = None
    audience_type: str | None = None
    values_left_out: dict[str, int] = field(default_factory=dict)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    invalid_not_listed: int = 0
    succeeded: bool = False
    error: str | None = None
    duration_seconds: float = 0.0

    def add_invalid(self, row: int, column: str | None, reason: str, source: str) -> None:
        if len(self.invalid) < MAX_REPORTED_REJECTIONS:
            self.invalid.append({"row": row, "column": column, "reason": reason, "source": source})
        else:
            self.invalid_not_listed += 1

    def to_report(self) -> dict[str, Any]:
        """Return the JSON report that ``--report`` writes: counts, the segment and the first rejections."""
        return {
            "succeeded": self.succeeded,
            "error": self.error,
            "dry_run": self.dry_run,
            "sandbox": self.sandbox,
            "mode": self.mode,
            "audience_type": self.audience_type,
            "segment_name": self.segment_name,
            "segment_id": self.segment_id,
            "segment_created": self.segment_created,
            "segment_status": self.segment_status,
            "segment_member_count": self.segment_member_count,
            "rows_read": self.rows_read,
            "members_valid": self.members_valid,
            "rows_invalid": self.rows_invalid,
            "duplicates": self.duplicates,
            "elements_sent": self.elements_sent,
            "elements_accepted": self.elements_accepted,
            "elements_failed": self.elements_failed,
            "elements_not_sent": self.elements_not_sent,
            "batches": self.batches,
            "requests": self.requests,
            "values_left_out": dict(sorted(self.values_left_out.items())),
            "invalid": self.invalid,
            "invalid_not_listed": self.invalid_not_listed,
            "duration_seconds": round(self.duration_seconds, 3),
        }


class Pipeline:
    """Runs one job's rows through the builder, deduplication, batching and the sink."""

    def __init__(
        self,
        *,
        build: Builder,
        sink: Sink,
        log: JobLog,
        result: JobResult,
        batch_size: int,
        stop_on_invalid: bool,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.build = build
        self.sink = sink
        self.log = log
        self.result = result
        self.batch_size = batch_size
        self.stop_on_invalid = stop_on_invalid
        self.stop = stop or threading.Event()
        self.clock = clock
        self.deduplicator = Deduplicator()
        self._left_out: Counter[str] = Counter()
        # Rows of elements LinkedIn rejected: all of them in stop mode, where the job stops after
        # the batches in flight, and only the first in skip mode, where they could be millions.
        self._linkedin_failures: list[int] = []
        self._linkedin_failure_count = 0
        self._first_linkedin_failure: tuple[int, str] | None = None
        self._started = clock()
        self._next_progress = self._started + PROGRESS_INTERVAL_SECONDS
        self._batch_number = 0
        self._input_error: InputError | None = None

    # Public entry point.

    def run(self, items: Iterable[RowItem] | ParallelBuilder, segment_resolver: Callable[[], Segment]) -> JobResult:
        """Validates and sends ``items``; the segment is resolved before the first upload.

        In stop mode the segment is resolved after validation, so a file with invalid rows fails
        without touching LinkedIn at all.
        """
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
        try:
            if self.stop_on_invalid:
                self._run_stop_mode(items, segment_resolver)
            else:
                self._run_skip_mode(items, segment_resolver)
        finally:
            # Removes the fingerprints' temporary file at once rather than at garbage collection.
            self.deduplicator.close()
            gc.set_threshold(*thresholds)
            self.result.values_left_out = dict(self._left_out)
            self.log.finish_rejections()
            # Members read but not delivered, however the job ended: invalid rows in stop mode, a
            # segment or token error before the upload, retries that ran out, an interruption.
            if not self.result.dry_run:
                self.result.elements_not_sent = self.result.members_valid - self.result.elements_sent
        return self.result

    # The two modes.

    def _run_skip_mode(self, items: Iterable[RowItem] | ParallelBuilder, segment_resolver: Callable[[], Segment]) -> None:
        segment = self._resolve(segment_resolver)
        self._upload(segment, self._batches(self._unique_chunks(items)))
        self._raise_if_interrupted()
        self._raise_if_input_failed()
        self._raise_if_linkedin_rejected()

    def _run_stop_mode(self, items: Iterable[RowItem] | ParallelBuilder, segment_resolver: Callable[[], Segment]) -> None:
        with tempfile.TemporaryFile(prefix="td-output-linkedin-", suffix=".spool") as spool:
            for chunk in self._unique_chunks(items):
                pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
            # The spool contains distinct members only, so the fingerprints (8 bytes a member) can go
            # before the upload starts.
            self.deduplicator.close()
            self.deduplicator = Deduplicator()
            self._raise_if_interrupted()
            self._raise_if_input_failed()

            if self.result.rows_invalid:
                first = self.result.invalid[0]
                where = f"row {first['row']}" + (f", column {first['column']}" if first["column"] else "")
                raise InvalidRecordsError(
                    f"{self.result.rows_invalid} invalid rows (first: {where}: {first['reason']}); nothing was "
                    "sent. Fix the rows listed in the job log, or set ignore_invalid_records: true to skip them",
                    self.result.invalid,
                )

            self.log.info("all %d rows are valid; sending %d members", self.result.rows_read, self.result.members_valid)
            segment = self._resolve(segment_resolver)
            spool.seek(0)
            self._upload(segment, self._batches(self._read_spool(spool)))
        self._raise_if_interrupted()
        self._raise_if_linkedin_rejected()

    # Stages.

    def _unique_chunks(self, items: Iterable[RowItem] | ParallelBuilder) -> Iterator[MemberChunk]:
        """Builds members from rows, logs rejections, and yields the distinct members chunk by chunk."""
        if isinstance(items, ParallelBuilder):
            yield from self._unique_built_chunks(items)
            return
        result = self.result
        build = self.build
        reject = self._reject
        iterator = iter(items)

        while not self.stop.is_set():
            members: list[Member] = []
            keep = members.append
            invalid_before = result.rows_invalid
            try:
                for item in islice(iterator, CHUNK_ROWS):
                    outcome = build(item[0], item[1]) if item.__class__ is tuple else item
                    if outcome.__class__ is Member:
                        keep(outcome)
                    else:
                        reject(outcome)
            except InputError as error:
                # A fault that ends the input (a truncated file) is raised after the rows before it,
                # which are complete: skip mode still sends them, and the job fails afterwards.
                self._input_error = error
            finally:
                # Counted here rather than per row; a source that fails mid-chunk still counts its rows.
                rows_in_chunk = len(members) + result.rows_invalid - invalid_before
                result.rows_read += rows_in_chunk
            if members:
                yield self._drop_duplicates(members)
            if rows_in_chunk == 0 or self._input_error is not None:
                return
            self._maybe_log_progress()

    def _unique_built_chunks(self, chunks: Iterable[BuiltChunk]) -> Iterator[MemberChunk]:
        """Count, log and deduplicate chunks that worker processes built, like ``_unique_chunks``."""
        result = self.result
        iterator = iter(chunks)
        while not self.stop.is_set():
            try:
                chunk = next(iterator, None)
            except InputError as error:
                self._input_error = error
                return
            if chunk is None:
                return
            result.rows_read += chunk.rows_read
            for rejection in chunk.rejections:
                self._reject(rejection)
            if chunk.rows:
                self._left_out.update(chunk.left_out)
                yield self._keep_first_occurrences(chunk.rows, chunk.elements, chunk.fingerprints)
            self._maybe_log_progress()

    def _drop_duplicates(self, members: list[Member]) -> MemberChunk:
        # Values left out of elements are counted for every valid row, duplicates included.
        self._left_out.update(chain.from_iterable(map(_dropped_of, members)))
        return self._keep_first_occurrences(
            list(map(_row_of, members)), list(map(_element_of, members)), list(map(_fingerprint_of, members))
        )

    def _keep_first_occurrences(self, rows: list[int], elements: list[Any], fingerprints: list[int]) -> MemberChunk:
        """Drop the members seen before, in this chunk or an earlier one, and count both kinds."""
        is_new = self.deduplicator.first_occurrences(fingerprints)
        unique_rows = list(compress(rows, is_new))
        self.result.members_valid += len(unique_rows)
        self.result.duplicates += len(rows) - len(unique_rows)
        return unique_rows, list(compress(elements, is_new))

    def _batches(self, chunks: Iterable[MemberChunk]) -> Iterator[Batch]:
        """Regroups chunks into batches of ``batch_size``; no batch starts once ``stop`` is set."""
        size = self.batch_size
        rows: list[int] = []
        elements: list[dict[str, Any]] = []
        for chunk_rows, chunk_elements in chunks:
            rows += chunk_rows
            elements += chunk_elements
            while len(elements) >= size:
                if self.stop.is_set():
                    return
                yield self._new_batch(rows[:size], elements[:size])
                del rows[:size]
                del elements[:size]
        if elements and not self.stop.is_set():
            yield self._new_batch(rows, elements)

    def _new_batch(self, rows: list[int], elements: list[Any]) -> Batch:
        self._batch_number += 1
        if elements and elements[0].__class__ is bytes:
            # JSON text built by parallel.py: orjson writes a Fragment into a request body as it is.
            elements = list(map(orjson.Fragment, elements))
        return Batch(number=self._batch_number, rows=rows, elements=elements)

    def _read_spool(self, spool: Any) -> Iterator[MemberChunk]:
        # pickle is safe here because the spool is an unnamed temporary file that only this process
        # writes and reads. Its files are about half the size of msgpack's, because pickle stores a
        # string object that repeats within a chunk (each element's keys) once, and load faster.
        while True:
            try:
                yield pickle.load(spool)
            except EOFError:
                return

    def _upload(self, segment: Segment, batches: Iterator[Batch]) -> None:
        for batch_result in self.sink.upload(segment, batches, self.stop):
            self._count(batch_result)
            self._maybe_log_progress()

    def _count(self, batch_result: BatchResult) -> None:
        result = self.result
        result.requests += batch_result.requests
        if result.dry_run:
            result.batches += 1
            return
        if not batch_result.sent:
            return
        batch = batch_result.batch
        result.batches += 1
        result.elements_sent += len(batch.elements)
        result.elements_accepted += batch_result.accepted
        result.elements_failed += len(batch_result.failures)
        for failure in batch_result.failures:
            row = batch.rows[failure.index]
            reason = f"LinkedIn returned HTTP {failure.status}" + (f" {failure.code}" if failure.code else "")
            self._linkedin_failure_count += 1
            if self._first_linkedin_failure is None:
                self._first_linkedin_failure = (row, reason)
            if self.stop_on_invalid:
                self._linkedin_failures.append(row)
            result.add_invalid(row, None, reason, "linkedin")
            self.log.rejection(row, None, reason, source="rejected by LinkedIn")
        if batch_result.failures and self.stop_on_invalid:
            # Stop mode: no new batch starts once LinkedIn has rejected an element.
            self.stop.set()

    # Helpers.

    def _resolve(self, segment_resolver: Callable[[], Segment]) -> Segment:
        segment = segment_resolver()
        self.result.segment_id = segment.id
        self.result.segment_created = segment.created
        self.result.segment_status = segment.status
        return segment

    def _reject(self, rejection: Rejection) -> None:
        self.result.rows_invalid += 1
        self.result.add_invalid(rejection.row, rejection.column, rejection.reason, "input")
        self.log.rejection(rejection.row, rejection.column, rejection.reason)

    def _maybe_log_progress(self) -> None:
        now = self.clock()
        if now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_INTERVAL_SECONDS
        result = self.result
        elapsed = max(now - self._started, 1e-9)
        self.log.info(
            "progress: %d rows read (%.0f rows/s), %d invalid, %d duplicates, %d elements sent, %d accepted",
            result.rows_read,
            result.rows_read / elapsed,
            result.rows_invalid,
            result.duplicates,
            result.elements_sent,
            result.elements_accepted,
        )

    def _raise_if_interrupted(self) -> None:
        signal_name = getattr(self.stop, "signal_name", None)
        if self.stop.is_set() and signal_name:
            raise JobInterrupted(signal_name, getattr(self.stop, "exit_code", 130))

    def _raise_if_input_failed(self) -> None:
        if self._input_error is not None:
            raise self._input_error

    def _raise_if_linkedin_rejected(self) -> None:
        if self._first_linkedin_failure is None:
            return
        # The report's list is capped, so it can hold no LinkedIn entry when input rows filled it.
        rejected = [item for item in self.result.invalid if item["source"] == "linkedin"]
        if not self.stop_on_invalid:
            # Skip mode tolerates single bad elements, but when every element fails the cause is a
            # setting or the input's shape, and a job that updated nothing must not report success.
            if self.result.elements_accepted == 0:
                first_row, first_reason = self._first_linkedin_failure
                raise InvalidRecordsError(
                    f"LinkedIn rejected all {self.result.elements_failed} elements it received "
                    f"(first: row {first_row}: {first_reason}); the segment is unchanged. "
                    "Check the columns and audience_type against the rows listed in the job log",
                    rejected,
                )
            return
        rows = sorted(self._linkedin_failures)
        listed = ", ".join(str(row) for row in rows[:20]) + (" ..." if len(rows) > 20 else "")
        raise InvalidRecordsError(
            f"LinkedIn rejected {len(rows)} elements (rows {listed}); the batches sent before stopping were applied. "
            "Fix those rows, or set ignore_invalid_records: true to skip such elements",
            rejected,
        )
