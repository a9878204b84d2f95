"""Drop members seen before, keeping at most a fixed number of fingerprints in memory.

A Python set of ten million fingerprints costs several hundred megabytes. Fingerprints are kept
in sorted ``numpy`` arrays instead, organised like a log-structured merge tree. Each chunk of new
fingerprints becomes a small sorted run, and runs of similar size are merged, so there are about
log2(n) runs. A lookup is one binary search per run, done for a whole chunk at once.

Up to ``memory_budget`` fingerprints stay in memory, at 8 bytes each. Beyond that, the runs in
memory are merged into one sorted run in an anonymous temporary file, and later spills merge into
that file. A lookup reads from the file only the values that a Bloom filter may contain, and only
the small blocks of the file that those values fall into. The file takes 8 bytes per spilled
fingerprint in the default temporary directory, and twice that while a spill rewrites it.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import weakref
from collections.abc import Iterator, Sequence

import numpy as np

# NOTE: fingerprints are 64-bit, so two different members collide with probability about
# n**2 / 2**65, which is about 3 in a million for a job of ten million members. A collision
# drops one member as a duplicate.

# Fingerprints kept in memory before they move to the temporary file: 16 MB.
DEFAULT_MEMORY_BUDGET = 2_000_000
# Values read, merged and written at a time while a spill rewrites the file (512 KB).
SPILL_BLOCK_VALUES = 65_536
# One file value in this many is kept in memory as a sparse index, so a lookup reads 1 KiB of
# the file. The index takes 1/128 of the file's size: 0.6 MB for ten million fingerprints.
INDEX_STRIDE = 128
# The Bloom filter has a fixed size of 8 MB. With 3 hash functions its false positive rate is
# about 5% for ten million spilled fingerprints and 0.06% for two million. A false positive costs
# one block read, never a wrong result.
FILTER_BITS = 2**26
FILTER_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)

_VALUE_BYTES = 8
_FILTER_SLICE_VALUES = 65_536


class Deduplicator:
    """Remembers the fingerprints of the members already kept.

    Call ``close()`` to delete the temporary file at once. Without it, the file is closed and
    deleted when the Deduplicator is garbage-collected.
    """

    def __init__(self, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        if memory_budget < 1:
            raise ValueError(f"memory_budget must be at least 1 fingerprint, not {memory_budget}")
        self.memory_budget = memory_budget
        self.distinct = 0
        # The runs in memory lie side by side in one buffer, oldest first. Run i is
        # _buffer[_run_starts[i]:_run_starts[i + 1]], and the last one ends at _filled.
        self._buffer: np.ndarray | None = None
        self._run_starts: list[int] = []
        self._filled = 0
        self._spilled: _SpilledRun | None = None
        self._filter: _BloomFilter | None = None

    def first_occurrences(self, fingerprints: Sequence[int]) -> list[bool]:
        """Returns, for each fingerprint in order, whether it is seen here for the first time.

        A fingerprint repeated inside ``fingerprints`` counts as new only at its first position.
        All fingerprints are remembered afterwards.
        """
        count = len(fingerprints)
        if count == 0:
            return []
        chunk = np.fromiter(fingerprints, dtype=np.uint64, count=count)

        # Sorted distinct values, and the first position of each inside the chunk. Searching a run
        # for sorted values walks it once from left to right, which took 40% less time than
        # searching in input order, whose random probes miss the CPU cache.
        values, first_index = np.unique(chunk, return_index=True)
        is_new_value = np.ones(len(values), dtype=bool)
        for run in self._runs():
            positions = np.searchsorted(run, values)
            np.minimum(positions, len(run) - 1, out=positions)
            is_new_value &= run[positions] != values

        # Only values that the filter may contain are looked up in the file.
        if self._spilled is not None and self._filter is not None:
            candidates = np.flatnonzero(is_new_value)
            candidates = candidates[self._filter.may_contain(values[candidates])]
            if len(candidates):
                is_new_value[candidates[self._spilled.contains(values[candidates])]] = False

        added = values[is_new_value]
        if len(added):
            self._add_run(added)
        is_new = np.zeros(count, dtype=bool)
        is_new[first_index[is_new_value]] = True
        return is_new.tolist()

    def close(self) -> None:
        """Deletes the temporary file and drops every fingerprint. ``distinct`` keeps its count."""
        if self._spilled is not None:
            self._spilled.close()
        self._spilled = None
        self._filter = None
        self._buffer = None
        self._run_starts = []
        self._filled = 0

    @property
    def memory_bytes(self) -> int:
        """Bytes of fingerprints, sparse index and Bloom filter held in memory."""
        total = self._filled * _VALUE_BYTES
        if self._spilled is not None:
            total += self._spilled.index.nbytes
        if self._filter is not None:
            total += self._filter.words.nbytes
        return total

    @property
    def spilled(self) -> int:
        """Number of fingerprints in the temporary file."""
        return 0 if self._spilled is None else self._spilled.length

    def _runs(self) -> list[np.ndarray]:
        if self._buffer is None:
            return []
        ends = [*self._run_starts[1:], self._filled]
        return [self._buffer[start:end] for start, end in zip(self._run_starts, ends)]

    def _add_run(self, run: np.ndarray) -> None:
        self.distinct += len(run)
        if self._filled + len(run) > self.memory_budget:
            self._spill(run)
            return

        if self._buffer is None:
            self._buffer = _anonymous_array(self.memory_budget)
        self._run_starts.append(self._filled)
        self._buffer[self._filled : self._filled + len(run)] = run
        self._filled += len(run)

        # Merge while the newest run is at least half the size of the one before it, which keeps
        # the runs' sizes roughly doubling from newest to oldest. Two neighbouring runs are merged
        # by sorting them in place, so a merge needs no memory beyond the buffer.
        starts = self._run_starts
        while len(starts) >= 2 and 2 * (self._filled - starts[-1]) >= starts[-1] - starts[-2]:
            starts.pop()
            self._buffer[starts[-1] : self._filled].sort()

    def _spill(self, newest: np.ndarray) -> None:
        """Merges the file, the runs in memory and ``newest`` into a new file, a block at a time."""
        runs = [*self._runs(), newest]
        if self._filter is None:
            self._filter = _BloomFilter(FILTER_BITS)
        for run in runs:
            self._filter.add(run)

        merged = _SpilledRun()
        try:
            for block in _merge_blocks(self._spilled, runs):
                merged.append(block)
            merged.finish()
        except BaseException:
            merged.close()
            raise
        if self._spilled is not None:
            self._spilled.close()
        self._spilled = merged
        self._run_starts = []
        self._filled = 0


class _SpilledRun:
    """One sorted run of distinct fingerprints in an anonymous temporary file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="td-output-linkedin-", suffix=".dedupe")
        # Closes the file when the run is garbage-collected, and TemporaryFile deletes it on close.
        self._close = weakref.finalize(self, self._file.close)
        self.length = 0
        self.index = np.empty(0, dtype=np.uint64)
        self._index_parts: list[np.ndarray] = []

    def append(self, block: np.ndarray) -> None:
        """Appends ``block``, whose values are sorted and larger than every value already here."""
        # Keeps the values at positions 0, INDEX_STRIDE, 2 * INDEX_STRIDE, ... of the whole file.
        self._index_parts.append(block[-self.length % INDEX_STRIDE :: INDEX_STRIDE].copy())
        self._file.write(block.data)
        self.length += len(block)

    def finish(self) -> None:
        self._file.flush()
        self.index = np.concatenate(self._index_parts) if self._index_parts else self.index
        self._index_parts = []

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """Yields the file's values in order, ``size`` at a time."""
        descriptor = self._file.fileno()
        for start in range(0, self.length, size):
            data = os.pread(descriptor, size * _VALUE_BYTES, start * _VALUE_BYTES)
            yield np.frombuffer(data, dtype=np.uint64)

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Returns, for each of the sorted distinct ``values``, whether the file contains it."""
        found = np.zeros(len(values), dtype=bool)
        # A value can only be in the block that starts at the last index entry not above it.
        block_numbers = np.searchsorted(self.index, values, side="right") - 1
        inside = block_numbers >= 0
        needed_blocks = np.unique(block_numbers[inside])
        if len(needed_blocks) == 0:
            return found

        # The blocks are read in file order, so their concatenation is sorted too. One pread per
        # block cost about 1 µs per value on a 2-CPU Xeon under Linux 6.18. Looking values up in
        # an mmap of the file cost 0.3 µs, but made the whole file resident within each chunk,
        # because the kernel maps the cached pages around each page fault.
        descriptor = self._file.fileno()
        width = INDEX_STRIDE * _VALUE_BYTES
        data = np.frombuffer(
            b"".join([os.pread(descriptor, width, number * width) for number in needed_blocks.tolist()]),
            dtype=np.uint64,
        )
        looked_up = values[inside]
        positions = np.searchsorted(data, looked_up)
        np.minimum(positions, len(data) - 1, out=positions)
        found[inside] = data[positions] == looked_up
        return found

    def close(self) -> None:
        self._close()


class _BloomFilter:
    """A fixed-size set of bits that may report a value it never had, but never misses one.

    Each hash function is a multiplication by an odd 64-bit constant, keeping the top bits
    (Fibonacci hashing), so values that differ only in their low bits still spread out.
    """

    def __init__(self, bits: int) -> None:
        if bits < 64 or bits & (bits - 1):
            raise ValueError(f"a Bloom filter needs a power of two of at least 64 bits, not {bits}")
        self.words = np.zeros(bits // 64, dtype=np.uint64)
        self._shift = np.uint64(64 - (bits.bit_length() - 1))

    def add(self, values: np.ndarray) -> None:
        # In slices, because each hash of a slice makes several temporary arrays of its size.
        for start in range(0, len(values), _FILTER_SLICE_VALUES):
            for word, mask in self._positions(values[start : start + _FILTER_SLICE_VALUES]):
                np.bitwise_or.at(self.words, word, mask)

    def may_contain(self, values: np.ndarray) -> np.ndarray:
        result = np.ones(len(values), dtype=bool)
        for word, mask in self._positions(values):
            result &= (self.words[word] & mask) != 0
        return result

    def _positions(self, values: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields, for each hash function, the word and the bit mask of every value."""
        for multiplier in FILTER_MULTIPLIERS:
            # Multiplying uint64 arrays wraps around modulo 2**64, which is the hash wanted here.
            bit = (values * np.uint64(multiplier)) >> self._shift
            yield bit >> np.uint64(6), np.left_shift(np.uint64(1), bit & np.uint64(63))


def _anonymous_array(length: int) -> np.ndarray:
    """Returns an array of ``length`` fingerprints in its own anonymous memory map.

    malloc may keep such a buffer's pages after it is freed, because glibc raises its mmap and
    trim thresholds (up to 32 and 64 MB on 64-bit systems) once a large block is freed. With
    malloc, about 30 MB of freed heap stayed resident over ten million random fingerprints. A map
    is returned to the system when the array is freed, and only the pages written to become
    resident.
    """
    memory = mmap.mmap(-1, length * _VALUE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(memory, dtype=np.uint64)


def _merge_blocks(spilled: _SpilledRun | None, runs: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Yields the sorted union of the file and the runs in memory, in blocks of bounded size.

    The file and the runs share no value. Each block of the file is merged with the values of the
    runs up to its last value, so no more than one block of the file is ever in memory.
    """
    next_start = [0] * len(runs)

    def take_through(high: np.uint64) -> list[np.ndarray]:
        parts = []
        for number, run in enumerate(runs):
            end = int(np.searchsorted(run, high, side="right"))
            if end > next_start[number]:
                parts.append(run[next_start[number] : end])
                next_start[number] = end
        return parts

    if spilled is not None:
        for block in spilled.blocks(SPILL_BLOCK_VALUES):
            merged = np.concatenate([block, *take_through(block[-1])])
            merged.sort()
            yield merged

    # The values above the file's largest, cut where the run with most of them left reaches
    # SPILL_BLOCK_VALUES more.
    while True:
        remaining = [len(run) - start for run, start in zip(runs, next_start)]
        if not remaining or max(remaining) == 0:
            return
        number = remaining.index(max(remaining))
        run = runs[number]
        high = run[min(next_start[number] + SPILL_BLOCK_VALUES, len(run)) - 1]
        merged = np.concatenate(take_through(high))
        merged.sort()
        yield merged
