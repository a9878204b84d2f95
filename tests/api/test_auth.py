"""OAuth: token endpoint responses, 401 handling, and tokens kept out of logs, errors and reprs."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from linkedin_wire import (
    ACCESS_TOKEN,
    CLIENT_SECRET,
    OAUTH_BASE,
    REFRESH_TOKEN,
    SEGMENTS_URL,
    TOKEN_URL,
    finder_page,
    make_settings,
    segment,
    statuses,
    token_answer,
    user_batch,
)
from td_output_linkedin.config import AuthSettings
from td_output_linkedin.errors import AuthenticationError, DeliveryError, ReauthorizationRequired
from td_output_linkedin.linkedin import TokenGrant, authorization_url, exchange_code, refresh_access_token
from td_output_linkedin.linkedin.auth import TokenSource
from td_output_linkedin.sink import Segment

SECOND_TOKEN = "access-token-second-0123456789"
NAMED_SEGMENT = finder_page([segment(11, "Newsletter subscribers")])
UNAUTHORIZED = {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access token"}


def test_exchange_code_form_and_grant(requests_mock):
    endpoint = requests_mock.post(TOKEN_URL, json=token_answer())
    with requests.Session() as session:
        grant = exchange_code(
            session,
            OAUTH_BASE,
            client_id="app-client-id",
            client_secret=CLIENT_SECRET,
            code="code-from-redirect",
            redirect_uri="http://127.0.0.1:8765/callback",
            timeout=5,
        )

    assert parse_qs(endpoint.last_request.body) == {
        "grant_type": ["authorization_code"],
        "code": ["code-from-redirect"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "client_id": ["app-client-id"],
        "client_secret": [CLIENT_SECRET],
    }
    assert grant.access_token == ACCESS_TOKEN
    assert grant.refresh_token == REFRESH_TOKEN
    assert grant.expires_in == 5184000
    assert grant.refresh_token_expires_in == 31536000
    assert grant.scope == "r_ads,rw_dmp_segments"


def test_token_grant_repr_hides_tokens():
    text = repr(TokenGrant(access_token=ACCESS_TOKEN, expires_in=60, refresh_token=REFRESH_TOKEN))
    assert ACCESS_TOKEN not in text
    assert REFRESH_TOKEN not in text
    assert "expires_in=60" in text


def test_authorization_url_query():
    url = authorization_url(
        OAUTH_BASE,
        client_id="app-client-id",
        redirect_uri="http://127.0.0.1:8765/callback",
        state="state-123",
        scopes=["r_ads", "rw_dmp_segments"],
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{OAUTH_BASE}/oauth/v2/authorization"
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["app-client-id"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "state": ["state-123"],
        "scope": ["r_ads rw_dmp_segments"],
    }


@pytest.mark.parametrize(
    ("status", "body", "error_type", "phrase"),
    [
        (400, {"error": "invalid_grant", "error_description": "token expired"}, ReauthorizationRequired, "365 days"),
        (401, {"error": "invalid_client"}, AuthenticationError, "auth.client_secret"),
        (400, {"error": "invalid_request"}, AuthenticationError, "HTTP 400 (invalid_request)"),
    ],
)
def test_refresh_rejections_fail_at_once(requests_mock, status, body, error_type, phrase):
    endpoint = requests_mock.post(TOKEN_URL, status_code=status, json=body)
    with requests.Session() as session, pytest.raises(error_type) as caught:
        refresh_access_token(
            session, OAUTH_BASE, client_id="app-client-id", client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, timeout=5
        )

    assert type(caught.value) is error_type
    assert phrase in str(caught.value)
    assert endpoint.call_count == 1


def test_invalid_grant_fails_job_without_retry(requests_mock, make_sink, waits):
    endpoint = requests_mock.post(TOKEN_URL, status_code=400, json={"error": "invalid_grant"})
    finder = requests_mock.get(SEGMENTS_URL, json=NAMED_SEGMENT)

    with pytest.raises(ReauthorizationRequired) as caught:
        make_sink().resolve_segment(create=False)

    assert "authorize the connection again" in str(caught.value)
    assert endpoint.call_count == 1
    assert finder.call_count == 0
    assert waits == []


def test_token_endpoint_503_is_retried(requests_mock, make_sink, waits, log_lines):
    endpoint = requests_mock.post(TOKEN_URL, [{"status_code": 503}, {"json": token_answer()}])
    requests_mock.get(SEGMENTS_URL, json=NAMED_SEGMENT)

    make_sink().resolve_segment(create=False)

    assert endpoint.call_count == 2
    assert len(waits) == 1
    assert any("access token request" in line and "HTTP 503" in line for line in log_lines.at("WARNING"))


def test_401_refreshes_and_repeats(requests_mock, make_sink):
    tokens = requests_mock.post(TOKEN_URL, [{"json": token_answer()}, {"json": token_answer(SECOND_TOKEN)}])
    finder = requests_mock.get(SEGMENTS_URL, [{"status_code": 401, "json": UNAUTHORIZED}, {"json": NAMED_SEGMENT}])

    found = make_sink().resolve_segment(create=False)

    assert found.id == "11"
    assert tokens.call_count == 2
    assert [request.headers["Authorization"] for request in finder.request_history] == [
        f"Bearer {ACCESS_TOKEN}",
        f"Bearer {SECOND_TOKEN}",
    ]


def test_second_401_fails(requests_mock, make_sink):
    tokens = requests_mock.post(TOKEN_URL, [{"json": token_answer()}, {"json": token_answer(SECOND_TOKEN)}])
    finder = requests_mock.get(SEGMENTS_URL, status_code=401, json=UNAUTHORIZED)

    with pytest.raises(AuthenticationError) as caught:
        make_sink().resolve_segment(create=False)

    assert type(caught.value) is AuthenticationError
    assert caught.value.status == 401
    assert "authorize the connection again" in str(caught.value)
    assert tokens.call_count == 2
    assert finder.call_count == 2


def test_later_401_refreshes_again(requests_mock, make_sink):
    third_token = "access-token-third-0123456789"
    tokens = requests_mock.post(
        TOKEN_URL,
        [{"json": token_answer()}, {"json": token_answer(SECOND_TOKEN)}, {"json": token_answer(third_token)}],
    )
    requests_mock.get(SEGMENTS_URL, json=NAMED_SEGMENT)
    upload = requests_mock.post(
        f"{SEGMENTS_URL}/11/users",
        [
            {"status_code": 401, "json": UNAUTHORIZED},
            {"json": statuses(201)},
            {"json": statuses(201)},
            {"status_code": 401, "json": UNAUTHORIZED},
            {"json": statuses(201)},
        ],
    )
    sink = make_sink(make_settings(max_in_flight=1))
    found = sink.resolve_segment(create=False)
    results = list(sink.upload(found, [user_batch(number, 1) for number in (1, 2, 3)]))

    assert [result.accepted for result in results] == [1, 1, 1]
    assert [result.requests for result in results] == [2, 1, 2]
    assert tokens.call_count == 3
    assert upload.request_history[-1].headers["Authorization"] == f"Bearer {third_token}"


def test_access_token_only_401_message(requests_mock, make_sink):
    tokens = requests_mock.post(TOKEN_URL, json=token_answer())
    requests_mock.get(SEGMENTS_URL, status_code=401, json=UNAUTHORIZED)
    settings = make_settings(auth=AuthSettings(access_token=ACCESS_TOKEN))

    with pytest.raises(AuthenticationError) as caught:
        make_sink(settings).resolve_segment(create=False)

    message = str(caught.value)
    assert "access token" in message
    assert "auth.refresh_token" in message
    assert "auth.access_token" in message
    assert tokens.call_count == 0


def test_rejected_token_renewed_once_across_threads():
    grants = iter([TokenGrant(access_token=ACCESS_TOKEN), TokenGrant(access_token=SECOND_TOKEN)])
    refreshes: list[str] = []

    def refresh(refresh_token: str) -> TokenGrant:
        refreshes.append(refresh_token)
        return next(grants)

    source = TokenSource(
        access_token=None, refresh_token=REFRESH_TOKEN, refresh=refresh, clock=lambda: 0.0, register_secret=lambda _: None
    )
    rejected = source.current()
    start_together = threading.Barrier(4, timeout=5)
    renewed: list[str] = []

    def renew() -> None:
        start_together.wait()
        renewed.append(source.renew_after_rejection(rejected))

    threads = [threading.Thread(target=renew) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(renewed) == [(SECOND_TOKEN, False)] * 3 + [(SECOND_TOKEN, True)]
    assert refreshes == [REFRESH_TOKEN, REFRESH_TOKEN]


def test_expiring_token_is_renewed_before_use(requests_mock, make_sink):
    now = [1_000_000.0]
    tokens = requests_mock.post(
        TOKEN_URL, [{"json": token_answer(expires_in=3600)}, {"json": token_answer(SECOND_TOKEN, expires_in=3600)}]
    )
    upload = requests_mock.post(f"{SEGMENTS_URL}/11/users", json=statuses(201))
    sink = make_sink(make_settings(max_in_flight=1), clock=lambda: now[0])
    target = Segment("11", "Newsletter subscribers", "USER")

    list(sink.upload(target, [user_batch(1, 1)]))
    now[0] += 3500
    list(sink.upload(target, [user_batch(2, 1)]))

    assert tokens.call_count == 2
    assert upload.request_history[-1].headers["Authorization"] == f"Bearer {SECOND_TOKEN}"


def test_on_tokens_receives_each_grant(requests_mock, make_sink):
    requests_mock.post(TOKEN_URL, [{"json": token_answer()}, {"json": token_answer(SECOND_TOKEN)}])
    requests_mock.get(SEGMENTS_URL, [{"status_code": 401, "json": UNAUTHORIZED}, {"json": NAMED_SEGMENT}])
    grants: list[TokenGrant] = []

    make_sink(on_tokens=grants.append).resolve_segment(create=False)

    assert [grant.access_token for grant in grants] == [ACCESS_TOKEN, SECOND_TOKEN]


def test_secrets_never_reach_log_or_errors(requests_mock, make_sink, log_lines):
    requests_mock.post(TOKEN_URL, [{"json": token_answer()}, {"json": token_answer(SECOND_TOKEN)}])
    requests_mock.get(SEGMENTS_URL, status_code=401, json=UNAUTHORIZED)
    sink = make_sink()
    with pytest.raises(AuthenticationError) as caught:
        sink.resolve_segment(create=False)
    sink.log.info("settings: %r, token %s", sink.settings, SECOND_TOKEN)

    for secret in (CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, SECOND_TOKEN):
        assert secret not in log_lines.text()
        assert secret not in str(caught.value)
    assert "[REDACTED]" in log_lines.text()


def test_token_endpoint_unreachable_gives_up(requests_mock, make_sink, waits):
    requests_mock.post(TOKEN_URL, exc=requests.ConnectionError("refused"))

    with pytest.raises(DeliveryError) as caught:
        make_sink(make_settings(max_attempts=3)).resolve_segment(create=False)

    assert caught.value.transient is True
    assert "gave up after 3 attempts" in str(caught.value)
    assert len(waits) == 2


def test_rejected_refresh_not_repeated():
    calls: list[str] = []

    def refresh(refresh_token: str) -> TokenGrant:
        calls.append(refresh_token)
        raise ReauthorizationRequired("refresh token revoked", status=400, code="invalid_grant")

    source = TokenSource(
        access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN, refresh=refresh, clock=lambda: 0.0, register_secret=lambda _: None
    )
    for _ in range(3):
        with pytest.raises(ReauthorizationRequired) as caught:
            source.renew_after_rejection(ACCESS_TOKEN)
        assert caught.value.code == "invalid_grant"

    assert calls == [REFRESH_TOKEN]
