"""GET /_sandbox/state, the control endpoints, and the state file across restarts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest
import requests

from sandbox_http import ACCOUNT, Api, user
from td_output_linkedin.sandbox import Sandbox


def test_state_lists_segments_members_and_requests(api: Api, sandbox: Sandbox) -> None:
    segment_id = api.new_segment(description="Weekly export")
    api.write(segment_id, "users", [user("a@example.com", firstName="Ana", country="BR"), {"action": "ADD"}])
    api.request("GET", "/rest/dmpSegments/1")

    state = requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()
    assert state == sandbox.state()
    [segment] = state["segments"]
    assert segment["id"] == int(segment_id)
    assert segment["account"] == f"urn:li:sponsoredAccount:{ACCOUNT}"
    assert segment["description"] == "Weekly export"
    assert segment["memberCount"] == 1
    assert segment["members"] == [
        {"userIds": user("a@example.com")["userIds"], "firstName": "Ana", "country": "BR"}
    ]
    assert state["requests"] == {
        "POST /rest/dmpSegments": {"201": 1},
        "POST /rest/dmpSegments/{id}/users": {"200": 1},
        "GET /rest/dmpSegments/{id}": {"404": 1},
    }


def test_state_without_members(api: Api, sandbox: Sandbox) -> None:
    segment_id = api.new_segment()
    api.write(segment_id, "users", [user("a@example.com")])
    state = requests.get(f"{sandbox.base_url}/_sandbox/state", params={"members": "false"}, timeout=10).json()
    assert state["segments"][0]["memberCount"] == 1
    assert "members" not in state["segments"][0]


def test_control_endpoints(api: Api, sandbox: Sandbox) -> None:
    credentials = sandbox.authorize()
    assert requests.post(f"{sandbox.base_url}/_sandbox/expire-access-tokens", timeout=10).status_code == 204
    assert api.find().json()["code"] == "INVALID_ACCESS_TOKEN"

    assert requests.post(f"{sandbox.base_url}/_sandbox/revoke-refresh-tokens", timeout=10).status_code == 204
    refreshed = requests.post(f"{sandbox.base_url}/oauth/v2/accessToken", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": credentials.refresh_token,
        "client_id": credentials.client_id, "client_secret": credentials.client_secret})
    assert refreshed.json()["error"] == "invalid_grant"
    assert requests.get(f"{sandbox.base_url}/_sandbox/unknown", timeout=10).status_code == 404


def test_store_members_off_keeps_counts(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = start_sandbox(store_members=False)
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    segment_id = api.new_segment()
    api.write(segment_id, "users", [user(f"p{number}@example.com") for number in range(5)])
    api.write(segment_id, "users", [user("p0@example.com", "REMOVE")])
    [segment] = sandbox.state()["segments"]
    assert segment["memberCount"] == 4
    assert segment["members"] == []


def test_state_file_survives_restart(start_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    state_file = str(tmp_path / "sandbox.json")
    first = start_sandbox(state_file=state_file)
    credentials = first.authorize()
    api = Api(first.base_url, credentials.access_token)
    users_segment, companies_segment = api.new_segment(), api.new_segment("COMPANY")
    api.write(users_segment, "users", [user("a@example.com", lastName="Lima"), {"action": "ADD", "firstName": "Bo", "lastName": "Li"}])
    api.write(companies_segment, "companies", [{"action": "ADD", "companyName": "Acme", "industries": ["Retail"]}])
    before = first.state()
    first.stop()
    assert os.stat(state_file).st_mode & 0o777 == 0o600
    assert json.loads(Path(state_file).read_text())["format"] == 1

    second = start_sandbox(state_file=state_file)
    assert second.state()["segments"] == before["segments"]
    assert Api(second.base_url, credentials.access_token).find().json()["paging"]["total"] == 2
    next_id = Api(second.base_url, credentials.access_token).new_segment()
    assert int(next_id) == int(companies_segment) + 1
    refreshed = requests.post(f"{second.base_url}/oauth/v2/accessToken", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": credentials.refresh_token,
        "client_id": credentials.client_id, "client_secret": credentials.client_secret})
    assert refreshed.status_code == 200


def test_members_of_unknown_segment(sandbox: Sandbox) -> None:
    with pytest.raises(KeyError, match="404"):
        sandbox.members("404")
