"""Build the members of a csv or tsv input in worker processes.

The job's process reads the text and cuts it into blocks at row boundaries. Each block goes to a
worker process, which parses its rows and turns them into members and rejections with the job's
builder. Results come back in input order, so row numbers, which of two duplicates is kept and the
job log are the same as when one process reads the file.

A block ends after a line feed with an even number of quotes before it, which is a row boundary
in well-formed csv. A quote inside an unquoted cell, which csv reads as text, breaks that rule:
after it no line feed has an even count, and the job's process reads the rest of the input
itself, exactly as it would without workers. The same happens when a worker meets a csv error
in its block (it sends no result for it), when a worker process dies, and when the system
cannot fork. The blocks before such a row still come from the workers.
"""

from __future__ import annotations

import csv
import ctypes
import gc
import io
import os
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from multiprocessing import get_context
from operator import itemgetter
from typing import Any

import orjson

from .columns import ColumnMap
from .errors import InputError
from .joblog import JobLog
from .records import Member, Rejection, make_builder
from .sources import DelimitedRest, RowSource, _delimited_row

# Characters of input text per block at most: about 2,500 rows of a typical contact export, a few
# milliseconds of a worker's time, which is long enough that sending the block costs little.
BLOCK_CHARS = 1 << 18
# Rows per block at most, as estimated from the first block: narrow rows (an email alone) would
# otherwise put 13,000 rows in a block, and each row's member is held until its block is sent.
BLOCK_ROWS = 3000
# A row without a safe cut after this many characters (a quote left open) is read in one process.
MAX_CARRY_CHARS = 16 << 20
# Blocks handed out per worker before the job's process waits for the oldest: enough to keep
# every worker busy, few enough to keep memory flat.
BLOCKS_IN_FLIGHT_PER_WORKER = 3
# Rows per chunk when the job's process builds members itself.
CHUNK_ROWS = 4096
# At most this many worker processes when worker_processes is 0 (one per CPU).
MAX_AUTO_WORKERS = 8
# glibc mallopt() settings in a worker: keep up to 32 MB of freed heap, and take blocks up to 8 MB
# (a block's text and its result) from the heap rather than from a new memory map each time.
MALLOC_TRIM_BYTES = 32 << 20
MALLOC_MMAP_BYTES = 8 << 20
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_PR_SET_PDEATHSIG = 1

Builder = Callable[[int, Any], Member | Rejection]

_row_of = itemgetter(0)
_element_of = itemgetter(1)
_fingerprint_of = itemgetter(2)
_dropped_of = itemgetter(3)


@dataclass
class BuiltChunk:
    """Members and rejections of consecutive input rows, in input order.

    ``rows`` contains each member's input row number, and ``elements`` and ``fingerprints`` that
    member's element as JSON text and its fingerprint, at the same index. ``left_out`` counts the
    optional values that were left out of elements, by column.
    """

    rows_read: int = 0
    rows: list[int] = field(default_factory=list)
    elements: list[bytes] = field(default_factory=list)
    fingerprints: list[int] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)

    @classmethod
    def of(cls, outcomes: list[Member | Rejection], *, exact_size: bool = False) -> BuiltChunk:
        """Sort the outcomes of consecutive rows into a chunk, with the per-member work done in C.

        orjson returns its whole output buffer, 4 KiB for an element of 300 bytes. ``exact_size``
        copies each element's text to its own size, for a chunk that is held until its batch is
        sent rather than pickled at once.
        """
        members = [outcome for outcome in outcomes if outcome.__class__ is Member]
        rejections = [] if len(members) == len(outcomes) else [o for o in outcomes if o.__class__ is not Member]
        elements = map(orjson.dumps, map(_element_of, members))
        return cls(
            rows_read=len(outcomes),
            rows=list(map(_row_of, members)),
            elements=list(map(bytes, map(memoryview, elements)) if exact_size else elements),
            fingerprints=list(map(_fingerprint_of, members)),
            left_out=Counter(chain.from_iterable(map(_dropped_of, members))),
            rejections=rejections,  # type: ignore[arg-type]
        )

    def shift_rows(self, rows_before: int) -> None:
        """Count row numbers from the input's start rather than from the block's."""
        if rows_before:
            self.rows = [row + rows_before for row in self.rows]
            self.rejections = [Rejection(r.row + rows_before, r.column, r.reason) for r in self.rejections]


def worker_count(setting: int) -> int:
    """Worker processes for the ``worker_processes`` setting: 0 means one per CPU this process may use."""
    if setting > 0:
        return setting
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_AUTO_WORKERS)


def parallel_chunks(
    source: Any, columns: ColumnMap, action: str, workers: int, log: JobLog
) -> ParallelBuilder | None:
    """Return the source's rows as ``BuiltChunk`` items built by ``workers`` processes.

    Returns None, and leaves ``source`` untouched, when that does not apply: fewer than 2 workers,
    an input that is not a csv or tsv ``RowSource``, or a source whose rows are already being read.
    """
    if workers < 2 or not isinstance(source, RowSource):
        return None
    rest = source.take_delimited_rest()
    if rest is None:
        return None
    return ParallelBuilder(rest, columns, action, workers, log)


@dataclass
class _Job:
    """The builder and csv dialect with which a worker process turns a block of text into a ``BuiltChunk``."""

    # Takes each row as the list of its cells: a mapping per row costs 9% of a worker's time.
    build: Builder
    header: list[str]
    trailing_empty: bool
    delimiter: str
    quoting: int


_job: _Job | None = None


def _start_worker(job: _Job, parent: int) -> None:
    global _job
    _job = job
    _end_with_parent(parent)
    # The objects inherited from the job's process live as long as the worker: leaving them out of
    # collections saves time, and spares their memory pages from being copied by the collector.
    gc.freeze()
    _keep_freed_heap()
    # Ctrl-C, or a job runner's SIGTERM, reaches the whole process group, but the job's process
    # decides when its workers stop: it finishes the blocks in flight and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _end_with_parent(parent: int) -> None:
    """Have Linux kill this worker when the job's process ends, even by SIGKILL.

    A worker waits for blocks on a pipe that it also keeps open itself, so without this it would
    wait forever once the job's process is gone.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the job's process still stops its workers whenever it can
    if os.getppid() != parent:
        os._exit(1)  # the job's process ended before prctl took effect


def _keep_freed_heap() -> None:
    """Stop glibc from returning freed heap memory to the system after every block.

    Each block allocates a few megabytes (orjson starts every element's text in a 1 KiB buffer) and
    frees them once the result is sent. With glibc's default trim threshold the heap then shrank
    and grew again for each block, and the page faults cost a worker about 0.7 s of system time per
    million rows, 12% of its work. A worker keeps at most ``MALLOC_TRIM_BYTES`` of freed memory.
    """
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_BYTES)
        libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES)
    except (OSError, ValueError, AttributeError):
        pass  # only slower: the allocator keeps its defaults


def _build_block(text: str) -> BuiltChunk | None:
    """Parse and build one block in a worker, or return None when the block contains a csv error."""
    job = _job
    assert job is not None
    return build_block(text, job)


def build_block(text: str, job: _Job) -> BuiltChunk | None:
    build = job.build
    header = job.header
    width = len(header)
    outcomes: list[Member | Rejection] = []
    keep = outcomes.append
    reader: Iterable[list[str]]
    if _splits_like_csv(text, job.quoting):
        delimiter = job.delimiter
        reader = (line.split(delimiter) for line in text.replace("\r\n", "\n").split("\n") if line)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter, quoting=job.quoting, strict=True)
    number = 0
    try:
        for values in reader:
            if not values:
                continue  # a blank line is not a row
            number += 1
            if len(values) == width:
                keep(build(number, values))
            else:
                item = _delimited_row(number, values, header, trailing_empty=job.trailing_empty)
                keep(item if item.__class__ is Rejection else build(number, values))
    except csv.Error:
        return None
    return BuiltChunk.of(outcomes)


def _splits_like_csv(text: str, quoting: int) -> bool:
    """Tell whether splitting at line feeds and delimiters gives exactly csv.reader's rows.

    That is so when no quote can start a quoted cell and every carriage return comes right before
    a line feed: csv.reader then ends rows at "\r\n" or "\n", skips empty lines and cuts cells
    at each delimiter. Most exports qualify, and splitting took about 20% less time than csv.reader.
    """
    if quoting != csv.QUOTE_NONE and '"' in text:
        return False
    carriage_returns = text.count("\r")
    return carriage_returns == 0 or carriage_returns == text.count("\r\n")


class ParallelBuilder:
    """An iterable of ``BuiltChunk``: the rows of a csv or tsv source after its header, in order.

    Iteration raises ``InputError`` for a fault that ends the input, after the chunks of every row
    before it. ``close`` stops the worker processes; iteration starts them only once the input
    proves longer than one block.
    """

    def __init__(self, rest: DelimitedRest, columns: ColumnMap, action: str, workers: int, log: JobLog):
        self.rest = rest
        source = rest.source
        self.build = make_builder(columns, action)
        self.workers = workers
        self.log = log
        self._job = _Job(
            build=make_builder(columns, action, header=source.header),
            header=list(source.header),
            trailing_empty=source._trailing_empty,
            delimiter=rest.delimiter,
            quoting=rest.quoting,
        )
        self._executor: ProcessPoolExecutor | None = None
        self._carry = ""
        self._at_end = False
        self._block_chars = BLOCK_CHARS
        self._block_sized = False

    def __iter__(self) -> Iterator[BuiltChunk]:
        return self._chunks()

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Blocks already running finish in milliseconds, and waiting for them leaves no process behind.
            executor.shutdown(wait=True, cancel_futures=True)

    # Iteration.

    def _chunks(self) -> Iterator[BuiltChunk]:
        rest = self.rest
        # Counts the pending rows too: they come before the text.
        rows_before = rest.rows_before
        if rest.pending:
            yield from self._build_here(rest.pending)

        in_flight: deque[tuple[str, Future[BuiltChunk | None] | BuiltChunk | None | Exception]] = deque()
        limit = BLOCKS_IN_FLIGHT_PER_WORKER * self.workers
        no_boundary = False
        try:
            while True:
                while not no_boundary and not self._at_end and len(in_flight) < limit:
                    block = self._next_block()
                    if block is None:
                        # The blocks in flight are whole rows still: they are taken first.
                        no_boundary = True
                    elif block:
                        in_flight.append((block, self._submit(block)))
                if not in_flight:
                    break
                text, pending = in_flight[0]
                try:
                    if isinstance(pending, BaseException):
                        raise pending
                    chunk = pending.result() if isinstance(pending, Future) else pending
                except Exception as error:  # a worker process died, or the processes could not start
                    self.log.warning(
                        "worker processes failed or could not start (%s); "
                        "reading the rest of the input in the job's process",
                        type(error).__name__,
                    )
                    chunk = None
                else:
                    if chunk is None and self._executor is not None:
                        self.log.info(
                            "a csv error in the block from row %d on: reading the rest of the input in the job's process",
                            rows_before + 1,
                        )
                if chunk is None:
                    yield from self._read_here([text for text, _ in in_flight], rows_before)
                    return
                in_flight.popleft()
                chunk.shift_rows(rows_before)
                rows_before += chunk.rows_read
                yield chunk

            if no_boundary:
                self.log.info(
                    "row %d has a quote that no later line closes (a quote inside an unquoted cell is read as "
                    "text), or is longer than %d characters: reading the rest of the input in the job's process",
                    rows_before + 1,
                    MAX_CARRY_CHARS,
                )
                yield from self._read_here([], rows_before)
            elif rest.fault is not None:
                # The complete rows of the text read before the fault, then the fault itself.
                yield from self._read_here([], rows_before)
        finally:
            self.close()

    def _submit(self, block: str) -> Future[BuiltChunk | None] | BuiltChunk | None | Exception:
        """Hand ``block`` to a worker; the error instead when the pool cannot take it."""
        if self._executor is None and self._at_end:
            # The whole input is one block: starting processes would cost more than it saves.
            return build_block(block, self._job)
        try:
            if self._executor is None:
                self.log.info("reading the rows with %d worker processes", self.workers)
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=get_context("fork"),
                    initializer=_start_worker,
                    initargs=(self._job, os.getpid()),
                )
            return self._executor.submit(_build_block, block)
        except Exception as error:  # BrokenProcessPool once a worker has died, OSError from fork,
            return error  # ValueError where the system has no fork

    def _next_block(self) -> str | None:
        """Read the next block of whole rows: "" at the end of the input, None when no row boundary is found."""
        text = self.rest.text
        quoting = self.rest.quoting
        while True:
            piece = text.read(self._block_chars)
            data = self._carry + piece if self._carry else piece
            if len(piece) < self._block_chars:
                # read() returns fewer characters than asked only at the end of the input.
                self._at_end = True
                if self.rest.fault is not None:
                    # Kept for _read_here, which reads it in this process and then raises the fault.
                    self._carry = data
                    return ""
                self._carry = ""
                return data
            cut = _row_boundary(data, quoting)
            if cut > 0:
                self._carry = data[cut:]
                if not self._block_sized:
                    # Sized once, from the first block's rows.
                    self._block_sized = True
                    lines = data.count("\n", 0, cut)
                    self._block_chars = max(min(BLOCK_CHARS, cut * BLOCK_ROWS // lines), 1)
                return data[:cut]
            self._carry = data
            if "\n" in data or len(data) > MAX_CARRY_CHARS:
                # Line feeds, but none with an even number of quotes before it: a quote that stays
                # open, which later blocks cannot fix, or one row longer than any block should be.
                return None

    def _read_here(self, texts: list[str], rows_before: int) -> Iterator[BuiltChunk]:
        """Read ``texts``, the carried text and the rest of the input in this process."""
        self.close()
        lines = chain(chain.from_iterable(io.StringIO(text, newline="") for text in texts), self._tail_lines())
        yield from self._build_here(self.rest.source.rows_from_lines(lines, rows_before))

    def _tail_lines(self) -> Iterator[str]:
        carry, self._carry = self._carry, ""
        fault = self.rest.fault
        lines = io.StringIO(carry, newline="").readlines()
        if fault is not None:
            # Reading in one process, the text after the last line end is lost with the fault.
            if lines and not lines[-1].endswith("\n"):
                lines.pop()
            yield from lines
            raise fault
        last = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        yield from lines
        if last:
            # The carried text ends inside a line, or after a carriage return that may start "\r\n".
            # A stream fault in this read loses that line, as it does when reading in one process.
            yield from io.StringIO(last + self.rest.text.readline(), newline="")
        yield from self.rest.text

    def _build_here(self, items: Iterable[Any]) -> Iterator[BuiltChunk]:
        iterator = iter(items)
        while True:
            outcomes: list[Member | Rejection] = []
            try:
                for item in islice(iterator, CHUNK_ROWS):
                    outcomes.append(item if item.__class__ is Rejection else self.build(item[0], item[1]))
            except InputError:
                yield BuiltChunk.of(outcomes, exact_size=True)
                raise
            if not outcomes:
                return
            yield BuiltChunk.of(outcomes, exact_size=True)


def _row_boundary(data: str, quoting: int) -> int:
    """Return the index after the last line feed of ``data`` that ends a row, or -1.

    Outside quoting rules every line feed ends a row. Otherwise a line feed ends a row when an even
    number of quotes precedes it, because quotes come in pairs in well-formed csv.
    """
    end = data.rfind("\n")
    if end < 0 or quoting == csv.QUOTE_NONE:
        return end + 1 if end >= 0 else -1
    odd = data.count('"', 0, end + 1) & 1
    while odd:
        previous = data.rfind("\n", 0, end)
        if previous < 0:
            return -1
        odd ^= data.count('"', previous + 1, end + 1) & 1
        end = previous
    return end + 1
