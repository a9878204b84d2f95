"""SIGINT and SIGTERM during an upload: sending stops, the report counts what was sent, no traceback."""

from __future__ import annotations

import signal
import time

import pytest
from reliability_support import (
    COMMAND_TIMEOUT_SECONDS,
    USERS_ENDPOINT,
    finish_command,
    job_settings,
    make_contacts,
    record_figures,
    segment_of,
    start_command,
    total_requests,
    write_config,
    write_contacts_csv,
)

MAX_IN_FLIGHT = 4


def wait_for_uploads(sandbox, count: int, process) -> int:
    """Waits until the sandbox has counted ``count`` member requests; returns the count seen."""
    deadline = time.monotonic() + COMMAND_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        seen = total_requests(sandbox.state(include_members=False), USERS_ENDPOINT)
        if seen >= count:
            return seen
        assert process.poll() is None, "the job ended before the signal was sent"
        time.sleep(0.01)
    raise AssertionError(f"the sandbox did not see {count} uploads in time")


@pytest.mark.parametrize(
    ("signal_number", "exit_code", "skip_invalid"),
    [
        (signal.SIGINT, 130, True),
        (signal.SIGTERM, 143, True),
        (signal.SIGINT, 130, False),
        (signal.SIGTERM, 143, False),
    ],
    ids=["sigint-skip", "sigterm-skip", "sigint-stop", "sigterm-stop"],
)
def test_signal_stops_upload(tmp_path, start_sandbox, signal_number, exit_code, skip_invalid):
    contacts = make_contacts(20_000, seed=31)
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts)
    # 100 ms per response and 200 batches: the upload takes about 5 s, so the signal lands inside it.
    sandbox = start_sandbox(latency_seconds=0.1, users_requests_per_minute=100_000)
    settings = job_settings(
        sandbox.base_url,
        sandbox.authorize(),
        batch_size=100,
        ignore_invalid_records=skip_invalid,
        api={"max_in_flight": MAX_IN_FLIGHT},
    )
    config = write_config(tmp_path / "job.yml", settings)
    report_path = tmp_path / "report.json"
    process = start_command(
        ["run", "--config", str(config), "--input", str(input_path), "--report", str(report_path)]
    )

    seen_at_signal = wait_for_uploads(sandbox, 10, process)
    process.send_signal(signal_number)
    outcome = finish_command(process, report_path)

    assert outcome.exit_code == exit_code
    assert "Traceback" not in outcome.stderr
    assert f"interrupted by {signal.Signals(signal_number).name}" in outcome.stderr
    state = sandbox.state()
    # Requests already in flight finish; no new one starts.
    uploads = total_requests(state, USERS_ENDPOINT)
    assert uploads <= seen_at_signal + MAX_IN_FLIGHT
    assert uploads < len(contacts) // 100
    segment = segment_of(state, "Reliability contacts")
    report = outcome.report
    assert report is not None
    assert report["succeeded"] is False
    assert report["elements_sent"] == uploads * 100
    assert report["elements_accepted"] == segment["memberCount"]
    assert report["elements_accepted"] == report["elements_sent"]
    assert report["elements_not_sent"] == report["members_valid"] - report["elements_sent"]
    assert report["elements_not_sent"] > 0
    assert report["members_valid"] + report["rows_invalid"] + report["duplicates"] == report["rows_read"]
    if not skip_invalid:
        # Stop mode reads the whole input before the upload starts.
        assert report["rows_read"] == len(contacts)
    record_figures(
        f"signal_stops_upload[{signal.Signals(signal_number).name}, {'skip' if skip_invalid else 'stop'} mode]",
        {
            "uploads_seen_at_signal": seen_at_signal,
            "uploads_in_total": uploads,
            **{key: report[key] for key in ("rows_read", "elements_accepted", "elements_not_sent")},
        },
    )
