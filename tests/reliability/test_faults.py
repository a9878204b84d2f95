"""LinkedIn's failure modes, injected by the sandbox: the job either delivers every member or reports what it did not deliver."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from reliability_support import (
    TOKEN_ENDPOINT,
    USERS_ENDPOINT,
    expected_hashes,
    job_settings,
    make_contacts,
    member_hashes,
    record_figures,
    request_counts,
    run_command,
    segment_of,
    total_requests,
    write_config,
    write_contacts_csv,
)

# 10% 5xx, 5% 429 (half without Retry-After) and 1% dropped connections on the member endpoints.
LINKEDIN_FAULTS = {
    "500": 0.04,
    "502": 0.02,
    "503": 0.02,
    "504": 0.02,
    "429": 0.025,
    "429_no_retry_after": 0.025,
    "drop": 0.01,
}
FAULT_STATUSES = {"500", "502", "503", "504", "429", "drop"}


def run_job(tmp_path: Path, name: str, settings: dict, input_path: Path):
    config = write_config(tmp_path / f"{name}.yml", settings)
    report = tmp_path / f"{name}.report.json"
    started = time.monotonic()
    outcome = run_command(["run", "--config", str(config), "--input", str(input_path)], report_path=report)
    return outcome, time.monotonic() - started


@pytest.mark.slow
def test_faulty_linkedin_loses_no_member(tmp_path, start_sandbox):
    contacts = make_contacts(200_000, duplicate_every=97)
    expected = expected_hashes(contacts)
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts)
    sandbox = start_sandbox(
        faults=LINKEDIN_FAULTS,
        seed=11,
        access_token_lifetime_requests=50,
        users_requests_per_minute=100_000,
    )
    credentials = sandbox.authorize()

    added, add_seconds = run_job(
        tmp_path, "add", job_settings(sandbox.base_url, credentials, batch_size=1000), input_path
    )
    assert added.exit_code == 0, added.stderr[-2000:]
    assert "Traceback" not in added.stderr
    state = sandbox.state()
    segment = segment_of(state, "Reliability contacts")
    assert member_hashes(segment) == expected
    assert segment["memberCount"] == len(expected)
    assert added.report["elements_accepted"] == len(expected)
    assert added.report["elements_not_sent"] == 0
    add_statuses = request_counts(state, USERS_ENDPOINT)
    # The run only proves something when the faults really happened.
    assert FAULT_STATUSES <= set(add_statuses)
    assert add_statuses["401"] >= 3

    removed, remove_seconds = run_job(
        tmp_path, "remove", job_settings(sandbox.base_url, credentials, batch_size=1000, mode="remove"), input_path
    )
    assert removed.exit_code == 0, removed.stderr[-2000:]
    state = sandbox.state()
    segment = segment_of(state, "Reliability contacts")
    assert segment["members"] == []
    assert segment["memberCount"] == 0
    assert removed.report["elements_accepted"] == len(expected)

    all_statuses = request_counts(state, USERS_ENDPOINT)
    record_figures(
        "faulty_linkedin_loses_no_member",
        {
            "rows": len(contacts),
            "members": len(expected),
            "add_seconds": round(add_seconds, 1),
            "remove_seconds": round(remove_seconds, 1),
            "add_requests_by_status": add_statuses,
            "add_and_remove_requests_by_status": all_statuses,
            "token_requests": request_counts(state, TOKEN_ENDPOINT),
        },
    )


def test_new_segment_not_found_at_first(tmp_path, start_sandbox):
    contacts = make_contacts(20_000, seed=3)
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts)
    sandbox = start_sandbox(new_segment_not_found_seconds=1.5, users_requests_per_minute=100_000)
    settings = job_settings(
        sandbox.base_url, sandbox.authorize(), batch_size=1000, api={"new_segment_wait_seconds": 0.2}
    )

    outcome, _ = run_job(tmp_path, "job", settings, input_path)

    assert outcome.exit_code == 0, outcome.stderr[-2000:]
    state = sandbox.state()
    assert request_counts(state, USERS_ENDPOINT).get("404", 0) >= 1
    segment = segment_of(state, "Reliability contacts")
    assert member_hashes(segment) == expected_hashes(contacts)
    assert outcome.report["segment_created"] is True
    assert outcome.report["elements_accepted"] == len(contacts)
    record_figures(
        "new_segment_not_found_at_first",
        {"members": len(contacts), "requests_by_status": request_counts(state, USERS_ENDPOINT)},
    )


def test_retries_run_out_report_counts(tmp_path, start_sandbox):
    contacts = make_contacts(20_000, seed=5)
    expected = expected_hashes(contacts)
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts)
    # Each attempt fails with probability 0.3 and a batch has two attempts, so about one batch in
    # eleven fails for good; with this seed the first such batch is neither the first nor the last.
    sandbox = start_sandbox(faults={"503": 0.3}, seed=4, users_requests_per_minute=100_000)
    settings = job_settings(sandbox.base_url, sandbox.authorize(), batch_size=500, api={"max_attempts": 2})

    outcome, _ = run_job(tmp_path, "job", settings, input_path)

    assert outcome.exit_code == 1
    assert "Traceback" not in outcome.stderr
    report = outcome.report
    assert report["succeeded"] is False
    assert "gave up after 2 attempts" in report["error"]
    assert "api.max_attempts" in report["error"]
    segment = segment_of(sandbox.state(), "Reliability contacts")
    delivered = member_hashes(segment)
    assert delivered < expected
    assert report["members_valid"] == len(expected)
    assert report["elements_accepted"] == len(delivered)
    assert report["elements_failed"] == 0
    assert report["elements_not_sent"] == len(expected) - len(delivered)
    assert report["elements_not_sent"] > 0
    assert report["elements_sent"] == report["elements_accepted"]
    assert f"not sent {report['elements_not_sent']}" in outcome.stderr
    record_figures(
        "retries_run_out_report_counts",
        {key: report[key] for key in ("members_valid", "elements_accepted", "elements_not_sent", "requests")},
    )


def revoke_after_uploads(sandbox, uploads: int, done: threading.Event) -> threading.Thread:
    """Revokes the sandbox's refresh tokens once it has counted ``uploads`` member requests."""

    def watch() -> None:
        while not done.is_set():
            if total_requests(sandbox.state(include_members=False), USERS_ENDPOINT) >= uploads:
                sandbox.revoke_refresh_tokens()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


TOKEN_LIFETIME_REQUESTS = 30


def run_until_refresh_token_revoked(tmp_path, start_sandbox):
    """Runs a job whose access token expires after the sandbox revoked its refresh token."""
    contacts = make_contacts(20_000, seed=9)
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts)
    # Every response takes 20 ms, so the 30 requests of the first access token take at least
    # 150 ms with 4 in flight: time enough for the watcher to revoke after the third upload.
    sandbox = start_sandbox(
        access_token_lifetime_requests=TOKEN_LIFETIME_REQUESTS, latency_seconds=0.02, users_requests_per_minute=100_000
    )
    credentials = sandbox.authorize()
    settings = job_settings(sandbox.base_url, credentials, batch_size=200)
    settings["auth"]["access_token"] = credentials.access_token
    done = threading.Event()
    watcher = revoke_after_uploads(sandbox, 3, done)
    try:
        outcome, _ = run_job(tmp_path, "job", settings, input_path)
    finally:
        done.set()
        watcher.join()
    return contacts, sandbox, outcome


def test_refresh_token_revoked_mid_run(tmp_path, start_sandbox):
    contacts, sandbox, outcome = run_until_refresh_token_revoked(tmp_path, start_sandbox)

    assert outcome.exit_code == 1
    assert "Traceback" not in outcome.stderr
    assert "invalid_grant" in outcome.report["error"]
    assert "authorize the connection again" in outcome.report["error"]
    assert "authorize the connection again" in outcome.stderr
    state = sandbox.state()
    # The job started with an access token, so its only token request is the one refresh that
    # failed, although several upload threads met the expired token at once.
    assert request_counts(state, TOKEN_ENDPOINT) == {"400": 1}
    segment = segment_of(state, "Reliability contacts")
    # The first token served the segment finder, the create and 28 uploads of 200 members.
    assert segment["memberCount"] == (TOKEN_LIFETIME_REQUESTS - 2) * 200
    assert outcome.report["elements_accepted"] == segment["memberCount"]
    assert outcome.report["elements_not_sent"] == len(contacts) - segment["memberCount"]

