"""Rate limits, fault injection and latency."""

from __future__ import annotations

import time
from typing import Callable

import pytest
import requests

from sandbox_http import Api, FakeClock, user
from td_output_linkedin.sandbox import Sandbox, SandboxOptions


def started_api(start_sandbox: Callable[..., Sandbox], **options: object) -> tuple[Sandbox, Api]:
    sandbox = start_sandbox(**options)
    return sandbox, Api(sandbox.base_url, sandbox.authorize().access_token)


def test_users_rate_limit_per_member(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox, api = started_api(start_sandbox, users_requests_per_minute=3)
    segment_id = api.new_segment()
    statuses = [api.write(segment_id, "users", [user("a@example.com")]).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]

    refused = api.write(segment_id, "users", [user("a@example.com")])
    body = refused.json()
    assert (body["status"], body["code"]) == (429, "TOO_MANY_REQUESTS")
    assert "Retry-After" not in refused.headers
    assert api.find().status_code == 200

    other_member = Api(sandbox.base_url, sandbox.authorize(member="urn:li:person:other").access_token)
    assert other_member.write(segment_id, "users", [user("b@example.com")]).status_code == 200


def test_rate_limit_window_slides(start_sandbox: Callable[..., Sandbox], clock: FakeClock) -> None:
    _, api = started_api(start_sandbox, users_requests_per_minute=2)
    segment_id = api.new_segment()
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 200
    clock.advance(30)
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 200
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 429
    clock.advance(30)
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 200
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 429


def test_companies_have_own_limit(start_sandbox: Callable[..., Sandbox]) -> None:
    _, api = started_api(start_sandbox, users_requests_per_minute=1, companies_requests_per_minute=2)
    users_segment, companies_segment = api.new_segment(), api.new_segment("COMPANY")
    company = [{"action": "ADD", "companyName": "Acme"}]
    assert api.write(users_segment, "users", [user("a@example.com")]).status_code == 200
    statuses = [api.write(companies_segment, "companies", company).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_default_limits_are_linkedins() -> None:
    options = SandboxOptions()
    assert (options.users_requests_per_minute, options.companies_requests_per_minute) == (600, 300)


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "retry_after"),
    [
        ("429", 429, "application/json", "1"),
        ("429_no_retry_after", 429, "application/json", None),
        ("500", 500, "application/json", None),
        ("502", 502, "text/html", None),
        ("503", 503, "application/json", None),
        ("504", 504, "text/html", None),
    ],
)
def test_fault_answers(
    start_sandbox: Callable[..., Sandbox], kind: str, status: int, content_type: str, retry_after: str | None
) -> None:
    sandbox, api = started_api(start_sandbox, faults={kind: 1.0})
    segment_id = api.new_segment()
    response = api.write(segment_id, "users", [user("a@example.com")])
    assert response.status_code == status
    assert response.headers["Content-Type"] == content_type
    assert response.headers.get("Retry-After") == retry_after
    if content_type == "application/json":
        assert response.json()["status"] == status
    assert sandbox.members(segment_id) == []


def test_drop_fault_closes_connection(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox, api = started_api(start_sandbox, faults={"drop": 1.0})
    segment_id = api.new_segment()
    with pytest.raises(requests.ConnectionError):
        api.write(segment_id, "users", [user("a@example.com")])
    assert sandbox.state()["requests"]["POST /rest/dmpSegments/{id}/users"] == {"drop": 1}


def test_slow_fault_outlasts_client_timeout(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox, api = started_api(start_sandbox, faults={"slow": 1.0}, slow_seconds=1.0)
    segment_id = api.new_segment()
    with pytest.raises(requests.Timeout):
        api.session.post(f"{sandbox.base_url}/rest/dmpSegments/{segment_id}/users",
                         json={"elements": [user("a@example.com")]},
                         headers={"X-RestLi-Method": "BATCH_CREATE"}, timeout=0.2)


@pytest.mark.parametrize(("fault_paths", "finder_status"), [(("/users", "/companies"), 200), ((), 503)])
def test_fault_paths(start_sandbox: Callable[..., Sandbox], fault_paths: tuple[str, ...], finder_status: int) -> None:
    sandbox = start_sandbox(faults={"503": 1.0}, fault_paths=fault_paths)
    credentials = sandbox.authorize()
    api = Api(sandbox.base_url, credentials.access_token)
    assert api.find().status_code == finder_status
    refreshed = requests.post(f"{sandbox.base_url}/oauth/v2/accessToken", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": credentials.refresh_token,
        "client_id": credentials.client_id, "client_secret": credentials.client_secret})
    assert refreshed.status_code == 200


def test_seed_makes_faults_reproducible(start_sandbox: Callable[..., Sandbox]) -> None:
    runs = []
    for _ in range(2):
        _, api = started_api(start_sandbox, faults={"500": 0.3, "503": 0.3}, seed=11)
        segment_id = api.new_segment()
        runs.append([api.write(segment_id, "users", [user("a@example.com")]).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])


@pytest.mark.parametrize(
    "faults",
    [{"404": 0.1}, {"500": 1.5}, {"500": 0.6, "503": 0.6}],
)
def test_invalid_fault_options(faults: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SandboxOptions(faults=faults)


def test_latency_delays_responses(start_sandbox: Callable[..., Sandbox]) -> None:
    # Only a lower bound: a busy machine can make responses slower, never faster.
    _, api = started_api(start_sandbox, latency_seconds=0.2)
    started = time.perf_counter()
    assert api.find().status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_element_fault_rate_fails_single_elements(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox, api = started_api(start_sandbox, element_fault_rate=1.0)
    segment_id = api.new_segment()

    response = api.write(segment_id, "users", [user("a@example.com"), {"action": "ADD", "userIds": []}])

    assert response.status_code == 200
    entries = response.json()["elements"]
    # The valid element fails for a temporary reason; the invalid one keeps its own 400.
    assert [entry["status"] for entry in entries] == [500, 400]
    assert entries[0]["error"]["code"] == "INTERNAL_SERVER_ERROR"
    assert sandbox.members(segment_id) == []


def test_element_fault_rate_out_of_range() -> None:
    with pytest.raises(ValueError):
        SandboxOptions(element_fault_rate=1.5)
