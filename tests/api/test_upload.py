"""Batch upload: per-element statuses, new-segment 404s, lazy reading, stop and failure."""

from __future__ import annotations

import threading

import orjson
import pytest

from linkedin_wire import SEGMENTS_URL, finder_page, make_settings, statuses, user_batch
from td_output_linkedin.errors import LinkedInError, SegmentError, VersionRetiredError
from td_output_linkedin.linkedin.ratelimit import RateLimiter
from td_output_linkedin.sink import Segment

UPLOAD_URL = f"{SEGMENTS_URL}/11/users"
EXISTING = Segment("11", "Newsletter subscribers", "USER", status="READY")
NOT_FOUND = {"status": 404, "code": "NOT_FOUND", "message": "segment not found"}


def answer_by_row(request, context):
    """Accept every element, except those whose row number (encoded in idValue) is a multiple of 7."""
    elements = orjson.loads(request.body)["elements"]
    rows = [int(element["userIds"][0]["idValue"], 16) for element in elements]
    return {"elements": [{"status": 400 if row % 7 == 0 else 201} for row in rows]}


def test_element_statuses_map_to_indexes(requests_mock, make_sink, token_endpoint):
    requests_mock.post(
        UPLOAD_URL,
        json={
            "elements": [
                {"status": 201},
                {"status": 400, "error": {"status": 400, "code": "INVALID_VALUE", "message": "bad idValue x@y.z"}},
                {"status": 201},
            ]
        },
    )

    [result] = list(make_sink().upload(EXISTING, [user_batch(5, 3, first_row=40)]))

    assert (result.sent, result.accepted, result.requests) == (True, 2, 1)
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert (failure.index, failure.status, failure.code) == (1, 400, "INVALID_VALUE")
    assert result.batch.rows[failure.index] == 41
    assert "x@y.z" not in failure.message


@pytest.mark.parametrize("answer", [statuses(201, 201), statuses(201, 201, 201, 201), {"elements": None}, {}])
def test_status_count_mismatch_fails(requests_mock, make_sink, token_endpoint, answer):
    requests_mock.post(UPLOAD_URL, json=answer)

    with pytest.raises(LinkedInError) as caught:
        list(make_sink().upload(EXISTING, [user_batch(9, 3)]))

    assert "batch 9" in str(caught.value)
    assert "for 3 elements" in str(caught.value)
    assert caught.value.batch.number == 9


def test_new_segment_404_twice_then_success(requests_mock, make_sink, token_endpoint, waits, log_lines):
    requests_mock.get(SEGMENTS_URL, json=finder_page([]))
    requests_mock.post(SEGMENTS_URL, status_code=201, headers={"x-restli-id": "11"})
    upload = requests_mock.post(
        UPLOAD_URL,
        [{"status_code": 404, "json": NOT_FOUND}, {"status_code": 404, "json": NOT_FOUND}, {"json": statuses(201)}],
    )
    sink = make_sink()
    created = sink.resolve_segment(create=True)

    [result] = list(sink.upload(created, [user_batch(1, 1)]))

    assert result.accepted == 1
    assert result.requests == 3
    assert upload.call_count == 3
    assert waits == [5.0, 5.0, 5.0]
    assert len([line for line in log_lines.at("WARNING") if "HTTP 404" in line]) == 2


def test_new_segment_404_bound_fails(requests_mock, make_sink, token_endpoint, waits):
    upload = requests_mock.post(UPLOAD_URL, status_code=404, json=NOT_FOUND)
    created = Segment("11", "Newsletter subscribers", "USER", created=True)
    settings = make_settings(new_segment_wait_seconds=5.0, new_segment_not_found_timeout_seconds=12.0)

    with pytest.raises(SegmentError) as caught:
        list(make_sink(settings).upload(created, [user_batch(1, 1)]))

    assert "api.new_segment_not_found_timeout_seconds" in str(caught.value)
    assert waits == [5.0, 5.0, 5.0, 2.0]
    assert upload.call_count == 4


def test_existing_segment_404_fails_at_once(requests_mock, make_sink, token_endpoint, waits):
    upload = requests_mock.post(UPLOAD_URL, status_code=404, json=NOT_FOUND)

    with pytest.raises(SegmentError) as caught:
        list(make_sink().upload(EXISTING, [user_batch(2, 1)]))

    assert "segment 11 not found" in str(caught.value)
    assert upload.call_count == 1
    assert waits == []


def test_every_batch_yields_one_result(requests_mock, make_sink, token_endpoint):
    requests_mock.post(UPLOAD_URL, json=answer_by_row)
    batches = [user_batch(number, 10, first_row=(number - 1) * 10 + 1) for number in range(1, 13)]

    results = list(make_sink(make_settings(max_in_flight=4)).upload(EXISTING, batches))

    assert sorted(result.batch.number for result in results) == list(range(1, 13))
    failed_rows = sorted(result.batch.rows[failure.index] for result in results for failure in result.failures)
    assert failed_rows == list(range(7, 121, 7))
    assert sum(result.accepted for result in results) == 120 - len(failed_rows)


@pytest.mark.parametrize("max_in_flight", [1, 2, 4])
def test_batches_read_lazily(requests_mock, make_sink, token_endpoint, max_in_flight):
    requests_mock.post(UPLOAD_URL, json=statuses(201))
    pulled = 0

    def batches():
        nonlocal pulled
        for number in range(1, 21):
            pulled += 1
            yield user_batch(number, 1)

    sink = make_sink(make_settings(max_in_flight=max_in_flight))
    ahead: list[int] = []
    for yielded, _ in enumerate(sink.upload(EXISTING, batches()), start=1):
        ahead.append(pulled - yielded)

    assert max(ahead) <= max_in_flight - 1
    assert pulled == 20


def test_stop_reads_no_more_batches(requests_mock, make_sink, token_endpoint):
    upload = requests_mock.post(UPLOAD_URL, json=statuses(201))
    stop = threading.Event()
    pulled: list[int] = []

    def batches():
        for number in range(1, 11):
            pulled.append(number)
            yield user_batch(number, 1)

    results = []
    for result in make_sink(make_settings(max_in_flight=1)).upload(EXISTING, batches(), stop):
        results.append(result)
        stop.set()

    assert [result.batch.number for result in results] == [1]
    assert pulled == [1]
    assert upload.call_count == 1


def test_stop_during_retry_wait_yields_unsent(requests_mock, make_sink, token_endpoint):
    stop = threading.Event()
    upload = requests_mock.post(UPLOAD_URL, status_code=503, json={"status": 503})

    def sleep_then_stop(seconds: float) -> None:
        stop.set()

    results = list(make_sink(sleep=sleep_then_stop).upload(EXISTING, [user_batch(4, 2)], stop))

    assert [(result.batch.number, result.sent, result.accepted, result.requests) for result in results] == [(4, False, 0, 1)]
    assert upload.call_count == 1


def test_stop_during_new_segment_wait_sends_nothing(requests_mock, make_sink, token_endpoint):
    stop = threading.Event()
    upload = requests_mock.post(UPLOAD_URL, json=statuses(201))
    created = Segment("11", "Newsletter subscribers", "USER", created=True)

    results = list(make_sink(sleep=lambda seconds: stop.set()).upload(created, [user_batch(1, 1)], stop))

    assert results == []
    assert upload.call_count == 0


def test_failure_raised_after_in_flight_results(requests_mock, make_sink, token_endpoint):
    def answer(request, context):
        if len(orjson.loads(request.body)["elements"]) == 2:
            context.status_code = 426
            return {"status": 426, "code": "NONEXISTENT_VERSION"}
        return statuses(201)

    requests_mock.post(UPLOAD_URL, json=answer)
    pulled: list[int] = []

    def batches():
        for number, size in [(1, 1), (2, 2), (3, 1), (4, 1), (5, 1), (6, 1)]:
            pulled.append(number)
            yield user_batch(number, size)

    results = []
    with pytest.raises(VersionRetiredError) as caught:
        for result in make_sink(make_settings(max_in_flight=3)).upload(EXISTING, batches()):
            results.append(result)

    assert caught.value.batch.number == 2
    assert sorted(result.batch.number for result in results) == [number for number in pulled if number != 2]
    # A batch still waiting for its rate-limit turn when batch 2 failed is yielded unsent.
    assert all(result.accepted == (1 if result.sent else 0) for result in results)
    assert [result.sent for result in results if result.batch.number == 1] == [True]
    assert len(pulled) <= 4


def test_oversized_batch_rejected(requests_mock, make_sink, token_endpoint):
    upload = requests_mock.post(UPLOAD_URL, json=statuses(201))

    with pytest.raises(LinkedInError) as caught:
        list(make_sink().upload(EXISTING, [user_batch(1, 5001)]))

    assert "at most 5000" in str(caught.value)
    assert upload.call_count == 0


def test_rate_limit_spaces_requests(requests_mock, make_sink, token_endpoint, waits):
    requests_mock.post(UPLOAD_URL, json=statuses(201))
    settings = make_settings(max_in_flight=1, users_requests_per_minute=60)

    list(make_sink(settings).upload(EXISTING, [user_batch(number, 1) for number in range(1, 5)]))

    assert len(waits) == 3
    assert all(wait == pytest.approx(60 / (60 * 0.98)) for wait in waits)


@pytest.mark.parametrize(("per_minute", "requests"), [(600, 600), (300, 300), (60, 1000)])
def test_limiter_keeps_every_window_under_limit(per_minute, requests):
    now = [0.0]
    limiter = RateLimiter(per_minute, monotonic=lambda: now[0])
    starts = []
    for _ in range(requests):
        now[0] += limiter.reserve()
        starts.append(now[0])

    window_counts = [sum(1 for other in starts if start <= other < start + 60.0) for start in starts]
    assert max(window_counts) <= per_minute
    assert max(window_counts) >= per_minute * 0.97 or requests < per_minute


def test_transient_element_status_resent(requests_mock, make_sink, token_endpoint):
    upload = requests_mock.post(
        UPLOAD_URL,
        [
            {"json": statuses(201, 503, 400, 429, 201)},
            {"json": statuses(201, 201)},
        ],
    )

    [result] = list(make_sink().upload(EXISTING, [user_batch(3, 5, first_row=10)]))

    assert upload.call_count == 2
    resent = orjson.loads(upload.request_history[1].body)["elements"]
    assert [element["userIds"][0]["idValue"] for element in resent] == [f"{11:064x}", f"{13:064x}"]
    assert result.accepted == 4
    assert [(failure.index, failure.status) for failure in result.failures] == [(2, 400)]
    assert result.batch.rows[result.failures[0].index] == 12
    assert result.requests == 2


def test_transient_element_status_bounded(requests_mock, make_sink, token_endpoint):
    settings = make_settings(max_attempts=3)
    upload = requests_mock.post(
        UPLOAD_URL,
        [
            {"json": statuses(201, 500)},
            {"json": statuses(500)},
            {"json": statuses(502)},
        ],
    )

    [result] = list(make_sink(settings).upload(EXISTING, [user_batch(4, 2, first_row=1)]))

    assert upload.call_count == 3
    assert result.accepted == 1
    assert [(failure.index, failure.status) for failure in result.failures] == [(1, 502)]
    assert result.batch.rows[1] == 2


def test_failed_resend_keeps_accepted_elements(requests_mock, make_sink, token_endpoint):
    settings = make_settings(max_attempts=2)
    upload = requests_mock.post(
        UPLOAD_URL,
        [
            {"json": statuses(201, 503, 400, 201)},
            {"status_code": 503, "json": {"status": 503, "message": "unavailable"}},
            {"status_code": 503, "json": {"status": 503, "message": "unavailable"}},
        ],
    )

    results = []
    with pytest.raises(LinkedInError) as caught:
        for result in make_sink(settings).upload(EXISTING, [user_batch(6, 4, first_row=20)]):
            results.append(result)

    assert upload.call_count == 3
    assert caught.value.batch.number == 6
    [partial] = results
    assert partial.sent is True
    assert partial.accepted == 2
    assert [(failure.index, failure.status) for failure in partial.failures] == [(1, 503), (2, 400)]
