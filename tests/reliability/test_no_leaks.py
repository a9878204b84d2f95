"""Every path of the command, with known secrets and personal data: no output but the payload file carries them."""

from __future__ import annotations

import gzip
import hashlib
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from reliability_support import (
    AD_ACCOUNT_ID,
    SANDBOX_SECRET_PREFIXES,
    google_aid,
    job_settings,
    run_command,
    write_config,
)

from td_output_linkedin.errors import PluginError
from td_output_linkedin.plugin import run as run_plugin
from td_output_linkedin.sandbox import api as sandbox_api

CLIENT_SECRET = "Known-Client-Secret-4f1c9a"
WRONG_CLIENT_SECRET = "Known-Wrong-Secret-77b2e0"
SECRETS = (CLIENT_SECRET, WRONG_CLIENT_SECRET, *SANDBOX_SECRET_PREFIXES)
# Every name and address in the input contains one of these, in any letter case.
PERSONAL_MARKERS = ("zelda", "quixotica", "example.org")
HEADER = ("email", "first_name", "last_name", "google_aid", "title")


@dataclass
class People:
    """The input rows and every value from them that must not leave in a log, a message or a report."""

    rows: list[tuple[str, ...]]
    device_ids: list[str]
    hashes: list[str]

    def leaks(self, text: str, *, hashes_allowed: bool = False) -> list[str]:
        """Return what ``text`` contains that it must not: the kind and the marker, never the whole value."""
        lowered = text.lower()
        found = [f"secret {secret[:12]}..." for secret in SECRETS if secret in text]
        found += [f"personal data '{marker}'" for marker in PERSONAL_MARKERS if marker in lowered]
        found += [f"device id {device_id[:8]}..." for device_id in self.device_ids if device_id in lowered]
        found += [f"device id {device_id[:8]}..." for device_id in self.device_ids if device_id.replace("-", "") in lowered]
        if not hashes_allowed:
            found += [f"hashed email {digest[:8]}..." for digest in self.hashes if digest in lowered]
        return found


def make_people(count: int = 60) -> People:
    rng = random.Random(41)
    rows = []
    device_ids = []
    hashes = []
    for index in range(count):
        email = f"Zelda.Quix{index}@Example.org"
        device_id = google_aid(rng)
        device_ids.append(device_id)
        if index % 10 == 9:
            # Invalid: a broken address and a first name without a last name.
            rows.append((f"zelda quix{index}@@example.org", f"Zelda{index}", "", "", "Chief Quixotica Officer"))
            continue
        hashes.append(hashlib.sha256(email.lower().encode()).hexdigest())
        # A 60-character title breaks the 50-character limit, so it is left out and only its column is logged.
        title = "Quixotica " * 6 if index % 10 == 4 else "Engineer"
        rows.append((email, f"Zelda{index}", f"Quixotica{index}", device_id, title))
    return People(rows, device_ids, hashes)


def write_people(path: Path, people: People) -> Path:
    lines = [",".join(HEADER)] + [",".join(row) for row in people.rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Case:
    """One path of the command: how to set the sandbox and the job up, and the exit status it ends with."""

    exit_code: int
    sandbox: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    api: dict = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    command: str = "run"
    prepare: Callable | None = None


def revoke_refresh_tokens(sandbox, tmp_path, monkeypatch) -> None:
    sandbox.revoke_refresh_tokens()


def reject_every_element(sandbox, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sandbox_api.MEMBER_CHECKS, "users", lambda element: "userIds: not accepted")


def truncate_input(sandbox, tmp_path, monkeypatch) -> None:
    path = tmp_path / "people.csv"
    compressed = gzip.compress(path.read_bytes())
    (tmp_path / "people.csv").write_bytes(compressed[: len(compressed) // 2])


CASES = {
    "success": Case(0, settings={"ignore_invalid_records": True}),
    "success debug log": Case(0, settings={"ignore_invalid_records": True}, arguments=("--log-level", "DEBUG")),
    "stop mode invalid rows": Case(1),
    # Skip mode lists the rejected elements, and fails because LinkedIn accepted none of them.
    "linkedin rejects elements": Case(1, settings={"ignore_invalid_records": True, "batch_size": 7}, prepare=reject_every_element),
    "retries run out": Case(1, sandbox={"faults": {"503": 1.0}}, settings={"ignore_invalid_records": True}, api={"max_attempts": 2}),
    "refresh token revoked": Case(1, settings={"ignore_invalid_records": True}, prepare=revoke_refresh_tokens),
    "wrong client secret": Case(1, settings={"ignore_invalid_records": True, "auth": {"client_secret": WRONG_CLIENT_SECRET}}),
    "access denied": Case(1, sandbox={"viewer_accounts": (AD_ACCOUNT_ID,)}, settings={"ignore_invalid_records": True}),
    "version retired": Case(1, sandbox={"supported_versions": ("202001", "202012")}, settings={"ignore_invalid_records": True}),
    "segment missing in remove mode": Case(1, settings={"ignore_invalid_records": True, "mode": "remove"}),
    "truncated input": Case(1, settings={"ignore_invalid_records": True}, prepare=truncate_input),
    "config errors": Case(2, settings={"batch_size": "many", "auth": {"client_secret": 12345, "clientsecret": CLIENT_SECRET}}),
    "dry run": Case(0, settings={"ignore_invalid_records": True}, arguments=("--dry-run",)),
    "bundled sandbox": Case(0, settings={"ignore_invalid_records": True}, arguments=("--sandbox",)),
    "check": Case(0, command="check"),
    "check bundled sandbox": Case(0, command="check", arguments=("--sandbox",)),
    "check refresh token revoked": Case(1, command="check", prepare=revoke_refresh_tokens),
    "check wrong client secret": Case(1, command="check", settings={"auth": {"client_secret": WRONG_CLIENT_SECRET}}),
}


def merged_settings(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_command_output_leaks_nothing(tmp_path, start_sandbox, monkeypatch, case):
    people = make_people()
    input_path = write_people(tmp_path / "people.csv", people)
    sandbox = start_sandbox(**{"users_requests_per_minute": 100_000, **case.sandbox})
    credentials = sandbox.authorize(client_secret=CLIENT_SECRET)
    settings = merged_settings(job_settings(sandbox.base_url, credentials, api=case.api), case.settings)
    if case.prepare is not None:
        case.prepare(sandbox, tmp_path, monkeypatch)
    config = write_config(tmp_path / "job.yml", settings)

    arguments = [case.command, "--config", str(config), *case.arguments]
    report_path = None
    payload_path = tmp_path / "payload.jsonl"
    if case.command == "run":
        arguments += ["--input", str(input_path)]
        report_path = tmp_path / "report.json"
        if "--dry-run" in case.arguments:
            arguments += ["--payload-out", str(payload_path)]
    outcome = run_command(arguments, report_path=report_path)

    assert outcome.exit_code == case.exit_code, outcome.stderr[-2000:]
    assert "Traceback" not in outcome.stderr
    assert people.leaks(outcome.stderr) == []
    assert people.leaks(outcome.stdout) == []
    assert people.leaks(outcome.report_text) == []
    if payload_path.exists():
        assert_payload_as_sent(payload_path.read_text(encoding="utf-8"), people)


def assert_payload_as_sent(payload: str, people: People) -> None:
    """Checks that the payload has every hashed address, and no plain address or secret."""
    for digest in people.hashes:
        assert digest in payload
    assert "example.org" not in payload.lower()
    assert "@" not in payload
    for secret in SECRETS:
        assert secret not in payload


def test_payload_has_hashes_not_addresses(tmp_path):
    """The dry-run payload is the one output that carries member values: names, device ids and hashes."""
    people = make_people()
    input_path = write_people(tmp_path / "people.csv", people)
    config = write_config(
        tmp_path / "job.yml", {"ad_account_id": AD_ACCOUNT_ID, "segment_name": "Leaks", "ignore_invalid_records": True}
    )
    payload_path = tmp_path / "payload.jsonl"

    outcome = run_command(
        ["run", "--config", str(config), "--input", str(input_path), "--dry-run", "--payload-out", str(payload_path)]
    )

    assert outcome.exit_code == 0
    assert people.leaks(outcome.stderr) == []
    assert_payload_as_sent(payload_path.read_text(encoding="utf-8"), people)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize(
    ("name", "sandbox_options", "changes", "prepare"),
    [
        ("stop mode invalid rows", {}, {}, None),
        ("retries run out", {"faults": {"503": 1.0}}, {"ignore_invalid_records": True, "api": {"max_attempts": 2}}, None),
        ("refresh token revoked", {}, {"ignore_invalid_records": True}, revoke_refresh_tokens),
        ("linkedin rejects elements", {}, {}, reject_every_element),
        ("access denied", {"viewer_accounts": (AD_ACCOUNT_ID,)}, {}, None),
        ("wrong client secret", {}, {"auth": {"client_secret": WRONG_CLIENT_SECRET}}, None),
    ],
)
def test_exception_text_leaks_nothing(tmp_path, start_sandbox, monkeypatch, name, sandbox_options, changes, prepare):
    people = make_people()
    sandbox = start_sandbox(**{"users_requests_per_minute": 100_000, **sandbox_options})
    credentials = sandbox.authorize(client_secret=CLIENT_SECRET)
    settings = merged_settings(job_settings(sandbox.base_url, credentials), changes)
    if prepare is not None:
        prepare(sandbox, tmp_path, monkeypatch)
    rows = [dict(zip(HEADER, row)) for row in people.rows]
    logger = logging.getLogger(f"reliability.leaks.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = ListHandler()
    logger.addHandler(handler)

    with pytest.raises(PluginError) as caught:
        run_plugin(settings, rows, log=logger)

    error = caught.value
    assert people.leaks(str(error)) == []
    assert people.leaks(repr(error)) == []
    assert people.leaks(repr(error.args)) == []
    assert people.leaks(str(error.result.to_report())) == []
    assert people.leaks("\n".join(handler.lines)) == []
    assert any("summary: job failed" in line for line in handler.lines)


PEOPLE = make_people()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"row 1: {PEOPLE.rows[0][0]}", "personal data"),
        (f"name {PEOPLE.rows[0][2].upper()}", "personal data"),
        (f"aid {PEOPLE.device_ids[0].upper()}", "device id"),
        (f"aid {PEOPLE.device_ids[0].replace('-', '')}", "device id"),
        (f"hash {PEOPLE.hashes[0]}", "hashed email"),
        (f"secret={CLIENT_SECRET}", "secret"),
        ("Bearer sandbox-at-abcdef", "secret"),
    ],
    ids=["address", "name", "device id", "device id without hyphens", "hash", "client secret", "access token"],
)
def test_leak_scan_finds_each_kind(text, kind):
    found = PEOPLE.leaks(text)

    assert len(found) >= 1
    assert found[0].startswith(kind)
