"""Finding the segment by exact name and type, creating it, and the errors that name what to fix."""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson
import pytest

from linkedin_wire import ACCOUNT_ID, SEGMENTS_URL, finder_page, make_settings, segment
from td_output_linkedin.errors import LinkedInError, SegmentError

NAME = "Newsletter subscribers"


def pages_of(segments: list[dict], size: int) -> list[dict]:
    total = len(segments)
    return [
        {"json": finder_page(segments[start : start + size], start=start, total=total)}
        for start in range(0, total, size)
    ]


def test_segment_on_third_page(requests_mock, make_sink, token_endpoint):
    others = [segment(100 + number, f"Other {number}") for number in range(200)]
    target = segment(777, NAME, status="UPDATING")
    finder = requests_mock.get(SEGMENTS_URL, pages_of(others + [target] + others[:30], 100))

    found = make_sink().resolve_segment(create=False)

    assert (found.id, found.type, found.status, found.created) == ("777", "USER", "UPDATING", False)
    assert [parse_qs(request.url.split("?", 1)[1])["start"] for request in finder.request_history] == [["0"], ["100"], ["200"]]


def test_paging_without_total_stops_on_short_page(requests_mock, make_sink, token_endpoint):
    full_page = {"elements": [segment(number, f"Other {number}") for number in range(100)]}
    last_page = {"elements": [segment(500, NAME)]}
    finder = requests_mock.get(SEGMENTS_URL, [{"json": full_page}, {"json": last_page}])

    found = make_sink().resolve_segment(create=False)

    assert found.id == "500"
    assert finder.call_count == 2


def test_two_segments_of_one_name_fail(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(31, NAME), segment(5, "Other"), segment(32, NAME)]))

    with pytest.raises(SegmentError) as caught:
        make_sink().resolve_segment(create=True)

    message = str(caught.value)
    assert "ids 31, 32" in message
    assert f"ad account {ACCOUNT_ID}" in message


def test_segment_of_other_type_fails(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(41, NAME, "COMPANY")]))
    create = requests_mock.post(SEGMENTS_URL, status_code=201, headers={"x-restli-id": "1"})

    with pytest.raises(SegmentError) as caught:
        make_sink().resolve_segment(create=True)

    message = str(caught.value)
    assert "type COMPANY (id 41)" in message
    assert "audience_type to companies" in message
    assert create.call_count == 0


def test_same_type_match_wins_over_other_type(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(41, NAME, "COMPANY"), segment(42, NAME, "USER")]))

    assert make_sink().resolve_segment(create=True).id == "42"


def test_name_match_is_exact(requests_mock, make_sink, token_endpoint):
    near_misses = [segment(1, NAME.lower()), segment(2, f"{NAME} "), segment(3, f"{NAME} 2")]
    requests_mock.get(SEGMENTS_URL, json=finder_page(near_misses))

    with pytest.raises(SegmentError) as caught:
        make_sink(make_settings(mode="remove")).resolve_segment(create=False)

    assert "not found" in str(caught.value)
    assert "3 segments checked" in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "expected_id"),
    [
        ({"x-restli-id": "9001"}, "9001"),
        ({"x-linkedin-id": "9002"}, "9002"),
        ({"x-restli-id": "urn:li:dmpSegment:9003"}, "9003"),
    ],
)
def test_create_reads_new_id(requests_mock, make_sink, token_endpoint, log_lines, headers, expected_id):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    create = requests_mock.post(SEGMENTS_URL, status_code=201, headers=headers)

    created = make_sink().resolve_segment(create=True)

    assert (created.id, created.created, created.type) == (expected_id, True, "USER")
    assert orjson.loads(create.last_request.body) == {
        "name": NAME,
        "type": "USER",
        "account": f"urn:li:sponsoredAccount:{ACCOUNT_ID}",
        "sourcePlatform": "TREASURE_DATA",
        "destinations": [{"destination": "LINKEDIN"}],
        "description": "Rows of the nightly export",
    }
    assert any(f"id {expected_id}" in line for line in log_lines.at("INFO"))


def test_create_without_id_header_fails(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    requests_mock.post(SEGMENTS_URL, status_code=201)

    with pytest.raises(LinkedInError) as caught:
        make_sink().resolve_segment(create=True)

    assert "x-restli-id" in str(caught.value)


def test_company_segment_created_with_company_type(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    create = requests_mock.post(SEGMENTS_URL, status_code=201, headers={"x-restli-id": "55"})

    created = make_sink(make_settings(audience_type="companies")).resolve_segment(create=True)

    assert created.type == "COMPANY"
    assert orjson.loads(create.last_request.body)["type"] == "COMPANY"


def test_segment_limit_fails_without_retry(requests_mock, make_sink, token_endpoint, waits):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    create = requests_mock.post(
        SEGMENTS_URL, status_code=429, json={"status": 429, "code": "SEGMENT_LIMIT_EXCEEDED", "message": "limit"}
    )

    with pytest.raises(SegmentError) as caught:
        make_sink().resolve_segment(create=True)

    assert "maximum number of segments" in str(caught.value)
    assert caught.value.code == "SEGMENT_LIMIT_EXCEEDED"
    assert create.call_count == 1
    assert waits == []


def test_create_after_503_looks_again_before_repeating(requests_mock, make_sink, token_endpoint):
    finder = requests_mock.get(SEGMENTS_URL, [{"json": finder_page([])}, {"json": finder_page([segment(66, NAME)])}])
    create = requests_mock.post(SEGMENTS_URL, status_code=503, json={"status": 503})

    found = make_sink().resolve_segment(create=True)

    assert found.id == "66"
    assert create.call_count == 1
    assert finder.call_count == 2


def test_create_after_503_repeats_when_still_missing(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    create = requests_mock.post(
        SEGMENTS_URL, [{"status_code": 503, "json": {"status": 503}}, {"status_code": 201, "headers": {"x-restli-id": "67"}}]
    )

    found = make_sink().resolve_segment(create=True)

    assert found.id == "67"
    assert create.call_count == 2


def test_remove_mode_missing_segment_fails(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(5, "Other")]))
    create = requests_mock.post(SEGMENTS_URL, status_code=201, headers={"x-restli-id": "1"})

    with pytest.raises(SegmentError) as caught:
        make_sink(make_settings(mode="remove")).resolve_segment(create=False)

    assert "remove mode" in str(caught.value)
    assert create.call_count == 0


@pytest.mark.parametrize(
    ("status", "warned"),
    [("READY", False), ("BUILDING", False), ("EXPIRED", True), ("FAILED", True), ("ERROR", True)],
)
def test_unusable_status_warns(requests_mock, make_sink, token_endpoint, log_lines, status, warned):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(8, NAME, status=status)]))

    found = make_sink().resolve_segment(create=False)

    assert found.status == status
    status_warnings = [line for line in log_lines.at("WARNING") if f"status {status}" in line]
    assert len(status_warnings) == (1 if warned else 0)
    assert any(f"id 8, type USER, status {status}" in line for line in log_lines.at("INFO"))


def test_finder_404_names_ad_account(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, status_code=404, json={"status": 404, "message": "Not found"})

    with pytest.raises(SegmentError) as caught:
        make_sink().resolve_segment(create=True)

    assert f"ad account {ACCOUNT_ID} was not found" in str(caught.value)
    assert "check ad_account_id" in str(caught.value)
