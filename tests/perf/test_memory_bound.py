"""Peak memory of a dry run does not grow with the number of rows.

Each job runs in its own interpreter so that its peak resident set size is its own. Ten times the
rows may add only a small fraction to the peak: a per-row leak of even 100 bytes (dedupe kept in
a Python set, a list of all members, rejections kept for the report) would exceed it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in kilobytes on Linux only")

SMALL_ROWS = 20_000
LARGE_ROWS = 200_000
# The larger run may use at most this much more memory than the smaller one. Both share about
# 60 MB of interpreter, numpy and requests, so 15% is about 9 MB: 50 bytes per extra row.
MAX_GROWTH = 1.15


def write_config(path: Path, *, ignore_invalid_records: bool) -> Path:
    config = {
        "type": "linkedin",
        "ad_account_id": "512345678",
        "segment_name": "Memory test",
        "ignore_invalid_records": ignore_invalid_records,
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "ignore_invalid_records", "with_invalid"),
    [
        ("skip", True, True),
        # Stop mode spools every member to disk before sending, so the spool must not live in memory.
        ("stop", False, False),
    ],
)
def test_dry_run_memory_flat(tmp_path, bench_generate, run_job, mode, ignore_invalid_records, with_invalid):
    config = write_config(tmp_path / f"{mode}.json", ignore_invalid_records=ignore_invalid_records)
    runs = {}
    for rows in (SMALL_ROWS, LARGE_ROWS):
        paths = bench_generate.write_files(rows, tmp_path, with_invalid=with_invalid, msgpack_copy=False)
        counts = json.loads(paths["counts"].read_text(encoding="utf-8"))
        run = run_job(config, paths["csv"], "--dry-run", "--payload-out", str(tmp_path / "requests.jsonl"))

        assert run.exit_code == 0, run.stderr[-2000:]
        assert run.report["rows_read"] == rows
        assert run.report["rows_invalid"] == counts["invalid_rows"]
        assert run.report["members_valid"] + run.report["duplicates"] + run.report["rows_invalid"] == rows
        # Every valid member went into a request body.
        with open(tmp_path / "requests.jsonl", "rb") as payloads:
            assert sum(len(json.loads(line)["body"]["elements"]) for line in payloads) == run.report["members_valid"]
        runs[rows] = run

    small, large = runs[SMALL_ROWS].peak_rss_bytes, runs[LARGE_ROWS].peak_rss_bytes
    assert large <= small * MAX_GROWTH, f"peak RSS {small / 2**20:.1f} MB at {SMALL_ROWS} rows, {large / 2**20:.1f} MB at {LARGE_ROWS}"


def test_generator_deterministic(bench_generate):
    first = list(bench_generate.generate(2000, seed=7))
    again = list(bench_generate.generate(2000, seed=7))
    other_seed = list(bench_generate.generate(2000, seed=8))

    assert first == again
    assert first != other_seed
    assert all(len(row) == len(bench_generate.COLUMNS) for row in first)
