"""Which responses are retried, how long the client waits, and what it raises when it gives up."""

from __future__ import annotations

import email.utils
import random

import pytest
import requests

from linkedin_wire import ACCOUNT_ID, SEGMENTS_URL, make_settings, statuses, user_batch
from td_output_linkedin.errors import (
    AccessDeniedError,
    DeliveryError,
    LinkedInError,
    VersionRetiredError,
)
from td_output_linkedin.linkedin.retry import RetryPolicy, TransientError
from td_output_linkedin.sink import Segment

UPLOAD_URL = f"{SEGMENTS_URL}/11/users"
TARGET = Segment("11", "Newsletter subscribers", "USER")


def upload_one(sink, number: int = 3):
    return list(sink.upload(TARGET, [user_batch(number, 2)]))


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_transient_status_is_retried(requests_mock, make_sink, token_endpoint, waits, status):
    upload = requests_mock.post(UPLOAD_URL, [{"status_code": status, "json": {"status": status}}, {"json": statuses(201, 201)}])

    results = upload_one(make_sink())

    assert upload.call_count == 2
    assert results[0].accepted == 2
    assert results[0].requests == 2
    assert len(waits) == 1
    assert 0.5 <= waits[0] <= 1.0


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"exc": requests.ConnectionError("reset")}, "ConnectionError"),
        ({"exc": requests.ReadTimeout("slow")}, "ReadTimeout"),
    ],
)
def test_network_error_is_retried(requests_mock, make_sink, token_endpoint, log_lines, failure, expected):
    upload = requests_mock.post(UPLOAD_URL, [failure, {"json": statuses(201, 201)}])

    results = upload_one(make_sink())

    assert upload.call_count == 2
    assert results[0].accepted == 2
    assert expected in log_lines.at("WARNING")[0]


WALL_CLOCK = 1_800_000_000.0


@pytest.mark.parametrize(
    ("header", "expected_wait"),
    [
        ("7", 7.0),
        ("120", 120.0),
        (email.utils.formatdate(WALL_CLOCK + 30, usegmt=True), 30.0),
    ],
)
def test_429_waits_retry_after(requests_mock, make_sink, token_endpoint, waits, header, expected_wait):
    requests_mock.post(
        UPLOAD_URL,
        [{"status_code": 429, "headers": {"Retry-After": header}, "json": {"status": 429}}, {"json": statuses(201, 201)}],
    )

    upload_one(make_sink(clock=lambda: WALL_CLOCK))

    assert waits == [expected_wait]


def test_429_without_retry_after_backs_off(requests_mock, make_sink, token_endpoint, waits):
    requests_mock.post(UPLOAD_URL, [{"status_code": 429, "json": {"status": 429}}] * 4 + [{"json": statuses(201, 201)}])

    upload_one(make_sink())

    assert len(waits) == 4
    for attempt, wait in enumerate(waits, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_retry_warning_names_status_attempt_wait_batch(requests_mock, make_sink, token_endpoint, log_lines):
    requests_mock.post(
        UPLOAD_URL,
        [{"status_code": 503, "headers": {"Retry-After": "2"}, "json": {"status": 503}}, {"json": statuses(201, 201)}],
    )

    upload_one(make_sink(), number=17)

    assert log_lines.at("WARNING") == ["batch 17: LinkedIn returned HTTP 503; attempt 1 of 8 failed, retrying in 2.0 s"]


@pytest.mark.parametrize(
    ("status", "body", "error_type", "phrases"),
    [
        (400, {"status": 400, "code": "INVALID_VALUE", "message": "x"}, LinkedInError, ["batch 3", "HTTP 400 INVALID_VALUE"]),
        (403, {"status": 403, "code": "ACCESS_DENIED"}, AccessDeniedError, [f"ad account {ACCOUNT_ID}", "VIEWER"]),
        (426, {"status": 426, "code": "NONEXISTENT_VERSION"}, VersionRetiredError, ["202611", "api.version"]),
    ],
)
def test_permanent_status_fails_at_once(requests_mock, make_sink, token_endpoint, waits, status, body, error_type, phrases):
    upload = requests_mock.post(UPLOAD_URL, status_code=status, json=body)

    with pytest.raises(error_type) as caught:
        upload_one(make_sink())

    assert caught.value.status == status
    for phrase in phrases:
        assert phrase in str(caught.value)
    assert caught.value.batch.number == 3
    assert upload.call_count == 1
    assert waits == []


def test_batch_error_leaves_out_linkedin_message(requests_mock, make_sink, token_endpoint):
    body = {"status": 400, "code": "INVALID_VALUE", "message": "idValue person@example.com is invalid"}
    requests_mock.post(UPLOAD_URL, status_code=400, json=body)

    with pytest.raises(LinkedInError) as caught:
        upload_one(make_sink())

    assert "person@example.com" not in str(caught.value)


def test_attempts_bound_fails_as_transient(requests_mock, make_sink, token_endpoint, waits):
    upload = requests_mock.post(UPLOAD_URL, status_code=503, json={"status": 503})

    with pytest.raises(DeliveryError) as caught:
        upload_one(make_sink(make_settings(max_attempts=4)))

    assert caught.value.transient is True
    assert caught.value.status == 503
    assert "gave up after 4 attempts" in str(caught.value)
    assert "api.max_attempts" in str(caught.value)
    assert upload.call_count == 4
    assert len(waits) == 3


def test_total_wait_bound_fails(requests_mock, make_sink, token_endpoint, waits):
    upload = requests_mock.post(UPLOAD_URL, status_code=429, headers={"Retry-After": "40"}, json={"status": 429})

    with pytest.raises(DeliveryError) as caught:
        upload_one(make_sink(make_settings(max_retry_wait_seconds=100)))

    assert "api.max_retry_wait_seconds" in str(caught.value)
    assert waits == [40.0, 40.0]
    assert upload.call_count == 3


@pytest.mark.parametrize(
    ("retry_after", "attempt", "waited", "expected"),
    [
        (None, 1, 0.0, "backoff"),
        (5.0, 1, 0.0, 5.0),
        (5.0, 3, 0.0, None),  # attempts used up
        (5.0, 1, 96.0, None),  # total wait would pass 100 s
        (4.0, 1, 96.0, 4.0),
    ],
)
def test_policy_next_wait(retry_after, attempt, waited, expected):
    policy = RetryPolicy(max_attempts=3, max_total_wait=100.0, rng=random.Random(1))
    wait = policy.next_wait(TransientError("HTTP 429", retry_after=retry_after), attempt=attempt, waited=waited)

    if expected == "backoff":
        assert 0.5 <= wait <= 1.0
    else:
        assert wait == expected


def test_backoff_is_capped():
    policy = RetryPolicy(max_attempts=20, max_total_wait=10_000.0, rng=random.Random(3))
    assert all(30.0 <= policy.backoff(attempt) <= 60.0 for attempt in range(8, 20))
