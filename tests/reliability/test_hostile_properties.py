"""Generated hostile inputs and configs: every run ends with a status and a message, never an internal error."""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from pathlib import Path

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import AD_ACCOUNT_ID, CommandRun, run_in_process, write_config

# RELIABILITY_EXAMPLES=2000 explores further than the default run.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("RELIABILITY_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
DRY_RUN_SETTINGS = {"ad_account_id": AD_ACCOUNT_ID, "segment_name": "Properties", "ignore_invalid_records": True}
COLUMNS = ["email", "first_name", "last_name", "google_aid", "apple_idfa", "title", "company", "country", "other"]
ROW_NUMBER = re.compile(r"\brow (\d+)\b")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
cell_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(['"', ",", "\n", "\r", "\t", "\x00", "@"]), max_size=40)


def dry_run(data: bytes, suffix: str, settings_document: dict | None = None) -> CommandRun:
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        input_path = folder / f"input{suffix}"
        input_path.write_bytes(data)
        config = write_config(folder / "job.yml", settings_document or DRY_RUN_SETTINGS)
        return run_in_process(
            ["run", "--config", str(config), "--input", str(input_path), "--dry-run"], report_path=folder / "report.json"
        )


def assert_handled(outcome: CommandRun, rows_in_input: int | None = None) -> None:
    """Checks that the run ended as the command promises: a status, a message, counts that add up."""
    assert outcome.exit_code in (0, 1), outcome.stderr[-1000:]
    assert "internal error" not in outcome.stderr
    assert "Traceback" not in outcome.stderr
    if outcome.exit_code == 1:
        assert " ERROR " in outcome.stderr
    report = outcome.report
    assert report is not None
    if report["mode"] is None:
        # The input failed while it was opened (an unreadable header, or a fault before the first
        # good row of a JSON or msgpack file, which is read ahead for the header): the report
        # carries the error and no counts.
        assert outcome.exit_code == 1
        assert report["error"]
        assert report["rows_read"] == 0
        return
    assert report["rows_read"] == report["members_valid"] + report["rows_invalid"] + report["duplicates"]
    if outcome.exit_code == 1:
        assert report["error"]
    if rows_in_input is not None and outcome.exit_code == 0:
        assert report["rows_read"] == rows_in_input
    limit = report["rows_read"] + 1
    for item in report["invalid"]:
        assert 1 <= item["row"] <= limit
    for number in ROW_NUMBER.findall(outcome.stderr):
        assert 1 <= int(number) <= limit


@PROPERTY_SETTINGS
@given(
    st.lists(st.lists(cell_text, min_size=0, max_size=5), max_size=8),
    st.sampled_from(["plain", "gzip", "truncated gzip"]),
)
def test_generated_csv_handled(rows, compression):
    lines = [",".join(COLUMNS[:3])] + [",".join(cells) for cells in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if compression != "plain":
        data = gzip.compress(data)
    if compression == "truncated gzip":
        data = data[: len(data) * 2 // 3]

    assert_handled(dry_run(data, ".csv"))


@PROPERTY_SETTINGS
@given(st.binary(max_size=300), st.sampled_from([".csv", ".tsv", ".jsonl", ".msgpack", ".csv.gz"]))
def test_generated_bytes_handled(data, suffix):
    if suffix == ".csv.gz":
        data = b"\x1f\x8b" + data

    assert_handled(dry_run(data, suffix))


rows = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(COLUMNS), json_values | st.text(max_size=40), max_size=6),
        json_values,
    ),
    max_size=10,
)


@PROPERTY_SETTINGS
@given(st.text(min_size=3, max_size=30), rows)
def test_generated_jsonl_handled(first_email, items):
    # The first row is an object, so that the file is JSON lines and not one JSON array.
    lines = [json.dumps({"email": first_email})] + [json.dumps(item) for item in items]
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")

    assert_handled(dry_run(data, ".jsonl"), rows_in_input=len(lines))


@PROPERTY_SETTINGS
@given(st.text(min_size=3, max_size=30), rows, st.binary(max_size=8))
def test_generated_msgpack_handled(first_email, items, tail):
    data = b"".join(msgpack.packb(item) for item in [{"email": first_email}, *items])

    assert_handled(dry_run(data, ".msgpack"), rows_in_input=len(items) + 1)
    assert_handled(dry_run(data + tail, ".msgpack"))


SETTINGS_KEYS = [
    "type", "ad_account_id", "audience_type", "segment_name", "segment_description", "mode",
    "ignore_invalid_records", "connection", "auth", "api", "batch_size", "worker_processes", "columns",
]
API_KEYS = ["base_url", "oauth_base_url", "version", "timeout_seconds", "max_in_flight", "max_attempts", "verify"]


@PROPERTY_SETTINGS
@given(
    st.dictionaries(st.sampled_from(SETTINGS_KEYS) | st.text(max_size=10), json_values, max_size=8),
    st.dictionaries(st.sampled_from(API_KEYS) | st.text(max_size=10), json_values, max_size=4),
)
def test_generated_config_handled(document, api):
    document = {"ad_account_id": AD_ACCOUNT_ID, "segment_name": "Properties", **document}
    if api:
        document["api"] = api
    outcome = dry_run(b"email\nsomeone@example.org\n", ".csv", document)

    assert outcome.exit_code in (0, 1, 2), outcome.stderr[-1000:]
    assert "internal error" not in outcome.stderr
    assert "Traceback" not in outcome.stderr
    if outcome.exit_code == 2:
        assert "invalid configuration" in outcome.stderr
