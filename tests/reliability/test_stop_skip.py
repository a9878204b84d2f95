"""Stop and skip modes on large inputs: what is sent, what is counted, and which rows are named."""

from __future__ import annotations

import pytest
from reliability_support import (
    USERS_ENDPOINT,
    Contact,
    job_settings,
    make_contacts,
    member_hashes,
    request_counts,
    run_command,
    segment_of,
    sha256_email,
    write_config,
    write_contacts_csv,
)

from td_output_linkedin.sandbox import api as sandbox_api
from td_output_linkedin.sandbox.validation import check_user


def run_job(tmp_path, settings, input_path):
    config = write_config(tmp_path / "job.yml", settings)
    return run_command(
        ["run", "--config", str(config), "--input", str(input_path)], report_path=tmp_path / "report.json"
    )


def test_stop_mode_invalid_row_sends_nothing(tmp_path, start_sandbox):
    contacts = make_contacts(200_000, seed=21)
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts, replace={150_000: ("not-an-address", "", "")})
    sandbox = start_sandbox()
    settings = job_settings(sandbox.base_url, sandbox.authorize(), ignore_invalid_records=False)

    outcome = run_job(tmp_path, settings, input_path)

    assert outcome.exit_code == 1
    assert "Traceback" not in outcome.stderr
    state = sandbox.state()
    assert request_counts(state, USERS_ENDPOINT) == {}
    # Validation ends before the segment lookup, so LinkedIn is not contacted at all.
    assert state["requests"] == {}
    assert state["segments"] == []
    report = outcome.report
    assert report["rows_read"] == 200_000
    assert report["rows_invalid"] == 1
    assert [(item["row"], item["column"], item["source"]) for item in report["invalid"]] == [(150_000, "email", "input")]
    assert report["elements_sent"] == 0
    assert "row 150000" in report["error"]
    assert "row 150000, column email" in outcome.stderr


# Rows made invalid on purpose (1-based); an invalid address and no names leave a row without identifier.
INVALID_ROWS = (1, 2, 999, 1000, 1001, 4321, 9999, 10_000)
# Rows whose element the sandbox rejects, as LinkedIn may reject an element it will not process.
REJECTED_ROWS = (3, 700, 701, 1400, 5555, 9998)


def first_occurrences(contacts: list[Contact], invalid_rows: set[int]) -> tuple[dict[str, int], list[int]]:
    """Map each valid address's hash to the row where it first appears, and list the duplicate rows."""
    first_row: dict[str, int] = {}
    duplicate_rows = []
    for number, contact in enumerate(contacts, start=1):
        if number in invalid_rows:
            continue
        digest = contact.hashed_email
        if digest in first_row:
            duplicate_rows.append(number)
        else:
            first_row[digest] = number
    return first_row, duplicate_rows


@pytest.fixture
def rejecting_sandbox(start_sandbox, monkeypatch):
    """A sandbox that returns 400 INVALID_VALUE for the elements whose hash is in the returned set."""
    rejected: set[str] = set()

    def check(element: object):
        user_ids = element.get("userIds", []) if isinstance(element, dict) else []
        if any(user_id.get("idValue") in rejected for user_id in user_ids):
            return "userIds: the member is not accepted"
        return check_user(element)

    monkeypatch.setitem(sandbox_api.MEMBER_CHECKS, "users", check)
    return start_sandbox(users_requests_per_minute=100_000), rejected


def test_skip_mode_counts_and_row_numbers(tmp_path, rejecting_sandbox):
    sandbox, rejected = rejecting_sandbox
    contacts = make_contacts(10_000, seed=23, duplicate_every=37)
    replace = {row: ("broken@", "", "") for row in INVALID_ROWS}
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts, replace=replace)
    first_row, duplicate_rows = first_occurrences(contacts, set(INVALID_ROWS))
    # Rejected rows must be first occurrences, so that the row LinkedIn's failure maps to is that row.
    for row in REJECTED_ROWS:
        digest = contacts[row - 1].hashed_email
        assert first_row[digest] == row
        rejected.add(digest)
    settings = job_settings(sandbox.base_url, sandbox.authorize(), ignore_invalid_records=True, batch_size=700)

    outcome = run_job(tmp_path, settings, input_path)

    assert outcome.exit_code == 0, outcome.stderr[-2000:]
    report = outcome.report
    assert report["rows_read"] == 10_000
    assert report["rows_invalid"] == len(INVALID_ROWS)
    assert report["duplicates"] == len(duplicate_rows)
    assert report["members_valid"] == len(first_row)
    assert report["rows_read"] == report["members_valid"] + report["rows_invalid"] + report["duplicates"]
    assert report["elements_sent"] == report["members_valid"]
    assert report["elements_failed"] == len(REJECTED_ROWS)
    assert report["elements_sent"] == report["elements_accepted"] + report["elements_failed"]
    assert report["elements_not_sent"] == 0

    input_rows = sorted(item["row"] for item in report["invalid"] if item["source"] == "input")
    linkedin_rows = sorted(item["row"] for item in report["invalid"] if item["source"] == "linkedin")
    assert input_rows == list(INVALID_ROWS)
    assert linkedin_rows == list(REJECTED_ROWS)
    for row in REJECTED_ROWS:
        assert f"row {row}: LinkedIn returned HTTP 400 INVALID_VALUE" in outcome.stderr

    segment = segment_of(sandbox.state(), "Reliability contacts")
    assert member_hashes(segment) == set(first_row) - rejected


def test_stop_mode_linkedin_rejection_fails(tmp_path, rejecting_sandbox):
    sandbox, rejected = rejecting_sandbox
    contacts = make_contacts(3000, seed=29)
    rejected.add(sha256_email(contacts[1499].email))
    input_path = write_contacts_csv(tmp_path / "contacts.csv", contacts)
    settings = job_settings(
        sandbox.base_url, sandbox.authorize(), ignore_invalid_records=False, batch_size=500, api={"max_in_flight": 1}
    )

    outcome = run_job(tmp_path, settings, input_path)

    assert outcome.exit_code == 1
    report = outcome.report
    assert [(item["row"], item["source"]) for item in report["invalid"]] == [(1500, "linkedin")]
    assert "rows 1500" in report["error"]
    # One request at a time: the batch holding row 1500 is the third, and no batch starts after it.
    segment = segment_of(sandbox.state(), "Reliability contacts")
    assert segment["memberCount"] == 1499
    assert report["elements_accepted"] == 1499
    assert report["elements_failed"] == 1
    assert report["elements_not_sent"] == 1500
