import gc
import random

import pytest

from td_output_linkedin import dedupe
from td_output_linkedin.dedupe import Deduplicator


def test_first_occurrence_within_chunk():
    deduplicator = Deduplicator()
    assert deduplicator.first_occurrences([5, 7, 5, 9, 7]) == [True, True, False, True, False]
    assert deduplicator.distinct == 3


def test_repeats_across_chunks():
    deduplicator = Deduplicator()
    assert deduplicator.first_occurrences([1, 2, 3]) == [True, True, True]
    assert deduplicator.first_occurrences([3, 4, 1]) == [False, True, False]
    assert deduplicator.first_occurrences([]) == []
    assert deduplicator.distinct == 4


def test_extreme_64_bit_values():
    deduplicator = Deduplicator()
    top = 2**64 - 1
    assert deduplicator.first_occurrences([0, top]) == [True, True]
    assert deduplicator.first_occurrences([top, 0, top - 1]) == [False, False, True]


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_matches_python_set(chunk_size):
    generator = random.Random(chunk_size)
    values = [generator.randrange(5000) for _ in range(20_000)]
    deduplicator = Deduplicator()
    expected_seen: set[int] = set()
    for start in range(0, len(values), chunk_size):
        chunk = values[start : start + chunk_size]
        expected = []
        for value in chunk:
            expected.append(value not in expected_seen)
            expected_seen.add(value)
        assert deduplicator.first_occurrences(chunk) == expected
    assert deduplicator.distinct == len(expected_seen)


def test_memory_eight_bytes_per_member():
    deduplicator = Deduplicator()
    generator = random.Random(3)
    for _ in range(50):
        deduplicator.first_occurrences([generator.getrandbits(64) for _ in range(2000)])
    assert deduplicator.distinct == 100_000
    assert deduplicator.memory_bytes == 8 * 100_000


# Spilling to the temporary file. A budget of 1,000 fingerprints makes small inputs spill many times.

TOP = 2**64 - 1


def _expected_first_occurrences(chunks: list[list[int]]) -> list[list[bool]]:
    seen: set[int] = set()
    expected = []
    for chunk in chunks:
        flags = []
        for value in chunk:
            flags.append(value not in seen)
            seen.add(value)
        expected.append(flags)
    return expected


def _random_chunks(seed: int, chunk_size: int, draws: int, pool_size: int) -> list[list[int]]:
    generator = random.Random(seed)
    pool = [generator.getrandbits(64) for _ in range(pool_size)] + [0, TOP, 1, TOP - 1]
    values = [generator.choice(pool) for _ in range(draws)]
    return [values[start : start + chunk_size] for start in range(0, draws, chunk_size)]


@pytest.mark.parametrize(
    "chunk_size, filter_bits, index_stride, block_values",
    [
        (1, dedupe.FILTER_BITS, dedupe.INDEX_STRIDE, dedupe.SPILL_BLOCK_VALUES),
        (7, dedupe.FILTER_BITS, dedupe.INDEX_STRIDE, dedupe.SPILL_BLOCK_VALUES),
        (4096, dedupe.FILTER_BITS, dedupe.INDEX_STRIDE, dedupe.SPILL_BLOCK_VALUES),
        # A 64-bit filter lets nearly every value through, so the file lookup decides alone.
        (7, 64, dedupe.INDEX_STRIDE, dedupe.SPILL_BLOCK_VALUES),
        (4096, 64, 3, 7),
        (1, 64, 1, 1),
    ],
)
def test_spilling_matches_python_set(monkeypatch, chunk_size, filter_bits, index_stride, block_values):
    monkeypatch.setattr(dedupe, "FILTER_BITS", filter_bits)
    monkeypatch.setattr(dedupe, "INDEX_STRIDE", index_stride)
    monkeypatch.setattr(dedupe, "SPILL_BLOCK_VALUES", block_values)
    chunks = _random_chunks(chunk_size, chunk_size, draws=20_000, pool_size=6_000)
    deduplicator = Deduplicator(memory_budget=1000)

    for number, (chunk, expected) in enumerate(zip(chunks, _expected_first_occurrences(chunks))):
        assert deduplicator.first_occurrences(chunk) == expected, f"chunk {number}"

    distinct = len({value for chunk in chunks for value in chunk})
    assert deduplicator.distinct == distinct
    assert deduplicator.spilled >= distinct - 1000
    deduplicator.close()


@pytest.mark.parametrize("filter_bits", [dedupe.FILTER_BITS, 64])
def test_repeat_long_after_spill(monkeypatch, filter_bits):
    monkeypatch.setattr(dedupe, "FILTER_BITS", filter_bits)
    deduplicator = Deduplicator(memory_budget=1000)
    first = [0, TOP, 12345]
    assert deduplicator.first_occurrences(first) == [True, True, True]

    filler = iter(range(10**6, 10**6 + 10_000))
    for _ in range(100):
        deduplicator.first_occurrences([next(filler) for _ in range(100)])
    assert deduplicator.spilled >= 9_000

    assert deduplicator.first_occurrences([TOP, 7, 0, 12345, 7, 10**6]) == [False, True, False, False, False, False]
    assert deduplicator.first_occurrences([TOP - 1, 1]) == [True, True]
    assert deduplicator.distinct == 3 + 10_000 + 3
    deduplicator.close()


@pytest.mark.parametrize(
    "distinct, spilled",
    [
        (999, 0),
        (1000, 0),
        (1001, 1001),
        (2500, 1500),
    ],
)
def test_file_only_above_budget(distinct, spilled):
    deduplicator = Deduplicator(memory_budget=1000)
    for start in range(0, distinct, 500):
        deduplicator.first_occurrences(list(range(start, min(start + 500, distinct))))
    assert deduplicator.spilled == spilled
    assert deduplicator.distinct == distinct
    deduplicator.close()


def test_memory_stays_within_budget():
    deduplicator = Deduplicator(memory_budget=1000)
    generator = random.Random(5)
    for _ in range(40):
        deduplicator.first_occurrences([generator.getrandbits(64) for _ in range(250)])
        index_bytes = 8 * (deduplicator.spilled // dedupe.INDEX_STRIDE + 1)
        filter_bytes = dedupe.FILTER_BITS // 8 if deduplicator.spilled else 0
        assert deduplicator.memory_bytes <= 8 * 1000 + index_bytes + filter_bytes
    assert deduplicator.distinct == 10_000
    assert deduplicator.spilled >= 9_000
    deduplicator.close()


def _spill_files(deduplicator: Deduplicator, batches: int) -> list:
    """Spills once per batch of 1,500 new values; returns the file in use after each spill."""
    files = []
    for batch in range(batches):
        deduplicator.first_occurrences(list(range(batch * 1500, (batch + 1) * 1500)))
        files.append(deduplicator._spilled._file)
    return files


def test_close_deletes_every_file():
    deduplicator = Deduplicator(memory_budget=1000)
    files = _spill_files(deduplicator, batches=3)
    assert [spill_file.closed for spill_file in files] == [True, True, False]

    deduplicator.close()
    assert files[-1].closed
    assert deduplicator.spilled == 0
    assert deduplicator.memory_bytes == 0


def test_garbage_collection_closes_file():
    deduplicator = Deduplicator(memory_budget=1000)
    files = _spill_files(deduplicator, batches=2)
    assert not files[-1].closed

    del deduplicator
    gc.collect()
    assert all(spill_file.closed for spill_file in files)


@pytest.mark.parametrize("budget", [0, -1])
def test_budget_below_one_rejected(budget):
    with pytest.raises(ValueError, match="memory_budget"):
        Deduplicator(memory_budget=budget)
