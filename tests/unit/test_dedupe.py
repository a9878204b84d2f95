import random

import pytest

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
