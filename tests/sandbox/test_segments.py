"""dmpSegments: create, get, delete, the account finder with paging, the segment cap and the 404 window."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from sandbox_http import ACCOUNT, Api, FakeClock, segment_body, user
from td_output_linkedin.sandbox import Sandbox


def test_create_answers_201_with_id_header(api: Api, sandbox: Sandbox) -> None:
    response = api.create_segment(description="Weekly export", sourceSegmentId="td-42")
    assert response.status_code == 201
    assert response.content == b""
    segment_id = response.headers["x-restli-id"]
    assert segment_id.isdigit()

    segment = api.request("GET", f"/rest/dmpSegments/{segment_id}").json()
    assert segment["id"] == int(segment_id)
    assert segment["name"] == "Newsletter subscribers"
    assert segment["account"] == f"urn:li:sponsoredAccount:{ACCOUNT}"
    assert segment["type"] == "USER"
    assert segment["sourcePlatform"] == "TREASURE_DATA"
    assert segment["description"] == "Weekly export"
    assert segment["sourceSegmentId"] == "td-42"
    assert segment["destinations"][0]["destination"] == "LINKEDIN"
    assert segment["destinations"][0]["status"] == "BUILDING"


def test_create_accepts_explicit_create_method(api: Api) -> None:
    body = segment_body(type="COMPANY")
    assert api.request("POST", "/rest/dmpSegments", json=body, headers={"X-RestLi-Method": "CREATE"}).status_code == 201
    wrong = api.request("POST", "/rest/dmpSegments", json=body, headers={"X-RestLi-Method": "BATCH_CREATE"})
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": None}, "name"),
        ({"account": "urn:li:sponsoredAccount:abc"}, "account"),
        ({"account": "123"}, "account"),
        ({"type": "USER_LIST_UPLOAD"}, "type"),
        ({"sourcePlatform": "treasure data"}, "sourcePlatform"),
        ({"destinations": []}, "destinations"),
        ({"destinations": [{"destination": "FACEBOOK"}]}, "destinations[0]"),
        ({"accessPolicy": "PRIVATE"}, "accessPolicy"),
        ({"status": "READY"}, "status"),
        ({"description": ""}, "description"),
    ],
)
def test_create_rejects_invalid_fields(api: Api, sandbox: Sandbox, change: dict[str, Any], field: str) -> None:
    response = api.request("POST", "/rest/dmpSegments", json=segment_body(**change))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_VALUE"
    assert field in body["message"]
    assert sandbox.state()["segments"] == []


@pytest.mark.parametrize("missing", ["name", "account", "type", "sourcePlatform", "destinations"])
def test_create_requires_fields(api: Api, missing: str) -> None:
    body = segment_body()
    del body[missing]
    response = api.request("POST", "/rest/dmpSegments", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == f"{missing} is required"


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [(b"{not json", "application/json", 400), (b"{}", "text/plain", 415), (b"[1]", "application/json", 400)],
)
def test_create_rejects_malformed_body(api: Api, data: bytes, content_type: str, status: int) -> None:
    response = api.request("POST", "/rest/dmpSegments", data=data, headers={"Content-Type": content_type})
    assert response.status_code == status


def test_get_and_delete(api: Api) -> None:
    segment_id = api.new_segment()
    deleted = api.request("DELETE", f"/rest/dmpSegments/{segment_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.request("GET", f"/rest/dmpSegments/{segment_id}").status_code == 404
    assert api.request("DELETE", f"/rest/dmpSegments/{segment_id}").status_code == 404
    assert api.find().json()["paging"]["total"] == 0


@pytest.mark.parametrize(("segment_id", "status"), [("99999999", 404), ("abc", 400), ("-1", 400)])
def test_get_unknown_or_malformed_id(api: Api, segment_id: str, status: int) -> None:
    response = api.request("GET", f"/rest/dmpSegments/{segment_id}")
    assert response.status_code == status
    assert response.json()["status"] == status


def test_finder_pages_through_all_segments(api: Api) -> None:
    created = [int(api.new_segment(name=f"segment {number}")) for number in range(23)]
    api.new_segment(account="999")

    seen = []
    start = 0
    while True:
        page = api.find(start=start, count=10).json()
        assert page["paging"]["total"] == 23
        assert page["paging"]["start"] == start
        seen += [segment["id"] for segment in page["elements"]]
        start += len(page["elements"])
        if start >= page["paging"]["total"]:
            break
    assert seen == created


@pytest.mark.parametrize(("params", "count", "returned"), [({}, 10, 10), ({"count": "500"}, 100, 100), ({"count": "0"}, 0, 0)])
def test_finder_page_size(api: Api, sandbox: Sandbox, params: dict[str, str], count: int, returned: int) -> None:
    for number in range(105):
        api.new_segment(name=f"segment {number}")
    page = api.find(**params).json()
    assert page["paging"]["count"] == count
    assert page["paging"]["total"] == 105
    assert len(page["elements"]) == returned


def test_finder_filters_source_platform(api: Api) -> None:
    api.new_segment(sourcePlatform="LIST_UPLOAD")
    kept = int(api.new_segment())
    elements = api.find(sourcePlatform="TREASURE_DATA").json()["elements"]
    assert [segment["id"] for segment in elements] == [kept]


def test_finder_needs_encoded_urn(api: Api) -> None:
    raw = api.request("GET", f"/rest/dmpSegments?q=account&account=urn:li:sponsoredAccount:{ACCOUNT}")
    assert raw.status_code == 400
    assert "URL-encoded" in raw.json()["message"]
    encoded = api.request("GET", f"/rest/dmpSegments?q=account&account=urn%3Ali%3AsponsoredAccount%3A{ACCOUNT}")
    assert encoded.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "account=urn%3Ali%3AsponsoredAccount%3A1",
        "q=name&account=urn%3Ali%3AsponsoredAccount%3A1",
        "q=account",
        "q=account&account=urn%253Ali%253AsponsoredAccount%253A1",
        "q=account&account=urn%3Ali%3AsponsoredAccount%3A1&start=-1",
        "q=account&account=urn%3Ali%3AsponsoredAccount%3A1&count=ten",
    ],
)
def test_finder_rejects_bad_query(api: Api, query: str) -> None:
    response = api.request("GET", f"/rest/dmpSegments?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAM"


def test_segment_limit_returns_429(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = start_sandbox(segment_limit=3)
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    statuses = [api.create_segment(name=f"s{number}").status_code for number in range(3)]
    refused = api.create_segment(name="s3")
    assert statuses == [201, 201, 201]
    assert refused.status_code == 429
    assert refused.json()["code"] == "SEGMENT_LIMIT_EXCEEDED"
    assert "Retry-After" not in refused.headers
    assert api.create_segment(account="999").status_code == 201


def test_new_segment_not_found_window(start_sandbox: Callable[..., Sandbox], clock: FakeClock) -> None:
    sandbox = start_sandbox(new_segment_not_found_seconds=90)
    api = Api(sandbox.base_url, sandbox.authorize().access_token)
    segment_id = api.new_segment()
    assert api.request("GET", f"/rest/dmpSegments/{segment_id}").status_code == 404
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 404
    assert api.find().json()["paging"]["total"] == 1
    clock.advance(90)
    assert api.request("GET", f"/rest/dmpSegments/{segment_id}").status_code == 200
    assert api.write(segment_id, "users", [user("a@example.com")]).status_code == 200


def test_segment_status_and_counts_follow_members(api: Api) -> None:
    segment_id = api.new_segment()
    api.write(segment_id, "users", [user(f"person{number}@example.com") for number in range(3)])
    segment = api.request("GET", f"/rest/dmpSegments/{segment_id}").json()
    assert segment["inputCount"] == 3
    assert segment["destinations"][0]["status"] == "READY"
    assert segment["destinations"][0]["audienceSize"] == 3
    assert segment["destinations"][0]["matchedCount"] == 3
