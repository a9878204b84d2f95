"""Checks every /rest/ call gets: bearer token, LinkedIn-Version, Rest.li protocol, scope and role."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from sandbox_http import VERSION, Api, FakeClock, user
from td_output_linkedin.sandbox import Sandbox


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize(
    ("authorization", "service_error_code", "code"),
    [
        (None, 401, None),
        ("Basic abc", 401, None),
        ("Bearer sandbox-at-unknown", 65600, "INVALID_ACCESS_TOKEN"),
    ],
)
def test_bad_bearer_token_answers_401(
    api: Api, authorization: str | None, service_error_code: int, code: str | None
) -> None:
    api.session.headers.pop("Authorization")
    headers = {"Authorization": authorization} if authorization else {}
    response = api.find(headers=headers)
    assert response.status_code == 401
    body = error_of(response)
    assert body["serviceErrorCode"] == service_error_code
    assert body.get("code") == code


def test_expired_access_token_answers_65600(api: Api, sandbox: Sandbox) -> None:
    sandbox.expire_access_tokens()
    body = error_of(api.find())
    assert body["status"] == 401
    assert (body["serviceErrorCode"], body["code"]) == (65600, "INVALID_ACCESS_TOKEN")


def test_revoked_access_token_answers_65601(api: Api, sandbox: Sandbox) -> None:
    sandbox.revoke_access_tokens()
    body = error_of(api.find())
    assert body["status"] == 401
    assert (body["serviceErrorCode"], body["code"]) == (65601, "REVOKED_ACCESS_TOKEN")


def test_access_token_lifetime_in_requests(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = start_sandbox(access_token_lifetime_requests=3)
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    statuses = [api.find().status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 401, 401]


def test_access_token_lifetime_in_seconds(start_sandbox: Callable[..., Sandbox], clock: FakeClock) -> None:
    sandbox = start_sandbox(access_token_lifetime_seconds=60)
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    assert api.find().status_code == 200
    clock.advance(59)
    assert api.find().status_code == 200
    clock.advance(1)
    assert api.find().status_code == 401


@pytest.mark.parametrize(
    ("version", "status", "code"),
    [
        (None, 400, "VERSION_MISSING"),
        ("2026-11", 426, "NONEXISTENT_VERSION"),
        ("202613", 426, "NONEXISTENT_VERSION"),
        ("202001", 426, "NONEXISTENT_VERSION"),
        ("209912", 426, "NONEXISTENT_VERSION"),
    ],
)
def test_linkedin_version_is_checked(api: Api, version: str | None, status: int, code: str) -> None:
    api.session.headers.pop("LinkedIn-Version")
    headers = {"LinkedIn-Version": version} if version else {}
    response = api.request("POST", "/rest/dmpSegments", json={}, headers=headers)
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_default_window_is_twelve_months(api: Api) -> None:
    newest = int(VERSION[:4]) * 12 + int(VERSION[4:]) - 1
    oldest = newest - 11
    served = f"{oldest // 12}{oldest % 12 + 1:02d}"
    too_old = f"{(oldest - 1) // 12}{(oldest - 1) % 12 + 1:02d}"
    assert api.find(headers={"LinkedIn-Version": served}).status_code == 200
    assert api.find(headers={"LinkedIn-Version": too_old}).status_code == 426


def test_supported_versions_knob(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = start_sandbox(supported_versions=("202401", "202406"))
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    statuses = {version: api.find(headers={"LinkedIn-Version": version}).status_code
                for version in ("202312", "202401", "202406", "202407")}
    assert statuses == {"202312": 426, "202401": 200, "202406": 200, "202407": 426}


@pytest.mark.parametrize("protocol", [None, "1.0.0"])
def test_restli_protocol_header_required(api: Api, protocol: str | None) -> None:
    api.session.headers.pop("X-Restli-Protocol-Version")
    headers = {"X-Restli-Protocol-Version": protocol} if protocol else {}
    response = api.find(headers=headers)
    assert response.status_code == 400
    assert "X-Restli-Protocol-Version" in error_of(response)["message"]


def test_missing_scope_answers_403(sandbox: Sandbox) -> None:
    credentials = sandbox.authorize(client_id="ads-only", scopes=("r_ads",))
    response = Api(sandbox.base_url, credentials.access_token).find()
    assert response.status_code == 403
    body = error_of(response)
    assert (body["serviceErrorCode"], body["code"]) == (100, "ACCESS_DENIED")
    assert "rw_dmp_segments" in body["message"]


def test_viewer_reads_but_cannot_write(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = start_sandbox(viewer_accounts=("777",))
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    created = api.create_segment(account="777")
    assert created.status_code == 403
    assert "777" in error_of(created)["message"]
    assert "VIEWER" in error_of(created)["message"]
    assert api.find(account="777").status_code == 200
    assert api.create_segment(account="778").status_code == 201


def test_viewer_cannot_write_members_or_delete(start_sandbox: Callable[..., Sandbox]) -> None:
    owner = start_sandbox()
    segment_id = Api(owner.base_url, owner.authorize().access_token).new_segment(account="777")
    # The member loses its write role on the account after creating the segment.
    owner.options.viewer_accounts = ("777",)
    api = Api(owner.base_url, owner.authorize().access_token)
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 403
    assert api.request("DELETE", f"/rest/dmpSegments/{segment_id}").status_code == 403
    assert api.request("GET", f"/rest/dmpSegments/{segment_id}").status_code == 200
    assert owner.members(segment_id) == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/rest/dmpSegments", 405),
        ("POST", "/rest/dmpSegments/123", 405),
        ("GET", "/rest/dmpSegments/123/users", 405),
        ("GET", "/rest/adAccounts", 404),
        ("GET", "/v2/dmpSegments", 404),
    ],
)
def test_unknown_routes(api: Api, method: str, path: str, status: int) -> None:
    response = api.request(method, path)
    assert response.status_code == status
    assert error_of(response)["status"] == status
