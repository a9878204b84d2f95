"""A job whose csv rows worker processes build gives the same report, request bodies and segment as one process."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from integration_support import sandbox_job_settings

from td_output_linkedin import parallel
from td_output_linkedin.plugin import run
from td_output_linkedin.sandbox import Sandbox, SandboxOptions
from td_output_linkedin.sources import open_source

ROWS = 9_000


def write_contacts(path: Path, *, invalid: bool) -> None:
    lines = ["email,first_name,last_name,country"]
    for number in range(ROWS):
        if invalid and number % 97 == 5:
            lines.append("no-at-sign,,,US")
        else:
            # Every 10th person appears twice, and some names need quotes.
            person = number - 1 if number % 10 == 9 else number
            lines.append(f'Person.{person}@Example.com,"Ann, {person % 7}",Lee,fr')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def dry_run(path: Path, workers: int, ignore_invalid_records: bool) -> tuple[dict[str, Any], bytes]:
    payload = io.BytesIO()
    settings = {
        "ad_account_id": "5001",
        "segment_name": "workers",
        "ignore_invalid_records": ignore_invalid_records,
        "worker_processes": workers,
    }
    with open_source(path) as source:
        try:
            report = run(settings, source, dry_run=True, payload_out=payload).to_report()
        except Exception as error:  # the stop-mode case fails on purpose; its counts still compare
            report = error.result.to_report()  # type: ignore[attr-defined]
    report.pop("duration_seconds")
    return report, payload.getvalue()


@pytest.fixture(autouse=True)
def pools(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Small blocks, so that both workers take many, and the pools the jobs start."""
    monkeypatch.setattr(parallel, "BLOCK_CHARS", 4096)
    started: list[Any] = []
    real_pool = parallel.ProcessPoolExecutor

    def counted_pool(*args: Any, **kwargs: Any) -> Any:
        pool = real_pool(*args, **kwargs)
        started.append(pool)
        return pool

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", counted_pool)
    return started


@pytest.mark.parametrize(
    ("ignore_invalid_records", "invalid"),
    [
        pytest.param(True, True, id="skip mode"),
        pytest.param(False, False, id="stop mode, all rows valid"),
        pytest.param(False, True, id="stop mode, invalid rows"),
    ],
)
def test_workers_change_nothing_in_a_dry_run(
    tmp_path: Path, pools: list[Any], ignore_invalid_records: bool, invalid: bool
) -> None:
    path = tmp_path / "contacts.csv"
    write_contacts(path, invalid=invalid)

    one_process = dry_run(path, 1, ignore_invalid_records)
    assert pools == []
    workers = dry_run(path, 2, ignore_invalid_records)

    assert len(pools) == 1
    assert workers == one_process
    report, payload = workers
    invalid_rows = len([number for number in range(ROWS) if number % 97 == 5]) if invalid else 0
    assert report["rows_read"] == ROWS
    assert report["rows_invalid"] == invalid_rows
    if not report["succeeded"]:
        assert report["invalid"][0] == {"row": 6, "column": "email", "reason": "not a valid email address", "source": "input"}
        assert payload == b""
        return
    # A repeat counts as a duplicate unless it, or the row it repeats, is invalid.
    valid = [number % 97 != 5 or not invalid for number in range(ROWS)]
    assert report["duplicates"] == len([n for n in range(ROWS) if n % 10 == 9 and valid[n] and valid[n - 1]])
    bodies = [orjson.loads(line)["body"]["elements"] for line in payload.splitlines()]
    assert sum(map(len, bodies)) == report["members_valid"]
    assert bodies[0][0]["userIds"][0]["idValue"] == hashlib.sha256(b"person.0@example.com").hexdigest()


def test_workers_fill_the_sandbox_segment(tmp_path: Path, pools: list[Any]) -> None:
    path = tmp_path / "contacts.csv"
    write_contacts(path, invalid=False)
    expected = {hashlib.sha256(f"person.{n - 1 if n % 10 == 9 else n}@example.com".encode()).hexdigest() for n in range(ROWS)}

    # Some elements fail for a temporary reason, so that resent subsets of batches are covered too.
    with Sandbox(SandboxOptions(users_requests_per_minute=100_000, element_fault_rate=0.02, seed=5)) as sandbox:
        settings = sandbox_job_settings(sandbox, segment_name="workers", worker_processes=2, batch_size=1000)
        with open_source(path) as source:
            result = run(settings, source)
        members = sandbox.members(result.segment_id)

    stored = {user_id["idValue"] for member in members for user_id in member["userIds"]}
    assert len(pools) == 1
    assert result.elements_failed == 0
    assert result.elements_accepted == len(expected) == result.members_valid
    assert stored == expected
