"""The LinkedIn client against the sandbox over real HTTP on 127.0.0.1.

The sandbox and the sink share one fake clock: every wait the sink requests moves the clock
instead of sleeping, so the sandbox's new-segment window, token lifetimes and per-minute rate
windows pass at once while the requests themselves still travel over loopback.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from td_output_linkedin.config import ApiSettings, AuthSettings, Settings
from td_output_linkedin.errors import (
    AccessDeniedError,
    ReauthorizationRequired,
    SegmentError,
    VersionRetiredError,
)
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin import LinkedInSink, TokenGrant
from td_output_linkedin.sandbox import Sandbox, SandboxCredentials, SandboxOptions
from td_output_linkedin.sink import Batch

ACCOUNT_ID = "511910281"
NAME = "Webinar attendees"


class SharedClock:
    """Unix seconds that only the sink's waits move; thread-safe because workers wait in parallel."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))

    def warnings(self) -> list[str]:
        return [message for level, message in self.records if level == "WARNING"]


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture
def lines() -> Lines:
    return Lines()


@pytest.fixture
def start_sandbox(clock: SharedClock) -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        sandbox = Sandbox(SandboxOptions(**options), clock=clock)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def make_sink(clock: SharedClock, lines: Lines) -> Iterator[Callable[..., LinkedInSink]]:
    sinks: list[LinkedInSink] = []
    logger = logging.getLogger(f"tests.integration.{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(lines)

    def build(
        sandbox: Sandbox,
        credentials: SandboxCredentials,
        *,
        audience_type: str = "users",
        mode: str = "add",
        segment_name: str = NAME,
        on_tokens: Callable[[TokenGrant], None] | None = None,
        real_time: bool = False,
        **api: Any,
    ) -> LinkedInSink:
        api_values: dict[str, Any] = {
            "base_url": sandbox.base_url,
            "oauth_base_url": sandbox.base_url,
            "timeout_seconds": 10.0,
        }
        settings = Settings(
            ad_account_id=ACCOUNT_ID,
            segment_name=segment_name,
            audience_type=audience_type,
            mode=mode,
            auth=AuthSettings(
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                refresh_token=credentials.refresh_token,
            ),
            api=ApiSettings(**{**api_values, **api}),
        )
        if real_time:
            sink = LinkedInSink(settings, JobLog(logger), on_tokens=on_tokens)
        else:
            sink = LinkedInSink(
                settings,
                JobLog(logger),
                clock=clock,
                sleep=clock.sleep,
                monotonic=clock,
                random=random.Random(5),
                on_tokens=on_tokens,
            )
        sinks.append(sink)
        return sink

    yield build
    for sink in sinks:
        sink.close()


def email_hash(row: int) -> str:
    return hashlib.sha256(f"member{row}@example.com".encode()).hexdigest()


def user_batches(count: int, size: int, *, invalid_every: int = 0) -> Iterator[Batch]:
    """Yield ``count`` batches; the rows whose number is a multiple of ``invalid_every`` carry a bad idValue."""
    for number in range(1, count + 1):
        rows = list(range((number - 1) * size + 1, number * size + 1))
        elements = []
        for row in rows:
            bad = invalid_every and row % invalid_every == 0
            id_value = "not-a-sha256" if bad else email_hash(row)
            elements.append({"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": id_value}]})
        yield Batch(number=number, rows=rows, elements=elements)


def add_segment(sandbox: Sandbox, credentials: SandboxCredentials, name: str, type_: str = "USER") -> int:
    """Create a segment the way another tool would, and return its id."""
    response = requests.post(
        f"{sandbox.base_url}/rest/dmpSegments",
        json={
            "name": name,
            "type": type_,
            "account": f"urn:li:sponsoredAccount:{ACCOUNT_ID}",
            "sourcePlatform": "OTHER_TOOL",
            "destinations": [{"destination": "LINKEDIN"}],
        },
        headers={
            "Authorization": f"Bearer {credentials.access_token}",
            "LinkedIn-Version": "202611",
            "X-Restli-Protocol-Version": "2.0.0",
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return int(response.headers["x-restli-id"])


def statuses_seen(sandbox: Sandbox, endpoint: str) -> dict[str, int]:
    return sandbox.state(include_members=False)["requests"].get(endpoint, {})


def test_create_and_upload_users(start_sandbox, make_sink):
    sandbox = start_sandbox()
    sink = make_sink(sandbox, sandbox.authorize(), max_in_flight=4)

    created = sink.resolve_segment(create=True)
    results = list(sink.upload(created, user_batches(12, 50, invalid_every=17)))

    assert created.created is True
    assert sorted(result.batch.number for result in results) == list(range(1, 13))
    failed_rows = sorted(result.batch.rows[failure.index] for result in results for failure in result.failures)
    assert failed_rows == list(range(17, 601, 17))
    assert all(failure.code == "INVALID_VALUE" for result in results for failure in result.failures)
    assert sum(result.accepted for result in results) == 600 - len(failed_rows)
    assert len(sandbox.members(created.id)) == 600 - len(failed_rows)


def test_upload_companies(start_sandbox, make_sink):
    sandbox = start_sandbox()
    sink = make_sink(sandbox, sandbox.authorize(), audience_type="companies")
    elements = [
        {"action": "ADD", "companyName": "Example Corp", "companyWebsiteDomain": "example.com"},
        {"action": "ADD", "companyWebsiteDomain": "example.org"},
    ]

    created = sink.resolve_segment(create=True)
    [result] = list(sink.upload(created, [Batch(number=1, rows=[2, 3], elements=elements)]))

    assert created.type == "COMPANY"
    assert (result.accepted, result.failures) == (2, [])
    assert len(sandbox.members(created.id)) == 2


def test_new_segment_404_twice_then_success(start_sandbox, make_sink, clock, lines):
    sandbox = start_sandbox(new_segment_not_found_seconds=12.0)
    sink = make_sink(sandbox, sandbox.authorize(), new_segment_wait_seconds=5.0)

    created = sink.resolve_segment(create=True)
    [result] = list(sink.upload(created, user_batches(1, 3)))

    assert result.accepted == 3
    assert result.requests == 3
    assert statuses_seen(sandbox, "POST /rest/dmpSegments/{id}/users") == {"404": 2, "200": 1}
    assert len([line for line in lines.warnings() if "HTTP 404" in line]) == 2


def test_segment_on_third_page(start_sandbox, make_sink):
    sandbox = start_sandbox()
    credentials = sandbox.authorize()
    for number in range(230):
        add_segment(sandbox, credentials, f"Other list {number}")
    target = add_segment(sandbox, credentials, NAME)

    found = make_sink(sandbox, credentials).resolve_segment(create=False)

    assert found.id == str(target)
    assert found.created is False
    assert statuses_seen(sandbox, "GET /rest/dmpSegments") == {"200": 3}


def test_two_segments_of_one_name(start_sandbox, make_sink):
    sandbox = start_sandbox()
    credentials = sandbox.authorize()
    first = add_segment(sandbox, credentials, NAME)
    second = add_segment(sandbox, credentials, NAME)

    with pytest.raises(SegmentError) as caught:
        make_sink(sandbox, credentials).resolve_segment(create=True)

    assert f"ids {first}, {second}" in str(caught.value)


def test_segment_of_other_type(start_sandbox, make_sink):
    sandbox = start_sandbox()
    credentials = sandbox.authorize()
    other = add_segment(sandbox, credentials, NAME, "COMPANY")

    with pytest.raises(SegmentError) as caught:
        make_sink(sandbox, credentials).resolve_segment(create=True)

    assert f"type COMPANY (id {other})" in str(caught.value)
    assert len(sandbox.state(include_members=False)["segments"]) == 1


def test_segment_limit_reached(start_sandbox, make_sink):
    sandbox = start_sandbox(segment_limit=2)
    credentials = sandbox.authorize()
    add_segment(sandbox, credentials, "First")
    add_segment(sandbox, credentials, "Second")

    with pytest.raises(SegmentError) as caught:
        make_sink(sandbox, credentials).resolve_segment(create=True)

    assert caught.value.code == "SEGMENT_LIMIT_EXCEEDED"
    assert "maximum number of segments" in str(caught.value)


def test_retired_version(start_sandbox, make_sink):
    sandbox = start_sandbox(supported_versions=("202701", "202712"))

    with pytest.raises(VersionRetiredError) as caught:
        make_sink(sandbox, sandbox.authorize(), version="202611").resolve_segment(create=True)

    assert "202611" in str(caught.value)
    assert "api.version" in str(caught.value)


def test_viewer_role_denied(start_sandbox, make_sink):
    sandbox = start_sandbox(viewer_accounts=(ACCOUNT_ID,))

    with pytest.raises(AccessDeniedError) as caught:
        make_sink(sandbox, sandbox.authorize()).resolve_segment(create=True)

    assert f"ad account {ACCOUNT_ID}" in str(caught.value)
    assert "VIEWER" in str(caught.value)


def test_revoked_refresh_token(start_sandbox, make_sink):
    sandbox = start_sandbox()
    credentials = sandbox.authorize()
    sandbox.revoke_refresh_tokens()

    with pytest.raises(ReauthorizationRequired) as caught:
        make_sink(sandbox, credentials).resolve_segment(create=True)

    assert "authorize the connection again" in str(caught.value)
    assert statuses_seen(sandbox, "POST /oauth/v2/accessToken") == {"400": 1}


def test_expiring_tokens_refreshed_mid_job(start_sandbox, make_sink):
    sandbox = start_sandbox(access_token_lifetime_requests=4)
    grants: list[TokenGrant] = []
    sink = make_sink(sandbox, sandbox.authorize(), max_in_flight=3, on_tokens=grants.append)

    created = sink.resolve_segment(create=True)
    results = list(sink.upload(created, user_batches(10, 5)))

    assert sum(result.accepted for result in results) == 50
    assert len(grants) >= 3
    assert statuses_seen(sandbox, "POST /rest/dmpSegments/{id}/users").get("200") == 10


def test_faults_retried_until_delivered(start_sandbox, make_sink, lines):
    sandbox = start_sandbox(faults={"429": 0.1, "429_no_retry_after": 0.1, "503": 0.1, "drop": 0.05}, seed=11)
    sink = make_sink(sandbox, sandbox.authorize(), max_in_flight=4)

    created = sink.resolve_segment(create=True)
    results = list(sink.upload(created, user_batches(30, 20)))

    assert sorted(result.batch.number for result in results) == list(range(1, 31))
    assert all(result.sent for result in results)
    assert sum(result.accepted for result in results) == 600
    assert len(sandbox.members(created.id)) == 600
    retries = sum(result.requests - 1 for result in results)
    assert retries > 0
    assert len([line for line in lines.warnings() if "retrying in" in line]) == retries


@pytest.mark.parametrize(
    ("audience_type", "limit", "requests_sent"),
    [("users", 600, 700), ("companies", 300, 400), ("users", 120, 300)],
)
def test_rate_limit_never_hits_429(start_sandbox, make_sink, audience_type, limit, requests_sent):
    limits = {f"{audience_type}_requests_per_minute": limit}
    sandbox = start_sandbox(**limits)
    # One request in flight: parallel waits on the shared fake clock add up instead of overlapping,
    # which would bunch arrivals in fake time as real parallel waits do not.
    sink = make_sink(sandbox, sandbox.authorize(), audience_type=audience_type, max_in_flight=1, **limits)
    element = (
        {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": email_hash(1)}]}
        if audience_type == "users"
        else {"action": "ADD", "companyWebsiteDomain": "example.com"}
    )
    batches = (Batch(number=number, rows=[number], elements=[element]) for number in range(1, requests_sent + 1))

    created = sink.resolve_segment(create=True)
    results = list(sink.upload(created, batches))

    assert len(results) == requests_sent
    assert statuses_seen(sandbox, f"POST /rest/dmpSegments/{{id}}/{audience_type}") == {"200": requests_sent}


def test_check_against_sandbox(start_sandbox, make_sink):
    sandbox = start_sandbox()
    credentials = sandbox.authorize()
    existing = add_segment(sandbox, credentials, NAME)

    lines = make_sink(sandbox, credentials).check(create=False)

    assert [(line.name, line.ok) for line in lines] == [
        ("api version", True),
        ("access token", True),
        ("ad account", True),
        ("segment", True),
    ]
    assert f"id {existing}" in lines[3].detail
    assert statuses_seen(sandbox, "POST /rest/dmpSegments") == {"201": 1}


def test_stop_ends_real_retry_wait(start_sandbox, make_sink):
    """With the default sleep, a stop event set during a 60 s Retry-After ends the wait early."""
    sandbox = start_sandbox(faults={"429": 1.0}, retry_after_seconds=60)
    sink = make_sink(sandbox, sandbox.authorize(), real_time=True, new_segment_wait_seconds=0.0)
    stop = threading.Event()
    created = sink.resolve_segment(create=True)

    started = time.monotonic()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    results = list(sink.upload(created, user_batches(1, 2), stop))
    elapsed = time.monotonic() - started
    timer.join()

    assert [(result.batch.number, result.sent, result.requests) for result in results] == [(1, False, 1)]
    # A generous bound: the wait would last 60 s if the stop event did not end it.
    assert elapsed < 30
