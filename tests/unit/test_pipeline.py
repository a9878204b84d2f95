"""Pipeline tests with a stand-in builder and a sink that records what it receives."""

from __future__ import annotations

import threading

import pytest

from td_output_linkedin.errors import DeliveryError, InvalidRecordsError, JobInterrupted, SegmentError
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.pipeline import JobResult, Pipeline
from td_output_linkedin.records import Member, Rejection
from td_output_linkedin.sink import BatchResult, ElementFailure, Segment


def build(row_number, row):
    """Accepts rows whose "id" is a non-negative int; the id is the member's identity."""
    value = row.get("id")
    if not isinstance(value, int) or value < 0:
        return Rejection(row_number, "id", "not a valid id")
    return Member(row_number, {"action": "ADD", "id": value}, value, ())


class RecordingSink:
    def __init__(self, reject_ids=(), fail_on_batch=None):
        self.batches = []
        self.resolved = 0
        self.reject_ids = set(reject_ids)
        self.fail_on_batch = fail_on_batch

    def resolve_segment(self, *, create):
        self.resolved += 1
        return Segment(id="42", name="test", type="USER", status="READY", created=False)

    def upload(self, segment, batches, stop=None):
        for batch in batches:
            if batch.number == self.fail_on_batch:
                error = DeliveryError("retries ran out", transient=True, status=503)
                error.batch = batch
                raise error
            self.batches.append(batch)
            failures = [
                ElementFailure(index, 400, "INVALID_VALUE", "bad element")
                for index, element in enumerate(batch.elements)
                if element["id"] in self.reject_ids
            ]
            yield BatchResult(batch=batch, accepted=len(batch.elements) - len(failures), failures=failures)

    def close(self):
        pass


def rows_from(ids):
    return [(number, {"id": value}) for number, value in enumerate(ids, start=1)]


def make_pipeline(sink, *, stop_on_invalid, batch_size=3, stop=None):
    result = JobResult()
    pipeline = Pipeline(
        build=build,
        sink=sink,
        log=JobLog(),
        result=result,
        batch_size=batch_size,
        stop_on_invalid=stop_on_invalid,
        stop=stop,
    )
    return pipeline, result


def test_skip_mode_invalid_row_keeps_row_numbers():
    sink = RecordingSink()
    pipeline, result = make_pipeline(sink, stop_on_invalid=False)
    pipeline.run(rows_from([10, 11, "bad", 12, 13, 14, 15]), lambda: sink.resolve_segment(create=True))

    sent_rows = [row for batch in sink.batches for row in batch.rows]
    assert sent_rows == [1, 2, 4, 5, 6, 7]
    sent_ids = [element["id"] for batch in sink.batches for element in batch.elements]
    assert sent_ids == [10, 11, 12, 13, 14, 15]
    assert result.invalid == [{"row": 3, "column": "id", "reason": "not a valid id", "source": "input"}]
    assert result.rows_invalid == 1


def test_skip_mode_counts_add_up():
    sink = RecordingSink(reject_ids={12})
    pipeline, result = make_pipeline(sink, stop_on_invalid=False)
    pipeline.run(rows_from([10, 11, -1, 10, 12, 13, 11, 14]), lambda: sink.resolve_segment(create=True))

    assert result.rows_read == 8
    assert result.members_valid == 5
    assert result.rows_invalid == 1
    assert result.duplicates == 2
    assert result.rows_read == result.members_valid + result.rows_invalid + result.duplicates
    assert result.elements_sent == 5
    assert result.elements_accepted == 4
    assert result.elements_failed == 1
    assert result.elements_sent == result.elements_accepted + result.elements_failed
    assert result.elements_not_sent == 0
    linkedin_rows = [item["row"] for item in result.invalid if item["source"] == "linkedin"]
    assert linkedin_rows == [5]


def test_batches_respect_batch_size():
    sink = RecordingSink()
    pipeline, result = make_pipeline(sink, stop_on_invalid=False, batch_size=4)
    pipeline.run(rows_from(list(range(10))), lambda: sink.resolve_segment(create=True))
    assert [len(batch.elements) for batch in sink.batches] == [4, 4, 2]
    assert [batch.number for batch in sink.batches] == [1, 2, 3]
    assert result.batches == 3


def test_stop_mode_invalid_row_sends_nothing():
    sink = RecordingSink()
    pipeline, result = make_pipeline(sink, stop_on_invalid=True)
    with pytest.raises(InvalidRecordsError) as raised:
        pipeline.run(rows_from([1, 2, 3, 4, "bad", 6]), lambda: sink.resolve_segment(create=True))

    assert sink.batches == []
    assert sink.resolved == 0
    assert "row 5" in str(raised.value)
    assert "ignore_invalid_records" in str(raised.value)
    assert result.rows_read == 6
    assert result.elements_sent == 0


def test_stop_mode_valid_input_sends_all_in_order():
    sink = RecordingSink()
    pipeline, result = make_pipeline(sink, stop_on_invalid=True)
    pipeline.run(rows_from([5, 6, 7, 5, 8]), lambda: sink.resolve_segment(create=True))
    assert [element["id"] for batch in sink.batches for element in batch.elements] == [5, 6, 7, 8]
    assert [row for batch in sink.batches for row in batch.rows] == [1, 2, 3, 5]
    assert result.duplicates == 1
    assert result.succeeded is False  # set by plugin.run, not by the pipeline


def test_stop_mode_linkedin_rejection_stops_after_batch():
    sink = RecordingSink(reject_ids={4})
    pipeline, result = make_pipeline(sink, stop_on_invalid=True, batch_size=2)
    with pytest.raises(InvalidRecordsError) as raised:
        pipeline.run(rows_from([1, 2, 3, 4, 5, 6, 7, 8]), lambda: sink.resolve_segment(create=True))

    # Row 4 is in batch 2; no batch after it starts.
    assert [batch.number for batch in sink.batches] == [1, 2]
    assert "rows 4" in str(raised.value)
    assert result.elements_failed == 1
    assert result.elements_not_sent == 4


def test_delivery_error_reports_not_sent():
    sink = RecordingSink(fail_on_batch=2)
    pipeline, result = make_pipeline(sink, stop_on_invalid=True, batch_size=3)
    with pytest.raises(DeliveryError):
        pipeline.run(rows_from(list(range(9))), lambda: sink.resolve_segment(create=True))
    assert result.elements_accepted == 3
    assert result.elements_not_sent == 6


def test_interrupt_stops_reading_and_raises():
    class StopAfterFirstBatch(RecordingSink):
        def upload(self, segment, batches, stop=None):
            for batch_result in super().upload(segment, batches, stop):
                stop.signal_name = "SIGTERM"
                stop.exit_code = 143
                stop.set()
                yield batch_result

    sink = StopAfterFirstBatch()
    stop = threading.Event()
    pipeline, result = make_pipeline(sink, stop_on_invalid=False, batch_size=2, stop=stop)
    with pytest.raises(JobInterrupted) as raised:
        pipeline.run(rows_from(list(range(10_000))), lambda: sink.resolve_segment(create=True))
    assert raised.value.exit_code == 143
    assert len(sink.batches) == 1
    assert result.elements_accepted == 2


def test_skip_mode_all_rejected_fails():
    sink = RecordingSink(reject_ids={10, 11, 12})
    pipeline, result = make_pipeline(sink, stop_on_invalid=False)
    with pytest.raises(InvalidRecordsError) as raised:
        pipeline.run(rows_from([10, 11, 12]), lambda: sink.resolve_segment(create=True))
    assert "rejected all 3 elements" in str(raised.value)
    assert "row 1" in str(raised.value)
    assert result.elements_failed == 3
    assert result.elements_accepted == 0


def test_all_rejected_after_full_invalid_list():
    # 1,005 invalid rows fill the report's list of 1,000, then LinkedIn rejects every element.
    sink = RecordingSink(reject_ids={1, 2, 3})
    pipeline, result = make_pipeline(sink, stop_on_invalid=False)
    with pytest.raises(InvalidRecordsError) as raised:
        pipeline.run(rows_from(["bad"] * 1005 + [1, 2, 3]), lambda: sink.resolve_segment(create=True))
    assert "rejected all 3 elements" in str(raised.value)
    assert "row 1006" in str(raised.value)
    assert result.invalid_not_listed == 8


def test_not_sent_when_segment_fails():
    class FailingResolver(RecordingSink):
        def resolve_segment(self, *, create):
            raise SegmentError("segment 'x' of type USER not found")

    sink = FailingResolver()
    pipeline, result = make_pipeline(sink, stop_on_invalid=True)
    with pytest.raises(SegmentError):
        pipeline.run(rows_from([1, 2, 3, 4]), lambda: sink.resolve_segment(create=False))
    assert result.members_valid == 4
    assert result.elements_sent == 0
    assert result.elements_not_sent == 4
