"""Inputs, configs and command runs for the reliability tests, computed without the plugin's code."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

COMMAND = str(Path(sys.executable).with_name("td-output-linkedin"))
AD_ACCOUNT_ID = "512345678"
# Headroom for a subprocess job on a shared 2-core machine. A normal run takes a few seconds.
COMMAND_TIMEOUT_SECONDS = 300
# Prefixes of every token and generated secret the sandbox issues.
SANDBOX_SECRET_PREFIXES = ("sandbox-at-", "sandbox-rt-", "sandbox-cs-")
USERS_ENDPOINT = "POST /rest/dmpSegments/{id}/users"
TOKEN_ENDPOINT = "POST /oauth/v2/accessToken"
# Fast settings for a job against a sandbox on loopback: no LinkedIn pacing, few waits.
FAST_API = {
    "new_segment_wait_seconds": 0.05,
    "new_segment_not_found_timeout_seconds": 30,
    "users_requests_per_minute": 100_000,
    "companies_requests_per_minute": 100_000,
    "max_attempts": 12,
    "max_retry_wait_seconds": 120,
    "timeout_seconds": 30,
    # The figures in docs/reliability.md were taken with 4 requests in flight.
    "max_in_flight": 4,
}


@dataclass(frozen=True)
class Contact:
    """One input row and the member it stands for."""

    email: str
    first_name: str
    last_name: str

    @property
    def hashed_email(self) -> str:
        return sha256_email(self.email)


@dataclass
class CommandRun:
    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    report_text: str


def sha256_email(email: str) -> str:
    """LinkedIn's SHA256_EMAIL: the address trimmed and lower-cased, hashed as UTF-8."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def make_contacts(count: int, *, seed: int = 7, duplicate_every: int = 0) -> list[Contact]:
    """Build ``count`` rows with distinct addresses, some with stray spaces and capitals.

    With ``duplicate_every`` = n, every n-th row repeats an earlier address in another spelling.
    """
    rng = random.Random(seed)
    contacts: list[Contact] = []
    for index in range(count):
        if duplicate_every and index and index % duplicate_every == 0:
            earlier = contacts[rng.randrange(len(contacts))].email.strip()
            contacts.append(Contact(f" {earlier.upper()} ", "Dup", "Licate"))
            continue
        local = f"person.{index}.{rng.randrange(10**6)}"
        email = f"{local}@example.org"
        if index % 7 == 3:
            email = f"  {email.title()} "
        contacts.append(Contact(email, f"First{index}", f"Last{index}"))
    return contacts


def expected_hashes(contacts: Iterable[Contact]) -> set[str]:
    return {contact.hashed_email for contact in contacts}


def write_contacts_csv(path: Path, contacts: Sequence[Contact], *, replace: Mapping[int, Sequence[str]] = {}) -> Path:
    """Write a csv file with a header. ``replace`` maps 1-based row numbers to other cells."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "first_name", "last_name"])
        for number, contact in enumerate(contacts, start=1):
            writer.writerow(replace.get(number, (contact.email, contact.first_name, contact.last_name)))
    return path


def write_config(path: Path, settings: Mapping[str, Any], *, mode: int = 0o600) -> Path:
    path.write_text(yaml.safe_dump(dict(settings), sort_keys=False), encoding="utf-8")
    path.chmod(mode)
    return path


def job_settings(
    base_url: str,
    credentials: Any,
    *,
    segment_name: str = "Reliability contacts",
    api: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Settings for a real (not ``--sandbox``) job aimed at a sandbox the test started."""
    return {
        "ad_account_id": AD_ACCOUNT_ID,
        "segment_name": segment_name,
        "audience_type": "users",
        **settings,
        "auth": {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
        },
        "api": {"base_url": base_url, "oauth_base_url": base_url, **FAST_API, **(api or {})},
    }


def command_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess job: no proxy, so that loopback stays loopback."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.pop("TD_OUTPUT_LINKEDIN_DEBUG", None)
    env.update(extra)
    return env


def start_command(arguments: Sequence[str], **extra_env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [COMMAND, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(**extra_env),
    )


def finish_command(process: subprocess.Popen[str], report_path: Path | None) -> CommandRun:
    stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
    report_text = ""
    report = None
    if report_path is not None and report_path.exists():
        report_text = report_path.read_text(encoding="utf-8")
        report = json.loads(report_text)
    return CommandRun(process.returncode, stdout, stderr, report, report_text)


def run_command(arguments: Sequence[str], *, report_path: Path | None = None, **extra_env: str) -> CommandRun:
    """Run the installed command. With ``report_path``, it adds ``--report`` and reads the report."""
    argv = list(arguments)
    if report_path is not None:
        argv += ["--report", str(report_path)]
    return finish_command(start_command(argv, **extra_env), report_path)


def segment_of(state: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the one segment named ``name`` in a sandbox state snapshot."""
    found = [segment for segment in state["segments"] if segment["name"] == name]
    assert len(found) == 1, f"expected one segment named {name!r}, found {len(found)}"
    return found[0]


def member_hashes(segment: Mapping[str, Any]) -> set[str]:
    """The SHA256_EMAIL values of a segment's members in a state snapshot."""
    hashes = set()
    for member in segment["members"]:
        for user_id in member.get("userIds", []):
            if user_id["idType"] == "SHA256_EMAIL":
                hashes.add(user_id["idValue"])
    return hashes


def request_counts(state: Mapping[str, Any], endpoint: str) -> dict[str, int]:
    """Requests the sandbox counted for ``endpoint``, by status (``drop`` for a dropped connection)."""
    return dict(state["requests"].get(endpoint, {}))


def total_requests(state: Mapping[str, Any], endpoint: str) -> int:
    return sum(request_counts(state, endpoint).values())


def google_aid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


FIGURES_ENV = "RELIABILITY_FIGURES"


def record_figures(test: str, figures: Mapping[str, Any]) -> None:
    """Append measured figures as one JSON line to the file named by $RELIABILITY_FIGURES, if set."""
    target = os.environ.get(FIGURES_ENV)
    if not target:
        return
    with open(target, "a", encoding="utf-8") as file:
        file.write(json.dumps({"test": test, **figures}, sort_keys=True) + "\n")


def run_in_process(arguments: Sequence[str], *, report_path: Path | None = None) -> CommandRun:
    """Run the command line in this process, capturing its output; a raised exception fails the test."""
    import contextlib
    import io

    from td_output_linkedin.cli import main

    argv = list(arguments)
    if report_path is not None:
        argv += ["--report", str(report_path)]
    stdout = io.StringIO()
    stderr = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        exit_code = main(argv)
    report_text = ""
    report = None
    if report_path is not None and report_path.exists():
        report_text = report_path.read_text(encoding="utf-8")
        report = json.loads(report_text)
    return CommandRun(exit_code, stdout.getvalue(), stderr.getvalue(), report, report_text)
