"""``check``: one line per check, nothing uploaded or created."""

from __future__ import annotations

import pytest

from linkedin_wire import (
    ACCESS_TOKEN,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SEGMENTS_URL,
    TOKEN_URL,
    finder_page,
    make_settings,
    segment,
)
from td_output_linkedin.config import AuthSettings

NAME = "Newsletter subscribers"


def summary(lines):
    return [(line.name, line.ok) for line in lines]


@pytest.mark.parametrize(
    ("segments", "mode", "expected_segment_ok", "phrase"),
    [
        ([segment(11, NAME, status="READY")], "add", True, "id 11, status READY"),
        ([], "add", True, "will create it"),
        ([], "remove", False, "remove mode"),
        ([segment(11, NAME), segment(12, NAME)], "add", False, "ids 11, 12"),
    ],
)
def test_check_segment_line(requests_mock, make_sink, token_endpoint, segments, mode, expected_segment_ok, phrase):
    requests_mock.get(SEGMENTS_URL, json=finder_page(segments))
    create = requests_mock.post(SEGMENTS_URL, status_code=201, headers={"x-restli-id": "1"})

    lines = make_sink(make_settings(mode=mode)).check(create=mode == "add")

    assert summary(lines) == [
        ("api version", True),
        ("access token", True),
        ("ad account", True),
        ("segment", expected_segment_ok),
    ]
    assert phrase in lines[3].detail
    assert lines[2].detail.endswith(f"contains {len(segments)} segment{'' if len(segments) == 1 else 's'}")
    assert create.call_count == 0


def test_check_stops_after_token_failure(requests_mock, make_sink):
    requests_mock.post(TOKEN_URL, status_code=400, json={"error": "invalid_grant"})
    finder = requests_mock.get(SEGMENTS_URL, json=finder_page([]))

    lines = make_sink().check(create=True)

    assert summary(lines) == [("api version", True), ("access token", False), ("ad account", False), ("segment", False)]
    assert "invalid_grant" in lines[1].detail
    assert lines[2].detail == "not checked because the access token check failed"
    assert finder.call_count == 0


def test_check_reports_denied_account(requests_mock, make_sink, token_endpoint):
    requests_mock.get(SEGMENTS_URL, status_code=403, json={"status": 403, "code": "ACCESS_DENIED"})

    lines = make_sink().check(create=True)

    assert summary(lines)[2:] == [("ad account", False), ("segment", False)]
    assert "VIEWER" in lines[2].detail


def test_check_with_access_token_only(requests_mock, make_sink):
    tokens = requests_mock.post(TOKEN_URL, json={})
    finder = requests_mock.get(SEGMENTS_URL, json=finder_page([segment(11, NAME)]))
    settings = make_settings(auth=AuthSettings(access_token=ACCESS_TOKEN))

    lines = make_sink(settings).check(create=True)

    assert all(line.ok for line in lines)
    assert "configured access token" in lines[1].detail
    assert tokens.call_count == 0
    assert finder.last_request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_check_old_version_line(make_sink, requests_mock, token_endpoint):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))

    lines = make_sink(make_settings(version="202501")).check(create=True)

    assert lines[0].ok is False
    assert "23 months" in lines[0].detail
    assert "newer api.version" in lines[0].detail
    # The other checks still run: LinkedIn may serve the version a little longer.
    assert [line.ok for line in lines[1:]] == [True, True, True]


@pytest.mark.parametrize(("version", "ok", "words"), [("202512", True, "soon"), ("202612", True, "0 months"), ("203001", False, "future")])
def test_check_version_age_table(make_sink, requests_mock, token_endpoint, version, ok, words):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))

    lines = make_sink(make_settings(version=version)).check(create=True)

    assert lines[0].ok is ok
    assert words in lines[0].detail


def test_check_stored_token_not_refreshed(make_sink, requests_mock):
    token = requests_mock.post(TOKEN_URL, json={"access_token": "unused"})
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    auth = AuthSettings(
        client_id="app-client-id", client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, access_token=ACCESS_TOKEN
    )

    lines = make_sink(make_settings(auth=auth)).check(create=True)

    assert lines[1].ok is True
    assert lines[1].detail.startswith("stored access token still valid")
    assert token.call_count == 0
