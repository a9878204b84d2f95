"""Malformed and hostile input files and configs: a clear error naming the row or key, never a traceback."""

from __future__ import annotations

import gzip
import json

import msgpack
import pytest
from reliability_support import (
    job_settings,
    make_contacts,
    member_hashes,
    run_in_process,
    sha256_email,
    write_config,
)

HEADER = "email,first_name,last_name\n"
TEN_MEGABYTES = 10 * 1024 * 1024


def good(number: int) -> str:
    return f"good{number}@example.org"


def csv_line(number: int) -> str:
    return f"{good(number)},First{number},Last{number}\n"


def csv_bytes(*lines: str | bytes) -> bytes:
    return HEADER.encode() + b"".join(line.encode() if isinstance(line, str) else line for line in lines)


@pytest.fixture
def sandbox_job(tmp_path, start_sandbox):
    """Runs the command in this process against a sandbox and returns the outcome and the members' hashes."""
    sandbox = start_sandbox(users_requests_per_minute=100_000)
    credentials = sandbox.authorize()

    def run(name: str, data: bytes, *, skip_invalid: bool = True, extra: tuple[str, ...] = ()):
        input_path = tmp_path / name
        input_path.write_bytes(data)
        settings = job_settings(sandbox.base_url, credentials, segment_name=name, ignore_invalid_records=skip_invalid)
        config = write_config(tmp_path / "job.yml", settings)
        outcome = run_in_process(
            ["run", "--config", str(config), "--input", str(input_path), *extra], report_path=tmp_path / "report.json"
        )
        segments = [segment for segment in sandbox.state()["segments"] if segment["name"] == name]
        members = member_hashes(segments[0]) if segments else set()
        return outcome, members

    return run


def assert_clean_failure(outcome, exit_codes=(0, 1)) -> None:
    assert outcome.exit_code in exit_codes
    assert "Traceback" not in outcome.stderr
    assert "internal error" not in outcome.stderr


def hashes_of(numbers) -> set[str]:
    return {sha256_email(good(number)) for number in numbers}


def rejected_rows(report) -> list[int]:
    return sorted(item["row"] for item in report["invalid"] if item["source"] == "input")


# name, input bytes, rows named as invalid, good rows that must arrive.
SKIPPED_ROW_CASES = [
    (
        "quote-inside-cell.csv",
        csv_bytes(csv_line(1), '"bad@example.org"x,First,Last\n', csv_line(3)),
        [2],
        [1, 3],
    ),
    (
        "ragged-rows.csv",
        csv_bytes(csv_line(1), "short@example.org,OnlyFirst\n", csv_line(3), "long@example.org,A,B,C,D\n", csv_line(5)),
        [2, 4],
        [1, 3, 5],
    ),
    (
        "invalid-utf8.csv",
        csv_bytes(csv_line(1), b"caf\xe9\xff@example.org,\xfe\xfe,\xc3\n", csv_line(3)),
        [2],
        [1, 3],
    ),
    (
        "nul-bytes.csv",
        csv_bytes(csv_line(1), "nul\x00@example.org,\x00,\x00\n", csv_line(3)),
        [2],
        [1, 3],
    ),
    (
        "ten-megabyte-cell.csv",
        csv_bytes(csv_line(1), "x" * TEN_MEGABYTES + "@example.org,,\n", csv_line(3)),
        [2],
        [1, 3],
    ),
    (
        "not-objects.jsonl",
        b"\n".join(
            [
                json.dumps({"email": good(1)}).encode(),
                b"[1, 2]",
                b'"just a string"',
                b"42",
                b"null",
                b'{"email": ',
                json.dumps({"email": good(7)}).encode(),
            ]
        )
        + b"\n",
        [2, 3, 4, 5, 6],
        [1, 7],
    ),
    (
        "not-maps.msgpack",
        b"".join(
            msgpack.packb(item)
            for item in [{"email": good(1)}, 42, "a string", None, {"email": good(5)}, b"\x00\x01", {"email": good(7)}]
        ),
        [2, 3, 4, 6],
        [1, 5, 7],
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "invalid_rows", "good_rows"), SKIPPED_ROW_CASES, ids=[case[0] for case in SKIPPED_ROW_CASES]
)
def test_bad_row_skipped_neighbours_sent(sandbox_job, name, data, invalid_rows, good_rows):
    outcome, members = sandbox_job(name, data)

    assert_clean_failure(outcome, exit_codes=(0,))
    assert rejected_rows(outcome.report) == invalid_rows
    for row in invalid_rows:
        assert f"row {row}" in outcome.stderr
    assert members == hashes_of(good_rows)
    report = outcome.report
    assert report["rows_read"] == report["members_valid"] + report["rows_invalid"] + report["duplicates"]


@pytest.mark.parametrize(
    ("name", "data", "invalid_rows", "good_rows"), SKIPPED_ROW_CASES, ids=[case[0] for case in SKIPPED_ROW_CASES]
)
def test_bad_row_stops_job_in_stop_mode(sandbox_job, name, data, invalid_rows, good_rows):
    outcome, members = sandbox_job(name, data, skip_invalid=False)

    assert_clean_failure(outcome, exit_codes=(1,))
    assert rejected_rows(outcome.report) == invalid_rows
    assert f"row {invalid_rows[0]}" in outcome.report["error"]
    assert members == set()


def truncated_gzip() -> bytes:
    lines = [csv_line(number) for number in range(1, 20_001)]
    compressed = gzip.compress(csv_bytes(*lines))
    return compressed[: len(compressed) // 2]


def msgpack_with_garbage() -> bytes:
    rows = b"".join(msgpack.packb({"email": good(number)}) for number in range(1, 101))
    # 0xc1 is the one byte msgpack never uses.
    return rows + b"\xc1\xc1\xc1" + msgpack.packb({"email": good(101)})


def unclosed_quote() -> bytes:
    return csv_bytes(csv_line(1), csv_line(2), '"open@example.org,First,Last\n', csv_line(4))


# name, input bytes, text that names the fault, the row the fault is reported at (None: depends on the data).
STREAM_FAULT_CASES = [
    ("truncated.csv.gz", truncated_gzip(), "truncated", None),
    ("garbage.msgpack", msgpack_with_garbage(), "msgpack stream cannot be decoded", 101),
    ("unclosed-quote.csv", unclosed_quote(), "quote is probably not closed", 3),
]


@pytest.mark.parametrize(
    ("name", "data", "fault_text", "fault_row"), STREAM_FAULT_CASES, ids=[case[0] for case in STREAM_FAULT_CASES]
)
def test_stream_fault_fails_after_rows_before(sandbox_job, name, data, fault_text, fault_row):
    outcome, members = sandbox_job(name, data)

    assert_clean_failure(outcome, exit_codes=(1,))
    report = outcome.report
    assert fault_text in report["error"]
    rows_before = report["rows_read"]
    if fault_row is not None:
        assert rows_before == fault_row - 1
    assert f"row {rows_before + 1}:" in report["error"]
    # Skip mode sends the rows before the fault, and the report counts exactly those.
    assert rows_before > 0
    assert members == hashes_of(range(1, rows_before + 1))
    assert report["elements_accepted"] == rows_before


@pytest.mark.parametrize(
    ("name", "data", "fault_text", "fault_row"), STREAM_FAULT_CASES, ids=[case[0] for case in STREAM_FAULT_CASES]
)
def test_stream_fault_sends_nothing_in_stop_mode(sandbox_job, name, data, fault_text, fault_row):
    outcome, members = sandbox_job(name, data, skip_invalid=False)

    assert_clean_failure(outcome, exit_codes=(1,))
    assert fault_text in outcome.report["error"]
    assert members == set()


# Config document, and the keys the error must name.
BAD_CONFIGS = [
    ({"ad_account_id": "1", "segment_name": "S", "batch_size": "many"}, ["batch_size: expected a whole number"]),
    ({"ad_account_id": "1", "segment_name": "S", "segmnt_name": "S"}, ["segmnt_name: unknown key; did you mean segment_name?"]),
    ({"ad_account_id": "1", "segment_name": "S", "api": {"retries": 3}}, ["api.retries: unknown key"]),
    ({"ad_account_id": "1", "segment_name": "S", "api": "fast"}, ["api: expected a mapping"]),
    ({"ad_account_id": "1", "segment_name": "S", "ignore_invalid_records": "maybe"}, ["ignore_invalid_records"]),
    ({"ad_account_id": ["1"], "segment_name": 7, "columns": "email"}, ["ad_account_id", "segment_name", "columns"]),
    ({"ad_account_id": "1", "segment_name": "S", "api": {"timeout_seconds": -1, "max_in_flight": 1000}}, ["api.timeout_seconds", "api.max_in_flight"]),
    ({"ad_account_id": "1", "segment_name": "S", "auth": {"client_id": 5, "refresh_token": True}}, ["auth.client_id", "auth.refresh_token"]),
    ({"segment_name": "S"}, ["ad_account_id: required"]),
    (["ad_account_id", "segment_name"], ["expected a mapping of settings keys"]),
]


@pytest.mark.parametrize(("document", "named"), BAD_CONFIGS)
@pytest.mark.parametrize("suffix", [".yml", ".json"])
def test_bad_config_names_key(tmp_path, document, named, suffix):
    config = tmp_path / f"job{suffix}"
    config.write_text(json.dumps(document), encoding="utf-8")
    input_path = tmp_path / "contacts.csv"
    input_path.write_bytes(csv_bytes(csv_line(1)))

    outcome = run_in_process(["run", "--config", str(config), "--input", str(input_path), "--dry-run"])

    assert_clean_failure(outcome, exit_codes=(2,))
    for text in named:
        assert text in outcome.stderr


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("ad_account_id: '1'\nsegment_name: [unclosed\n", "not valid YAML (line 3, column 1)"),
        ("ad_account_id: '1'\nad_account_id: '2'\nsegment_name: S\n", "ad_account_id: given twice"),
        ("", "the config file is empty"),
        ("\udcff", "not UTF-8"),
    ],
    ids=["invalid yaml", "duplicate key", "empty", "invalid utf-8"],
)
def test_unreadable_config_named(tmp_path, text, named):
    config = tmp_path / "job.yml"
    config.write_bytes(text.encode("utf-8", "surrogateescape"))
    input_path = tmp_path / "contacts.csv"
    input_path.write_bytes(csv_bytes(csv_line(1)))

    outcome = run_in_process(["run", "--config", str(config), "--input", str(input_path), "--dry-run"])

    assert_clean_failure(outcome, exit_codes=(2,))
    assert named in outcome.stderr


def test_big_file_with_bad_rows_counts(sandbox_job):
    contacts = make_contacts(30_000, seed=43)
    lines = [f"{contact.email},{contact.first_name},{contact.last_name}\n" for contact in contacts]
    bad_rows = {5, 10_000, 29_999}
    for row in bad_rows:
        lines[row - 1] = '"x"y,\x00,\n' if row == 10_000 else "a,b\n"

    outcome, members = sandbox_job("big.csv", csv_bytes(*lines))

    assert_clean_failure(outcome, exit_codes=(0,))
    assert rejected_rows(outcome.report) == sorted(bad_rows)
    expected = {contact.hashed_email for number, contact in enumerate(contacts, start=1) if number not in bad_rows}
    assert members == expected


@pytest.mark.parametrize("report_to_stdout", [False, True], ids=["report file", "report on stdout"])
def test_undecodable_header_report_written(tmp_path, report_to_stdout):
    input_path = tmp_path / "contacts.csv"
    input_path.write_bytes(b"\x80mail,first_name\nsomeone@example.org,Someone\n")
    config = write_config(tmp_path / "job.yml", {"ad_account_id": "1", "segment_name": "S"})
    report_path = tmp_path / "report.json"
    target = "-" if report_to_stdout else str(report_path)

    outcome = run_in_process(["run", "--config", str(config), "--input", str(input_path), "--dry-run", "--report", target])

    assert_clean_failure(outcome, exit_codes=(1,))
    text = outcome.stdout if report_to_stdout else report_path.read_text(encoding="utf-8")
    report = json.loads(text)
    assert "no identifying column" in report["error"]
    # The undecodable name is not a lower-case identifier, so it is counted, not shown.
    assert "first_name and 1 name not shown" in report["error"]
    assert list(tmp_path.glob("*.tmp")) == []
