"""The sandbox command: flags to options, and a real process that serves until SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from sandbox_http import Api, user
from td_output_linkedin.sandbox.cli import add_sandbox_arguments, options_from_args


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser)
    return parser.parse_args(list(flags))


@pytest.mark.parametrize(
    ("flags", "field", "value"),
    [
        ((), "port", 0),
        (("--port", "8123"), "port", 8123),
        (("--latency", "0.25"), "latency_seconds", 0.25),
        (("--new-segment-404-seconds", "90"), "new_segment_not_found_seconds", 90.0),
        (("--users-rpm", "10"), "users_requests_per_minute", 10),
        (("--companies-rpm", "5"), "companies_requests_per_minute", 5),
        (("--fault", "503=0.1", "--fault", "drop=0.05"), "faults", {"503": 0.1, "drop": 0.05}),
        (("--fault-path", "/users"), "fault_paths", ("/users",)),
        (("--fault-all-paths",), "fault_paths", ()),
        ((), "fault_paths", ("/users", "/companies")),
        (("--slow-seconds", "2"), "slow_seconds", 2.0),
        (("--retry-after", "7"), "retry_after_seconds", 7),
        (("--seed", "3"), "seed", 3),
        (("--token-lifetime-requests", "4"), "access_token_lifetime_requests", 4),
        (("--token-lifetime-seconds", "60"), "access_token_lifetime_seconds", 60.0),
        (("--refresh-token-lifetime-seconds", "120"), "refresh_token_lifetime_seconds", 120.0),
        (("--viewer-account", "1", "--viewer-account", "2"), "viewer_accounts", ("1", "2")),
        (("--segment-limit", "2"), "segment_limit", 2),
        (("--versions", "202401:202412"), "supported_versions", ("202401", "202412")),
        (("--state", "s.json"), "state_file", "s.json"),
        (("--no-store-members",), "store_members", False),
    ],
)
def test_flags_set_options(flags: tuple[str, ...], field: str, value: object) -> None:
    assert getattr(options_from_args(parse(*flags)), field) == value


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--fault", "503"), "KIND=PROBABILITY"),
        (("--fault", "503=often"), "KIND=PROBABILITY"),
        (("--fault", "418=0.1"), "unknown fault kind"),
        (("--versions", "202401"), "OLDEST:NEWEST"),
        (("--versions", "202412:202401"), "oldest first"),
    ],
)
def test_invalid_flags(flags: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        options_from_args(parse(*flags))


def run_sandbox(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "td_output_linkedin.sandbox", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_command_serves_until_sigterm_and_saves_state(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    process = run_sandbox("--json", "--state", str(state_file), "--client-id", "my-app", "--client-secret", "s3")
    try:
        printed = json.loads(process.stdout.readline())
        assert printed["base_url"].startswith("http://127.0.0.1:")
        assert (printed["client_id"], printed["client_secret"]) == ("my-app", "s3")

        refreshed = requests.post(f"{printed['base_url']}/oauth/v2/accessToken", timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": printed["refresh_token"],
            "client_id": "my-app", "client_secret": "s3"})
        api = Api(printed["base_url"], refreshed.json()["access_token"])
        segment_id = api.new_segment()
        assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0

    saved = json.loads(state_file.read_text())
    assert [segment["id"] for segment in saved["segments"]] == [int(segment_id)]
    assert saved["segments"][0]["members"] == [{"userIds": user("a@example.com")["userIds"]}]


def test_command_prints_yaml_settings_and_revokes() -> None:
    process = run_sandbox("--revoked-refresh-token")
    try:
        lines = [process.stdout.readline() for _ in range(10)]
        settings = yaml.safe_load("".join(lines))
        base_url = settings["api"]["base_url"]
        assert settings["api"]["oauth_base_url"] == base_url
        assert settings["auth"]["client_id"] == "sandbox-client"
        refreshed = requests.post(f"{base_url}/oauth/v2/accessToken", timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": settings["auth"]["refresh_token"],
            "client_id": "sandbox-client", "client_secret": settings["auth"]["client_secret"]})
        assert refreshed.json()["error"] == "invalid_grant"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_command_rejects_bad_flag_with_exit_2() -> None:
    process = run_sandbox("--fault", "418=0.5")
    _, errors = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "unknown fault kind" in errors


@pytest.mark.parametrize("content", ["not json", '{"format": 1}', '{"format": 99}', "[]"])
def test_command_rejects_foreign_state_file(tmp_path: Path, content: str) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(content)
    process = run_sandbox("--state", str(state_file))
    output, errors = process.communicate(timeout=20)
    assert process.returncode == 2
    assert str(state_file) in errors
    assert output == ""
