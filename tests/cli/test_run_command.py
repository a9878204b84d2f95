"""The `run` command end to end, on the bundled examples: dry run, sandbox, stop mode, bad configs."""

from __future__ import annotations

import hashlib
import json

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write_config(tmp_path: Path, text: str, name: str = "job.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


USERS = str(EXAMPLES / "users.yml")
CONTACTS = str(EXAMPLES / "contacts.csv")
# examples/contacts.csv: 300 rows, 75 invalid, 15 duplicates of earlier addresses.
EXPECTED_CONTACT_COUNTS = {"rows_read": 300, "rows_invalid": 75, "duplicates": 15, "members_valid": 210}


def counts(report: dict) -> dict:
    return {key: report[key] for key in EXPECTED_CONTACT_COUNTS}


def test_dry_run_example_counts(run_cli):
    outcome = run_cli("run", "--config", USERS, "--input", CONTACTS, "--dry-run")
    assert outcome.exit_code == 0
    assert counts(outcome.report) == EXPECTED_CONTACT_COUNTS
    assert outcome.report["dry_run"] is True
    assert outcome.report["elements_sent"] == 0
    assert outcome.report["batches"] == 1
    assert outcome.report["rows_invalid"] == len(outcome.report["invalid"])
    assert outcome.report["values_left_out"]["title"] == 15
    assert outcome.report["values_left_out"]["country"] == 15
    assert outcome.report["values_left_out"]["apple_idfa"] == 15


def test_dry_run_msgpack_gives_same_report(run_cli, contacts_msgpack_gz):
    from_csv = run_cli("run", "--config", USERS, "--input", CONTACTS, "--dry-run").report
    from_msgpack = run_cli("run", "--config", USERS, "--input", str(contacts_msgpack_gz), "--dry-run").report
    for report in (from_csv, from_msgpack):
        report.pop("duration_seconds")
    assert from_msgpack == from_csv


def test_payload_holds_hashes_not_addresses(run_cli, tmp_path):
    payload = tmp_path / "payload.jsonl"
    outcome = run_cli("run", "--config", USERS, "--input", CONTACTS, "--dry-run", "--payload-out", str(payload))
    assert outcome.exit_code == 0

    lines = payload.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    request = json.loads(lines[0])
    assert request["method"] == "POST"
    assert request["path"] == "/rest/dmpSegments/DRY_RUN/users"
    elements = request["body"]["elements"]
    assert len(elements) == EXPECTED_CONTACT_COUNTS["members_valid"]
    assert "@" not in lines[0]
    assert '""' not in lines[0]

    # Row 4 of the example is "  alice.anderson4@example.net " with stray spaces.
    expected_hash = hashlib.sha256(b"alice.anderson4@example.net").hexdigest()
    hashes = {user_id["idValue"] for element in elements for user_id in element["userIds"]}
    assert expected_hash in hashes


def test_job_log_names_rows_not_values(run_cli):
    outcome = run_cli("run", "--config", USERS, "--input", CONTACTS, "--dry-run")
    assert "@example." not in outcome.stderr
    assert "row 14, column email" in outcome.stderr
    assert "summary:" in outcome.stderr
    assert "customer_id" in outcome.stderr  # the unknown column is named in one warning


def test_stop_mode_fails_before_sending(run_cli, tmp_path):
    config = write_config(
        tmp_path,
        'ad_account_id: "123"\nsegment_name: Stop mode\nignore_invalid_records: false\n',
    )
    payload = tmp_path / "payload.jsonl"
    outcome = run_cli("run", "--config", str(config), "--input", CONTACTS, "--dry-run", "--payload-out", str(payload))
    assert outcome.exit_code == 1
    assert payload.read_text() == ""
    assert outcome.report["succeeded"] is False
    assert outcome.report["rows_invalid"] == 75
    assert outcome.report["elements_not_sent"] == 0  # a dry run sends nothing in any mode
    assert "ignore_invalid_records" in outcome.stderr


def test_stop_mode_sandbox_reports_not_sent(run_cli, tmp_path):
    config = write_config(tmp_path, 'ad_account_id: "123"\nsegment_name: Stop mode\n')
    outcome = run_cli("run", "--config", str(config), "--input", CONTACTS, "--sandbox")
    assert outcome.exit_code == 1
    assert outcome.report["members_valid"] == 210
    assert outcome.report["elements_sent"] == 0
    assert outcome.report["elements_not_sent"] == 210
    assert outcome.report["segment_id"] is None


def test_stdin_without_format_is_usage_error(run_cli, monkeypatch):
    outcome = run_cli("run", "--config", USERS, "--input", "-", "--dry-run")
    assert outcome.exit_code == 2
    assert "--format" in outcome.stderr


def test_bad_config_lists_every_problem(run_cli, tmp_path):
    config = write_config(
        tmp_path,
        "ad_account_id: abc\nmode: append\nbatch_size: 6000\nunknown_key: 1\n",
    )
    outcome = run_cli("run", "--config", str(config), "--input", CONTACTS, "--dry-run")
    assert outcome.exit_code == 2
    for key in ("ad_account_id", "mode", "batch_size", "unknown_key", "segment_name"):
        assert key in outcome.stderr, key
        assert key in outcome.report["error"], key
    assert outcome.report["succeeded"] is False
    assert outcome.report["rows_read"] == 0


def test_missing_identifying_column(run_cli, tmp_path):
    source = tmp_path / "no_ids.csv"
    source.write_text("customer_id,score\n1,2\n", encoding="utf-8")
    outcome = run_cli("run", "--config", USERS, "--input", str(source), "--dry-run")
    assert outcome.exit_code == 1
    assert "customer_id" in outcome.stderr
    assert "email" in outcome.stderr


@pytest.mark.parametrize(
    ("config", "source", "members"),
    [("users.yml", "contacts.csv", 210), ("companies.yml", "accounts.csv", None)],
)
def test_sandbox_run_lands_members(run_cli, config, source, members):
    outcome = run_cli("run", "--config", str(EXAMPLES / config), "--input", str(EXAMPLES / source), "--sandbox")
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.report
    assert report["sandbox"] is True
    assert report["segment_created"] is True
    assert report["elements_failed"] == 0
    assert report["elements_accepted"] == report["members_valid"]
    assert report["segment_member_count"] == report["members_valid"]
    if members is not None:
        assert report["members_valid"] == members


def test_sandbox_add_then_remove_empties_segment(run_cli, tmp_path):
    state = tmp_path / "sandbox.json"
    added = run_cli("run", "--config", USERS, "--input", CONTACTS, "--sandbox", "--sandbox-state", str(state))
    assert added.exit_code == 0, added.stderr
    assert added.report["segment_member_count"] == 210

    remove_config = write_config(
        tmp_path,
        (EXAMPLES / "users.yml").read_text(encoding="utf-8").replace("mode: add", "mode: remove"),
        name="remove.yml",
    )
    removed = run_cli("run", "--config", str(remove_config), "--input", CONTACTS, "--sandbox", "--sandbox-state", str(state))
    assert removed.exit_code == 0, removed.stderr
    assert removed.report["segment_created"] is False
    assert removed.report["segment_id"] == added.report["segment_id"]
    assert removed.report["segment_member_count"] == 0


def test_remove_mode_missing_segment_fails(run_cli, tmp_path):
    remove_config = write_config(
        tmp_path,
        (EXAMPLES / "users.yml").read_text(encoding="utf-8").replace("mode: add", "mode: remove"),
    )
    outcome = run_cli("run", "--config", str(remove_config), "--input", CONTACTS, "--sandbox")
    assert outcome.exit_code == 1
    assert outcome.report["elements_sent"] == 0
    assert "Example newsletter subscribers" in outcome.stderr


def test_about_prints_registration(run_cli):
    outcome = run_cli("about")
    assert outcome.exit_code == 0
    registration = json.loads(outcome.stdout)
    assert registration["name"] == "linkedin"
    assert registration["kind"] == "result_output"


@pytest.mark.parametrize(("header", "words"), [("email;first_name", "separated by semicolons"), ("email|name", "separated by vertical bars")])
def test_other_delimiter_gets_hint(run_cli, tmp_path, header, words):
    source = tmp_path / "export.csv"
    source.write_text(f"{header}\na@example.com;Ann\n", encoding="utf-8")
    outcome = run_cli("run", "--config", USERS, "--input", str(source), "--dry-run")
    assert outcome.exit_code == 1
    assert words in outcome.stderr
    assert "a@example.com" not in outcome.stderr


def test_jsonl_keys_missing_in_first_row(run_cli, tmp_path):
    # Exporters leave out null keys, so the first object need not name every column.
    source = tmp_path / "result.jsonl"
    source.write_text(
        '{"first_name": "Bo"}\n'
        '{"email": "a@example.com"}\n'
        '{"google_aid": "38400000-8CF0-11BD-B23E-10B96E40000D", "first_name": "Ann", "last_name": "Lee", "country": "us"}\n',
        encoding="utf-8",
    )
    payload = tmp_path / "payload.jsonl"
    outcome = run_cli("run", "--config", USERS, "--input", str(source), "--dry-run", "--payload-out", str(payload))
    assert outcome.exit_code == 0
    assert outcome.report["members_valid"] == 2
    assert outcome.report["invalid"] == [
        {"row": 1, "column": "last_name", "reason": "missing: without email or google_aid, a row needs both first_name and last_name", "source": "input"}
    ]
    elements = json.loads(payload.read_text(encoding="utf-8"))["body"]["elements"]
    assert elements[1] == {
        "action": "ADD",
        "userIds": [{"idType": "GOOGLE_AID", "idValue": "38400000-8cf0-11bd-b23e-10b96e40000d"}],
        "firstName": "Ann",
        "lastName": "Lee",
        "country": "US",
    }


def test_headerless_csv_names_no_values(run_cli, tmp_path):
    source = tmp_path / "no_header.csv"
    source.write_text("jane.doe@example.com,Jane,Doe\njohn@example.com,John,Roe\n", encoding="utf-8")
    outcome = run_cli("run", "--config", USERS, "--input", str(source), "--dry-run")
    assert outcome.exit_code == 1
    assert "no header row" in outcome.stderr
    for value in ("jane.doe", "Jane", "Doe"):
        assert value not in outcome.stderr
        assert value not in outcome.report["error"]


@pytest.mark.parametrize(
    ("option", "extra"),
    [("--payload-out", ("--dry-run",)), ("--sandbox-state", ("--sandbox",))],
)
def test_unwritable_output_path_is_usage_error(run_cli, option, extra):
    outcome = run_cli("run", "--config", USERS, "--input", CONTACTS, *extra, option, "/nonexistent/folder/file.json")
    assert outcome.exit_code == 2
    assert option in outcome.stderr
    assert "internal error" not in outcome.stderr


@pytest.mark.parametrize("first_row", ["Alice,Smith,US", "Acme Corp,acme.example,Austin"])
def test_headerless_names_not_echoed(run_cli, tmp_path, first_row):
    source = tmp_path / "no_header.csv"
    source.write_text(f"{first_row}\nBob,Jones,FR\n", encoding="utf-8")
    outcome = run_cli("run", "--config", USERS, "--input", str(source), "--dry-run")
    assert outcome.exit_code == 1
    assert "3 names not shown" in outcome.stderr
    for value in first_row.split(","):
        assert value not in outcome.stderr
        assert value not in outcome.report["error"]


def test_jsonl_later_keys_logged_once(run_cli, tmp_path):
    source = tmp_path / "result.jsonl"
    source.write_text(
        '{"first_name": "Bo", "country": "us"}\n'
        '{"email": "a@example.com", "shoe_size": 9}\n'
        '{"email": "b@example.com", "shoe_size": 10}\n',
        encoding="utf-8",
    )
    outcome = run_cli("run", "--config", USERS, "--input", str(source), "--dry-run")
    assert outcome.exit_code == 0
    assert outcome.stderr.count("columns first seen in row 2: email") == 1
    assert outcome.stderr.count("ignoring keys first seen in row 2: shoe_size") == 1
