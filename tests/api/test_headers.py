"""The headers, query string and bodies every call puts on the wire."""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson
import pytest

from linkedin_wire import (
    ACCESS_TOKEN,
    ACCOUNT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SEGMENTS_URL,
    TOKEN_URL,
    finder_page,
    make_settings,
    segment,
    statuses,
    user_batch,
)
from td_output_linkedin.errors import ConfigError
from td_output_linkedin.sink import Segment


def test_finder_request_headers(requests_mock, make_sink, token_endpoint):
    finder = requests_mock.get(SEGMENTS_URL, json=finder_page([segment(11, "Newsletter subscribers")]))
    make_sink().resolve_segment(create=False)

    headers = finder.last_request.headers
    assert headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert headers["LinkedIn-Version"] == "202611"
    assert headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert "X-RestLi-Method" not in headers
    assert headers["User-Agent"].startswith("td-output-linkedin/")


def test_finder_query_encodes_account_urn(requests_mock, make_sink, token_endpoint):
    finder = requests_mock.get(SEGMENTS_URL, json=finder_page([segment(11, "Newsletter subscribers")]))
    make_sink().resolve_segment(create=False)

    query = finder.last_request.url.split("?", 1)[1]
    assert f"account=urn%3Ali%3AsponsoredAccount%3A{ACCOUNT_ID}" in query
    assert parse_qs(query)["q"] == ["account"]
    assert parse_qs(query)["start"] == ["0"]


def test_batch_request_headers_and_body(requests_mock, make_sink, token_endpoint):
    upload = requests_mock.post(f"{SEGMENTS_URL}/11/users", json=statuses(201, 201))
    batch = user_batch(1, 2)
    sink = make_sink()
    list(sink.upload(Segment("11", "Newsletter subscribers", "USER"), [batch]))

    request = upload.last_request
    assert request.headers["X-RestLi-Method"] == "BATCH_CREATE"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["LinkedIn-Version"] == "202611"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert orjson.loads(request.body) == {"elements": batch.elements}


def test_company_batch_goes_to_companies(requests_mock, make_sink, token_endpoint):
    upload = requests_mock.post(f"{SEGMENTS_URL}/12/companies", json=statuses(201))
    batch = user_batch(1, 1)
    sink = make_sink(make_settings(audience_type="companies"))
    results = list(sink.upload(Segment("12", "Accounts", "COMPANY"), [batch]))

    assert upload.call_count == 1
    assert results[0].accepted == 1


def test_refresh_request_form(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(11, "Newsletter subscribers")]))
    make_sink().resolve_segment(create=False)

    request = token_endpoint.last_request
    assert request.url == TOKEN_URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH_TOKEN],
        "client_id": ["app-client-id"],
        "client_secret": [CLIENT_SECRET],
    }
    assert "Authorization" not in request.headers


def test_requests_sent_counts_every_endpoint(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([segment(11, "Newsletter subscribers")]))
    requests_mock.post(f"{SEGMENTS_URL}/11/users", json=statuses(201))
    sink = make_sink()
    found = sink.resolve_segment(create=False)
    list(sink.upload(found, [user_batch(1, 1), user_batch(2, 1)]))

    assert sink.requests_sent == 4


@pytest.mark.parametrize(
    ("version", "warned"),
    [
        ("202611", False),
        ("202601", False),
        ("202512", True),
        ("202401", True),
    ],
)
def test_version_age_warning(make_sink, log_lines, version, warned):
    make_sink(make_settings(version=version))

    warnings = [line for line in log_lines.at("WARNING") if "api.version" in line]
    assert len(warnings) == (1 if warned else 0)
    if warned:
        assert version in warnings[0]


@pytest.mark.parametrize("version", ["2026-11", "20261", "202613", "latest"])
def test_malformed_version_is_config_error(make_sink, version):
    with pytest.raises(ConfigError) as caught:
        make_sink(make_settings(version=version))
    assert "api.version" in str(caught.value)
